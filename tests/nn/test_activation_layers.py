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
    ],
    ids=["relu", "leaky_relu", "sigmoid", "tanh"],
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
