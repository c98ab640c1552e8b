"""The activation layers psi: shape kept, no parameters, the equation in their description."""

import numpy as np
import pytest
from layer_checks import check_layer

import convmath as cm
from convmath import nn


@pytest.mark.parametrize(
    ("layer", "formula"),
    [
        (nn.ReLU(), "A^[l] = psi(Z^[l]) = max(0, Z^[l])"),
        (nn.LeakyReLU(0.1), "alpha Z^[l]"),
        (nn.Sigmoid(), "1/(1 + exp(-Z^[l]))"),
        (nn.Tanh(), "tanh(Z^[l])"),
        (nn.ReLU6(), "min(max(0, Z^[l]), 6)"),
        (nn.Clip(-1.0, 2.0), "min(max(Z^[l], -1.0), 2.0)"),
        (nn.HardSigmoid(), "max(0, min(1, 0.166667 Z^[l] + 0.5))"),
        (nn.HardSigmoid(0.2, 0.5), "max(0, min(1, 0.2 Z^[l] + 0.5))"),
        (nn.HardSwish(), "Z^[l] relu6(Z^[l] + 3)/6"),
        (nn.SiLU(), "Z^[l] sigmoid(Z^[l])"),
        (nn.GELU(), "Z^[l] Phi(Z^[l])"),
        (nn.GELU("tanh"), "tanh(sqrt(2/pi)"),
    ],
    ids=[
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "relu6",
        "clip",
        "hard_sigmoid",
        "hard_sigmoid-onnx",
        "hard_swish",
        "silu",
        "gelu",
        "gelu-tanh",
    ],
)
def test_activations_keep_the_shape_and_state_their_equation(layer, formula):
    check_layer(layer, (4, 4, 3), (4, 4, 3), 0, 0)
    assert formula in layer.formulas((4, 4, 3))[0]
    assert layer.backward_formulas((4, 4, 3))[0].startswith("dZ^[l] = ")


def test_activation_values():
    z = cm.Tensor(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(nn.ReLU()(z).data, [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(z).data, [[-0.2, 0.0, 3.0]])
    np.testing.assert_allclose(nn.Sigmoid()(z).data, 1 / (1 + np.exp(-z.data)))
    np.testing.assert_allclose(nn.Tanh()(z).data, np.tanh(z.data))


def test_new_activation_values():
    z = cm.Tensor(np.array([[-4.0, -1.0, 0.5, 7.0]]))
    np.testing.assert_array_equal(nn.ReLU6()(z).data, [[0.0, 0.0, 0.5, 6.0]])
    np.testing.assert_array_equal(nn.Clip(hi=0.0)(z).data, [[-4.0, -1.0, 0.0, 0.0]])
    np.testing.assert_allclose(nn.HardSigmoid()(z).data, [[0.0, 1 / 3, 7 / 12, 1.0]])
    np.testing.assert_allclose(nn.HardSwish()(z).data, [[0.0, -1 / 3, 7 / 24, 7.0]])
    np.testing.assert_allclose(nn.SiLU()(z).data, z.data / (1 + np.exp(-z.data)))
    np.testing.assert_allclose(nn.GELU()(z).data[0, 3], 7.0, rtol=1e-11)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: nn.Clip(1.0, 0.0), "clip needs lo <= hi"),
        (lambda: nn.HardSigmoid(float("inf")), "hard_sigmoid alpha must be a finite number"),
        (lambda: nn.GELU("fast"), "gelu approximate must be one of"),
    ],
)
def test_bad_activation_arguments_are_refused_when_built(build, message):
    with pytest.raises(cm.InvalidArgumentError, match=message):
        build()
