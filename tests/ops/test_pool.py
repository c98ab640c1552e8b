"""Pooling against the loop reference, and its gradients."""

import itertools

import numpy as np
import pytest
from cases import POOL_CASES, distinct
from reference import adaptive_avg_pool2d_loops, pool2d_loops

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match


@pytest.mark.parametrize(("f", "stride", "padding"), POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_loops_and_gradients(rng, kind, f, stride, padding):
    a = distinct(rng, (2, 7, 6, 3))
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    z = op(cm.Tensor(a), f, stride, padding)
    s = f if stride is None else stride
    expected = pool2d_loops(a, (f, f), (s, s), (padding, padding), kind)
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-12)
    assert_gradients_match(lambda x: op(x, f, stride, padding), [a], rng=rng)


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_padding_counts(rng, count_include_pad):
    a = rng.standard_normal((1, 5, 5, 2))
    z = F.avg_pool2d(cm.Tensor(a), 3, 2, 1, count_include_pad=count_include_pad)
    expected = pool2d_loops(a, (3, 3), (2, 2), (1, 1), "avg", count_include_pad)
    np.testing.assert_allclose(z.data, expected, rtol=1e-12)
    assert_gradients_match(
        lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=count_include_pad), [a], rng=rng
    )


def test_rectangular_window_and_non_square_input(rng):
    a = distinct(rng, (1, 6, 9, 2))
    z = F.max_pool2d(cm.Tensor(a), (2, 3), (2, 3))
    np.testing.assert_allclose(z.data, pool2d_loops(a, (2, 3), (2, 3), (0, 0), "max"))
    assert_gradients_match(lambda x: F.max_pool2d(x, (2, 3)), [a], rng=rng)


def test_max_pool_gives_a_tie_to_the_first_maximum():
    a = cm.Tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    F.max_pool2d(a, 2).backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(a.grad[0, :, :, 0], [[5.0, 0.0], [0.0, 0.0]])


def test_global_avg_pool(rng):
    a = rng.standard_normal((3, 4, 5, 6))
    z = F.global_avg_pool2d(cm.Tensor(a))
    assert z.shape == (3, 6)
    np.testing.assert_allclose(z.data, a.mean(axis=(1, 2)))
    assert_gradients_match(F.global_avg_pool2d, [a], rng=rng)


def test_pooling_errors():
    a = cm.Tensor(np.ones((1, 4, 4, 1)))
    with pytest.raises(cm.InvalidArgumentError, match="at most half the window"):
        F.max_pool2d(a, 2, padding=2)
    with pytest.raises(cm.ShapeError, match=r"n_H_prev=4, f=5, p=0, s=5"):
        F.avg_pool2d(a, 5)
    with pytest.raises(cm.ShapeError, match="3 axes"):
        F.max_pool2d(cm.Tensor(np.ones((4, 4, 1))), 2)
    with pytest.raises(cm.ShapeError, match=r"\(m, n_H, n_W, n_C\)"):
        F.global_avg_pool2d(cm.Tensor(np.ones((4, 4))))


def _first_max_gradient_loops(a, f, s, p, dz):
    """dA of max pooling by loops over windows: each window's dZ goes to its first maximum."""
    m, n_H, n_W, n_C = dz.shape
    a_pad = np.pad(a, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-np.inf)
    da_pad = np.zeros_like(a_pad)
    for i, h, w, c in itertools.product(range(m), range(n_H), range(n_W), range(n_C)):
        window = a_pad[i, h * s : h * s + f[0], w * s : w * s + f[1], c]
        u, v = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first maximum
        da_pad[i, h * s + u, w * s + v, c] += dz[i, h, w, c]
    return da_pad[:, p : p + a.shape[1], p : p + a.shape[2]]


@pytest.mark.parametrize(
    ("f", "s", "p"), [((3, 3), 1, 1), ((2, 2), 2, 0), ((3, 2), 2, 1), ((2, 3), 1, 0)]
)
def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order(rng, f, s, p):
    a = rng.integers(0, 3, size=(2, 6, 7, 2)).astype(np.float64)  # many ties
    x = cm.Tensor(a, requires_grad=True)
    z = F.max_pool2d(x, f, s, p)
    dz = rng.standard_normal(z.shape)
    z.backward(dz)
    np.testing.assert_allclose(x.grad, _first_max_gradient_loops(a, f, s, p, dz), rtol=1e-12)


def test_max_pool_propagates_nan_like_pytorch():
    a = cm.Tensor(np.array([1.0, np.nan, 3.0, 2.0]).reshape(1, 1, 4, 1))
    z = F.max_pool2d(a, (1, 2))
    assert np.isnan(z.data[0, 0, 0, 0])
    assert z.data[0, 0, 1, 0] == 3.0
    with cm.strict_mode(), pytest.raises(cm.NonFiniteError, match="MaxPool2D"):
        F.max_pool2d(a, (1, 2))


@pytest.mark.parametrize(
    ("shape", "output_size"),
    [
        ((2, 7, 6, 3), (3, 4)),  # overlapping bins along both axes
        ((2, 6, 6, 2), (3, 2)),  # bins that tile: average pooling of f = s = n/o
        ((1, 5, 7, 2), (1, 1)),  # the global average
        ((2, 3, 2, 2), (5, 4)),  # more bins than positions: positions repeat
        ((1, 1, 1, 4), (7, 7)),  # a 1x1 map spread over VGG's 7x7
        ((3, 9, 4, 1), (2, 4)),  # n_C = 1, o_W = n_W
    ],
)
def test_adaptive_avg_pool_matches_loops_and_gradients(rng, shape, output_size):
    a = rng.standard_normal(shape)
    z = F.adaptive_avg_pool2d(cm.Tensor(a), output_size)
    np.testing.assert_allclose(z.data, adaptive_avg_pool2d_loops(a, output_size), rtol=1e-13)
    assert_gradients_match(lambda x: F.adaptive_avg_pool2d(x, output_size), [a], rng=rng)


def test_adaptive_avg_pool_of_a_tiling_size_is_average_pooling(rng):
    a = rng.standard_normal((2, 8, 6, 3))
    np.testing.assert_allclose(
        F.adaptive_avg_pool2d(cm.Tensor(a), (4, 2)).data,
        F.avg_pool2d(cm.Tensor(a), (2, 3)).data,
        rtol=1e-13,
    )
    assert F.adaptive_avg_pool2d(cm.Tensor(a.astype(np.float32)), 3).dtype == np.float32


def test_global_average_keeps_its_dims_on_request(rng):
    a = rng.standard_normal((2, 4, 5, 3))
    z = F.global_avg_pool2d(cm.Tensor(a), keepdims=True)
    np.testing.assert_allclose(z.data, a.mean(axis=(1, 2), keepdims=True), rtol=1e-14)
    assert_gradients_match(lambda x: F.global_avg_pool2d(x, keepdims=True), [a], rng=rng)


def test_adaptive_avg_pool_errors():
    with pytest.raises(cm.ShapeError, match=r"expects A of shape \(m, n_H, n_W, n_C\)"):
        F.adaptive_avg_pool2d(cm.Tensor(np.ones((2, 3))), 1)
    with pytest.raises(cm.InvalidArgumentError, match="adaptive_avg_pool2d size"):
        F.adaptive_avg_pool2d(cm.Tensor(np.ones((1, 2, 2, 1))), (0, 1))
