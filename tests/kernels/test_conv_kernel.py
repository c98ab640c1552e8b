"""The convolution kernel's own choices: kept matrices, the dual convolution, CONV+ReLU fused."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match
from convmath.kernels import rules
from convmath.kernels.conv import conv2d_relu


def test_input_gradient_not_needed_skips_its_work(rng, monkeypatch):
    from convmath.kernels.im2col import Im2col

    def no_col2im(*args):
        raise AssertionError("col2im ran for a dA_prev nobody needs")

    monkeypatch.setattr(Im2col, "gradient", no_col2im)
    a = cm.Tensor(rng.standard_normal((2, 5, 5, 1)))
    w = cm.Tensor(rng.standard_normal((3, 3, 1, 2)), requires_grad=True)
    z = F.conv2d(a, w)
    z.sum().backward()
    assert a.grad is None
    assert w.grad.shape == (3, 3, 1, 2)


def test_filter_gradient_not_needed_keeps_no_input(rng):
    a = cm.Tensor(rng.standard_normal((2, 5, 5, 3)), requires_grad=True)
    z = F.conv2d(a, cm.Tensor(rng.standard_normal((3, 3, 3, 2))))
    assert z._op.a_prev is None  # A_prev (or cols) is kept only for dW
    assert z._op.kept_cols is None
    z.sum().backward()
    assert a.grad.shape == (2, 5, 5, 3)


def test_only_small_im2col_matrices_are_kept_for_backward(rng, monkeypatch):
    a = cm.Tensor(rng.standard_normal((4, 6, 6, 2)))
    w = cm.Tensor(rng.standard_normal((3, 3, 2, 3)), requires_grad=True)
    small = F.conv2d(a, w, padding=1)
    assert small._op.kept_cols is not None
    assert small._op.a_prev is None
    monkeypatch.setattr(rules, "KEEP_COLS_BYTES", 1000)  # this one needs 4*36*18*8 bytes
    large = F.conv2d(a, w, padding=1)
    assert large._op.kept_cols is None
    assert large._op.a_prev is a.data
    small.backward(np.ones(small.shape))
    kept_grad = w.grad.copy()
    w.grad = None
    large.backward(np.ones(large.shape))
    np.testing.assert_allclose(w.grad, kept_grad, rtol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_with_relu_is_relu_of_conv(rng, stride):
    a, w, b = (rng.standard_normal(shape) for shape in [(3, 7, 7, 2), (3, 3, 2, 5), (5,)])

    def fused(x, k, c):
        return conv2d_relu(x, k, c, stride=stride, padding=1)

    def separate(x, k, c):
        return F.relu(F.conv2d(x, k, c, stride=stride, padding=1))

    tensors = [cm.Tensor(v) for v in (a, w, b)]
    np.testing.assert_array_equal(fused(*tensors).data, separate(*tensors).data)
    assert_gradients_match(fused, [a, w, b], rng=rng)
    got, want = ([cm.Tensor(v, requires_grad=True) for v in (a, w, b)] for _ in range(2))
    dz = rng.standard_normal(fused(*tensors).shape)
    fused(*got).backward(dz)
    separate(*want).backward(dz)
    for g, h in zip(got, want, strict=True):
        np.testing.assert_allclose(g.grad, h.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keep_cols", [0, 8 << 20])  # rebuild cols in backward, or keep them
@pytest.mark.parametrize("limit", [0, 1e9])  # col2im offset by offset, or always the dual conv
@pytest.mark.parametrize(
    ("a_shape", "w_shape", "options"),
    [
        ((2, 7, 6, 4), (3, 3, 2, 6), {"padding": 1, "groups": 2}),
        ((2, 8, 8, 3), (5, 5, 3, 2), {"padding": 0}),
        ((1, 9, 9, 2), (3, 3, 2, 4), {"padding": 2, "dilation": 2}),
        ((2, 6, 6, 2), (2, 2, 2, 3), {"padding": "same"}),
    ],
)
def test_both_input_gradient_algorithms(
    rng, monkeypatch, keep_cols, limit, a_shape, w_shape, options
):
    monkeypatch.setattr(rules, "DUAL_SIZE_LIMIT", limit)
    monkeypatch.setattr(rules, "KEEP_COLS_BYTES", keep_cols)
    a, w = rng.standard_normal(a_shape), rng.standard_normal(w_shape)
    assert_gradients_match(lambda x, k: F.conv2d(x, k, **options), [a, w], rng=rng)
