"""conv2d against the loop reference on a table of cases, and its gradients."""

import numpy as np
import pytest
from cases import CONV_CASES, conv_case
from reference import conv2d_loops

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match
from convmath.shapes import pair, resolve_padding

CASES = CONV_CASES


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


class TestConv2dErrors:
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


def test_conv2d_on_an_empty_batch(rng):
    a = cm.Tensor(np.zeros((0, 5, 5, 2)), requires_grad=True)
    w = cm.Tensor(rng.standard_normal((3, 3, 1, 6)), requires_grad=True)
    z = F.conv2d(a, w, padding=1, groups=2)
    assert z.shape == (0, 5, 5, 6)
    z.sum().backward()
    assert a.grad.shape == (0, 5, 5, 2)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 3, 1, 6)))
