"""conv2d against the loop reference on a table of cases, and its gradients."""

import itertools

import numpy as np
import pytest
from reference import conv2d_loops

import convmath as cm
import convmath.functional as F
from convmath.gradcheck import assert_gradients_match
from convmath.shapes import pair, resolve_padding

FILTER_SIZES = [1, 2, 3, 5]
PADDINGS = [0, 1, 2, "same", "valid"]
STRIDES = [1, 2, 3]
DILATIONS = [1, 2]
GROUPINGS = ["single", "depthwise"]


def conv_case(rng, f, padding, stride, dilation, grouping, m=2, n_h=9, n_w=7):
    n_c_prev = 3
    groups = 1 if grouping == "single" else n_c_prev
    n_c = 4 if grouping == "single" else 2 * n_c_prev
    a = rng.standard_normal((m, n_h, n_w, n_c_prev))
    w = rng.standard_normal((f, f, n_c_prev // groups, n_c))
    b = rng.standard_normal(n_c)
    return a, w, b, groups


def fits(n, f, padding, stride, dilation):
    if padding == "same":
        return True
    p = 0 if padding == "valid" else padding
    return n + 2 * p - dilation * (f - 1) - 1 >= 0


CASES = [
    case
    for case in itertools.product(FILTER_SIZES, PADDINGS, STRIDES, DILATIONS, GROUPINGS)
    if fits(7, case[0], case[1], case[2], case[3])
]


@pytest.mark.parametrize(("f", "padding", "stride", "dilation", "grouping"), CASES)
def test_conv2d_matches_loops(rng, f, padding, stride, dilation, grouping):
    a, w, b, groups = conv_case(rng, f, padding, stride, dilation, grouping)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    z = F.conv2d(cm.Tensor(a), cm.Tensor(w), cm.Tensor(b), **options)
    sides = resolve_padding(padding, a.shape[1:3], (f, f), pair(stride, "s"), pair(dilation, "d"))
    expected = conv2d_loops(a, w, b, pair(stride, "s"), sides, pair(dilation, "d"), groups)
    assert z.shape == expected.shape
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-12)


# Gradient checks on a spread of the table (every f, p, s, d and grouping appears).
GRAD_CASES = CASES[::7]


@pytest.mark.parametrize(("f", "padding", "stride", "dilation", "grouping"), GRAD_CASES)
def test_conv2d_gradients(rng, f, padding, stride, dilation, grouping):
    a, w, b, groups = conv_case(rng, f, padding, stride, dilation, grouping, m=1)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    assert_gradients_match(lambda x, k, c: F.conv2d(x, k, c, **options), [a, w, b], rng=rng)


@pytest.mark.parametrize(
    ("a_shape", "w_shape", "options"),
    [
        ((1, 5, 5, 1), (5, 5, 1, 1), {}),  # f = n_H: one output value
        ((1, 4, 6, 1), (3, 3, 1, 1), {"stride": (1, 2), "padding": (0, 1)}),  # non-square
        ((3, 6, 5, 2), (2, 3, 2, 3), {"padding": ((1, 0), (0, 2))}),  # rectangular f, asym pad
        ((2, 8, 8, 4), (3, 3, 2, 6), {"groups": 2, "padding": "same", "stride": 2}),
        ((1, 6, 6, 1), (4, 4, 1, 1), {"padding": "same"}),  # even f: extra pad bottom/right
    ],
    ids=["f-equals-n", "non-square", "rect-filter", "groups-2-same-s2", "even-f-same"],
)
def test_conv2d_special_cases(rng, a_shape, w_shape, options):
    a = rng.standard_normal(a_shape)
    w = rng.standard_normal(w_shape)
    groups = options.get("groups", 1)
    z = F.conv2d(cm.Tensor(a), cm.Tensor(w), **options)
    stride = pair(options.get("stride", 1), "s")
    sides = resolve_padding(options.get("padding", 0), a_shape[1:3], w_shape[:2], stride, (1, 1))
    expected = conv2d_loops(a, w, None, stride, sides, (1, 1), groups)
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-12)
    assert_gradients_match(lambda x, k: F.conv2d(x, k, **options), [a, w], rng=rng)


