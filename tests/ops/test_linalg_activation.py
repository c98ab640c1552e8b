"""matmul, dense and the activations: values and gradients."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match


def away_from_zero(rng, shape, margin=0.05):
    """Normal values pushed at least ``margin`` away from the ReLU kink at 0."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * margin


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 4), (4, 1))],
)
def test_matmul(rng, shape_a, shape_b):
    a = rng.standard_normal(shape_a)
    b = rng.standard_normal(shape_b)
    np.testing.assert_allclose(F.matmul(cm.Tensor(a), cm.Tensor(b)).data, a @ b)
    assert_gradients_match(F.matmul, [a, b], rng=rng)


def test_matmul_errors():
    with pytest.raises(cm.ShapeError, match=r"A's last axis \(4\) must equal B's"):
        F.matmul(cm.Tensor(np.ones((3, 4))), cm.Tensor(np.ones((3, 4))))
    with pytest.raises(cm.ShapeError, match="at least 2 axes"):
        F.matmul(cm.Tensor(np.ones(3)), cm.Tensor(np.ones((3, 4))))


def test_dense(rng):
    a, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(F.dense(cm.Tensor(a), cm.Tensor(w), cm.Tensor(b)).data, a @ w + b)
    assert_gradients_match(F.dense, [a, w, b], rng=rng)
    assert_gradients_match(F.dense, [a, w], rng=rng)


def test_dense_errors():
    a = cm.Tensor(np.ones((2, 4)))
    with pytest.raises(cm.ShapeError, match=r"W of shape \(n_in, n_out\) = \(4, n_out\)"):
        F.dense(a, cm.Tensor(np.ones((3, 2))))
    with pytest.raises(cm.ShapeError, match="flatten the volume first"):
        F.dense(cm.Tensor(np.ones((2, 2, 2, 1))), cm.Tensor(np.ones((4, 2))))
    with pytest.raises(cm.ShapeError, match=r"b of shape \(2,\)"):
        F.dense(a, cm.Tensor(np.ones((4, 2))), cm.Tensor(np.ones(3)))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize(
    ("op", "reference"),
    [
        (F.relu, lambda z: np.maximum(z, 0)),
        (lambda z: F.leaky_relu(z, 0.1), lambda z: np.where(z > 0, z, 0.1 * z)),
        (F.sigmoid, _sigmoid),
        (F.tanh, np.tanh),
        (F.softmax, lambda z: _softmax(z, -1)),
        (lambda z: F.softmax(z, axis=0), lambda z: _softmax(z, 0)),
        (F.log_softmax, lambda z: np.log(_softmax(z, -1))),
    ],
    ids=["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "softmax-axis0", "log_softmax"],
)
def test_activation(rng, op, reference):
    z = away_from_zero(rng, (4, 6))
    np.testing.assert_allclose(op(cm.Tensor(z)).data, reference(z), rtol=1e-12)
    assert_gradients_match(op, [z], rng=rng)


def test_activations_are_stable_for_large_inputs():
    z = cm.Tensor(np.array([[-1000.0, 0.0, 1000.0]], dtype=np.float32))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(F.sigmoid(z).data, [[0.0, 0.5, 1.0]])
        np.testing.assert_allclose(F.softmax(z).data, [[0.0, 0.0, 1.0]])
        np.testing.assert_allclose(F.log_softmax(z).data, [[-2000.0, -1000.0, 0.0]])


def test_relu_gradient_at_the_kink_is_zero():
    z = cm.Tensor([0.0, 1.0], requires_grad=True)
    F.relu(z).sum().backward()
    np.testing.assert_array_equal(z.grad, [0.0, 1.0])


def test_activation_argument_errors():
    z = cm.Tensor(np.ones((2, 3)))
    with pytest.raises(cm.InvalidArgumentError, match="alpha must be >= 0, got -1"):
        F.leaky_relu(z, -1)
    with pytest.raises(cm.InvalidArgumentError, match="axis 2 is out of range"):
        F.softmax(z, axis=2)
