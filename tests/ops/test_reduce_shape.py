"""Reductions and shape ops: values against NumPy, gradients against finite differences."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match


def distinct(rng, shape):
    """Values at least 0.01 apart, so that max has no ties within eps."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 + rng.uniform(-1e-3, 1e-3, size)).reshape(shape)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(
    ("op", "reference"),
    [(F.sum, np.sum), (F.mean, np.mean), (F.max, np.max)],
    ids=["sum", "mean", "max"],
)
def test_reductions(rng, op, reference, axis, keepdims):
    a = distinct(rng, (2, 3, 4))
    out = op(cm.Tensor(a), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, reference(a, axis=axis, keepdims=keepdims))
    assert_gradients_match(lambda x: op(x, axis=axis, keepdims=keepdims), [a], rng=rng)


def test_max_shares_the_gradient_between_ties():
    x = cm.Tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])


def test_reduction_axis_errors():
    x = cm.Tensor(np.ones((2, 3)))
    with pytest.raises(cm.InvalidArgumentError, match="axis 2 is out of range"):
        F.sum(x, axis=2)
    with pytest.raises(cm.InvalidArgumentError, match="repeated axis"):
        F.mean(x, axis=(1, -1))


def test_reshape_transpose_flatten(rng):
    a = rng.standard_normal((2, 3, 4, 5))
    assert_gradients_match(lambda x: F.reshape(x, (6, -1)), [a], rng=rng)
    assert_gradients_match(lambda x: F.transpose(x, (0, 3, 1, 2)), [a], rng=rng)
    flat = F.flatten(cm.Tensor(a))
    assert flat.shape == (2, 60)
    # channels-last flattening: index (h*n_W + w)*n_C + c
    assert flat.data[1, (2 * 4 + 3) * 5 + 4] == a[1, 2, 3, 4]
    with pytest.raises(cm.ShapeError, match=r"cannot reshape a tensor of shape \(2, 3, 4, 5\)"):
        F.reshape(cm.Tensor(a), (7, -1))
    with pytest.raises(cm.InvalidArgumentError, match="not a permutation"):
        F.transpose(cm.Tensor(a), (0, 1, 1, 2))


def test_pad_values_and_gradient(rng):
    a = rng.standard_normal((2, 3, 3, 2))
    widths = [(0, 0), (1, 2), (2, 0), (0, 0)]
    out = F.pad(cm.Tensor(a), widths)
    np.testing.assert_array_equal(out.data, np.pad(a, widths))
    assert_gradients_match(lambda x: F.pad(x, widths), [a], rng=rng)
    with pytest.raises(cm.ShapeError, match="one \\(before, after\\) pair per axis"):
        F.pad(cm.Tensor(a), [(1, 1)])
    with pytest.raises(cm.InvalidArgumentError, match=">= 0"):
        F.pad(cm.Tensor(a), [(0, 0), (-1, 0), (0, 0), (0, 0)])


@pytest.mark.parametrize(
    ("shape", "index"),
    [
        ((3, 4), (slice(None), 1)),
        ((3, 4), (Ellipsis, slice(1, None, 2))),
        ((3, 4), np.array([0, 2, 2, 1])),
        ((2, 3, 4), (np.array([1, 0]), slice(None), np.array([3, 3]))),
        ((3, 4), np.array([[True, False, True, True], [False, True, False, True], [True] * 4])),
    ],
    ids=["int", "strided-slice", "repeated-advanced", "mixed-advanced", "boolean-mask"],
)
def test_getitem(rng, shape, index):
    a = rng.standard_normal(shape)
    np.testing.assert_array_equal(cm.Tensor(a)[index].data, a[index])
    assert_gradients_match(lambda x: x[index], [a], rng=rng)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(rng, axis):
    shapes = [(2, 3, 4, 5)] * 3
    arrays = []
    for k, s in enumerate(shapes):
        s = list(s)
        s[axis] += k
        arrays.append(rng.standard_normal(s))
    out = F.concat([cm.Tensor(x) for x in arrays], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis=axis))
    assert_gradients_match(lambda *xs: F.concat(xs, axis=axis), arrays, rng=rng)


def test_concat_errors():
    a = cm.Tensor(np.ones((1, 2, 2, 3)))
    b = cm.Tensor(np.ones((1, 3, 2, 3)))
    with pytest.raises(cm.ShapeError, match=r"tensor 1 has shape \(1, 3, 2, 3\)"):
        F.concat([a, b], axis=-1)
    with pytest.raises(cm.InvalidArgumentError):
        F.concat([], axis=0)


def test_transpose_and_pad_refuse_malformed_arguments():
    x = cm.Tensor(np.ones((2, 3)))
    for axes in [(0, 3), (2, 1), (0,)]:
        with pytest.raises(cm.InvalidArgumentError, match="not a permutation"):
            F.transpose(x, axes)
    with pytest.raises(cm.InvalidArgumentError, match="sequence of"):
        F.pad(x, 2)
    with pytest.raises(cm.InvalidArgumentError, match=r"\(before, after\) pairs"):
        F.pad(x, [(1, 1, 1), (0, 0)])


@pytest.mark.parametrize(("n_C", "groups"), [(6, 2), (6, 3), (12, 4), (5, 1), (4, 4)])
def test_channel_shuffle(rng, n_C, groups):
    a = rng.standard_normal((2, 3, 2, n_C))
    z = F.channel_shuffle(cm.Tensor(a), groups)
    per_group = n_C // groups
    for k in range(groups):  # channel j of group k lands at j*g + k
        for j in range(per_group):
            np.testing.assert_array_equal(z.data[..., j * groups + k], a[..., k * per_group + j])
    assert_gradients_match(lambda x: F.channel_shuffle(x, groups), [a], rng=rng)


@pytest.mark.parametrize("sections", [2, [1, 4, 1], [0, 6], 3])
def test_split_along_the_channels(rng, sections):
    a = rng.standard_normal((2, 3, 2, 6))
    pieces = F.split(cm.Tensor(a), sections)
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces], axis=-1), a)
    weights = [rng.standard_normal(p.shape) for p in pieces]

    def weighted(x):  # every piece used, each with its own weight, so each gradient shows
        return F.concat([p * w for p, w in zip(F.split(x, sections), weights, strict=True)])

    assert_gradients_match(weighted, [a], rng=rng)


def test_split_along_another_axis_and_its_errors(rng):
    a = rng.standard_normal((4, 3))
    top, bottom = F.split(cm.Tensor(a), [1, 3], axis=0)
    np.testing.assert_array_equal(top.data, a[:1])
    np.testing.assert_array_equal(bottom.data, a[1:])
    with pytest.raises(cm.ShapeError, match="3 values along axis 1 do not cut into 2 equal"):
        F.split(cm.Tensor(a), 2)
    with pytest.raises(cm.ShapeError, match=r"sizes \[1, 1\] must be >= 0 and add up to 3"):
        F.split(cm.Tensor(a), [1, 1])
    with pytest.raises(cm.InvalidArgumentError, match="axis 2 is out of range"):
        F.split(cm.Tensor(a), 1, axis=2)
    with pytest.raises(cm.ShapeError, match=r"n_C = 3 \(the last axis of \(4, 3\)\) must be a mu"):
        F.channel_shuffle(cm.Tensor(a), 2)