def test_same_padding_keeps_the_size_and_puts_the_extra_row_last():
    a = np.arange(36.0).reshape(1, 6, 6, 1)
    w = np.zeros((2, 2, 1, 1))
    w[0, 0] = 1.0  # picks the top-left element of each window
    z = F.conv2d(cm.Tensor(a), cm.Tensor(w), padding="same")
    assert z.shape == (1, 6, 6, 1)
    # total padding 1 goes after: the window at (h, w) starts at (h, w), so Z = A
    np.testing.assert_array_equal(z.data, a)
    z2 = F.conv2d(cm.Tensor(a), cm.Tensor(np.ones((3, 3, 1, 1))), padding="same", stride=2)
    assert z2.shape == (1, 3, 3, 1)  # ceil(6 / 2)


def test_conv2d_in_float32_is_close_to_float64(rng):
    a = rng.standard_normal((4, 10, 10, 3))
    w = rng.standard_normal((3, 3, 3, 8))
    z64 = F.conv2d(cm.Tensor(a), cm.Tensor(w), padding=1).data
    z32 = F.conv2d(cm.Tensor(a.astype(np.float32)), cm.Tensor(w.astype(np.float32)), padding=1)
    assert z32.dtype == np.float32
    np.testing.assert_allclose(z32.data, z64, rtol=1e-4, atol=1e-4)


def test_input_gradient_not_needed_skips_its_work(rng, monkeypatch):
    from convmath.ops.im2col import Im2col

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
    import convmath.ops.conv as conv_module

    a = cm.Tensor(rng.standard_normal((4, 6, 6, 2)))
    w = cm.Tensor(rng.standard_normal((3, 3, 2, 3)), requires_grad=True)
    small = F.conv2d(a, w, padding=1)
    assert small._op.kept_cols is not None
    assert small._op.a_prev is None
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 1000)  # this one needs 4*36*18*8 bytes
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
        return F.conv2d(x, k, c, stride=stride, padding=1, activation="relu")

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


class TestConv2dErrors:
    def test_unknown_activation(self):
        with pytest.raises(cm.InvalidArgumentError, match="activation must be None or 'relu'"):
            F.conv2d(
                cm.Tensor(np.ones((1, 4, 4, 1))),
                cm.Tensor(np.ones((3, 3, 1, 1))),
                activation="tanh",
            )

    def test_channel_mismatch_quotes_both_shapes(self):
        a = cm.Tensor(np.ones((64, 14, 14, 3)))
        w = cm.Tensor(np.ones((5, 5, 6, 16)))
        with pytest.raises(cm.ShapeError, match=r"n_C_prev = 6.*\(64, 14, 14, 3\)"):
            F.conv2d(a, w)

    def test_three_dimensional_input(self):
        with pytest.raises(cm.ShapeError, match=r"got \(28, 28, 1\) \(3 axes\)"):
            F.conv2d(cm.Tensor(np.ones((28, 28, 1))), cm.Tensor(np.ones((3, 3, 1, 2))))

    def test_kernel_larger_than_padded_input(self):
        with pytest.raises(cm.ShapeError, match=r"n_H_prev=4, f=7, p=1, s=1"):
            F.conv2d(cm.Tensor(np.ones((1, 4, 4, 1))), cm.Tensor(np.ones((7, 7, 1, 1))), padding=1)

    def test_bad_bias_groups_stride_padding(self):
        a = cm.Tensor(np.ones((1, 6, 6, 4)))
        w = cm.Tensor(np.ones((3, 3, 4, 2)))
        with pytest.raises(cm.ShapeError, match=r"b of shape \(2,\)"):
            F.conv2d(a, w, cm.Tensor(np.ones(3)))
        with pytest.raises(cm.ShapeError, match="divisible by 3"):
            F.conv2d(a, cm.Tensor(np.ones((3, 3, 2, 3))), groups=3)
        with pytest.raises(cm.InvalidArgumentError, match="stride must be >= 1"):
            F.conv2d(a, w, stride=0)
        with pytest.raises(cm.InvalidArgumentError, match="'full'"):
            F.conv2d(a, w, padding="full")
        with pytest.raises(cm.InvalidArgumentError, match="groups must be a positive int"):
            F.conv2d(a, w, groups=0)


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
    import convmath.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "DUAL_SIZE_LIMIT", limit)
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", keep_cols)
    a, w = rng.standard_normal(a_shape), rng.standard_normal(w_shape)
    assert_gradients_match(lambda x, k: F.conv2d(x, k, **options), [a, w], rng=rng)
