"""matmul, dense and the activations: values and gradients."""

import math

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
        (F.relu6, lambda z: np.minimum(np.maximum(z, 0), 6)),
        (lambda z: F.clip(z, -0.5, 0.7), lambda z: np.clip(z, -0.5, 0.7)),
        (lambda z: F.clip(z, hi=0.3), lambda z: np.minimum(z, 0.3)),
        (F.hard_sigmoid, lambda z: np.clip(z + 3, 0, 6) / 6),
        (lambda z: F.hard_sigmoid(z, 0.2, 0.5), lambda z: np.clip(0.2 * z + 0.5, 0, 1)),
        (F.hard_swish, lambda z: z * np.clip(z + 3, 0, 6) / 6),
        (F.silu, lambda z: z * _sigmoid(z)),
        (F.gelu, lambda z: z * np.vectorize(math.erfc)(-z / np.sqrt(2)) / 2),
        (
            lambda z: F.gelu(z, "tanh"),
            lambda z: z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))) / 2,
        ),
    ],
    ids=[
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "softmax",
        "softmax-axis0",
        "log_softmax",
        "relu6",
        "clip",
        "clip-hi",
        "hard_sigmoid",
        "hard_sigmoid-onnx",
        "hard_swish",
        "silu",
        "gelu",
        "gelu-tanh",
    ],
)
def test_activation(rng, op, reference):
    z = away_from_zero(rng, (4, 6)) * 4  # reaches every piece of relu6, hard_sigmoid, hard_swish
    for kink in (-3, 0, 3, 6, -0.5, 0.7, 0.3, -2.5, 2.5):  # keep the steps off every kink
        z = np.where(np.abs(z - kink) < 0.05, z + 0.1, z)
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


@pytest.mark.parametrize(
    ("op", "z", "expected"),
    [
        (F.relu6, [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),  # torch.relu6: the kinks take 0
        (lambda z: F.clip(z, 0.0, 6.0), [0.0, 6.0, 7.0], [1.0, 1.0, 0.0]),  # torch.clamp: 1
        (F.hard_sigmoid, [-3.0, 3.0, 0.0], [0.0, 0.0, 1 / 6]),  # as torch.hardsigmoid
        (F.hard_swish, [-3.0, 3.0, 0.0], [0.0, 1.0, 0.5]),  # as torch.hardswish
    ],
    ids=["relu6", "clip", "hard_sigmoid", "hard_swish"],
)
def test_gradients_at_the_kinks_follow_pytorch(op, z, expected):
    z = cm.Tensor(np.array(z), requires_grad=True)
    op(z).sum().backward()
    np.testing.assert_allclose(z.grad, expected, rtol=1e-15)


def test_silu_and_gelu_are_stable_far_out():
    z = cm.Tensor(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(F.silu(z).data, [0.0, -40 * math.exp(-40), 0.0, 40.0, 1000.0])
        np.testing.assert_allclose(F.gelu(z).data, [0.0, 0.0, 0.0, 40.0, 1000.0])


def test_new_activation_argument_errors():
    z = cm.Tensor(np.ones((2, 3)))
    with pytest.raises(cm.InvalidArgumentError, match="clip needs lo <= hi, got lo=2, hi=1"):
        F.clip(z, 2, 1)
    with pytest.raises(cm.InvalidArgumentError, match="clip lo must be a finite number"):
        F.clip(z, float("nan"), 1)
    with pytest.raises(cm.InvalidArgumentError, match="hard_sigmoid alpha must be a number"):
        F.hard_sigmoid(z, "0.2")
    with pytest.raises(cm.InvalidArgumentError, match="gelu approximate must be one of"):
        F.gelu(z, "erf")
