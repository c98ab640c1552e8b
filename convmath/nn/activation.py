"""The activation layers psi: A = psi(Z), elementwise, shape unchanged, no parameters.

Each is a thin :class:`Module` around an op of ``convmath.functional``.
"""

from __future__ import annotations

import convmath.functional as F
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class _Activation(Module):
    formula = ""  # psi(Z), for the activations
    derivative = ""  # dZ in terms of dA, for the activations

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [f"A = {self.formula}, elementwise; shape unchanged, no parameters"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dZ = {self.derivative}, elementwise: {tuple(input_shape)}"]


class ReLU(_Activation):
    """psi(Z) = max(0, Z)."""

    formula = "max(0, Z)"
    derivative = "dA * [Z > 0] (the kink at 0 takes gradient 0)"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(_Activation):
    """psi(Z) = Z if Z > 0 else alpha Z."""

    formula = "Z where Z > 0, alpha Z elsewhere"  # max(alpha Z, Z) holds only for alpha <= 1

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"dZ = dA where Z > 0, {self.alpha} dA elsewhere, elementwise: {tuple(input_shape)}"
        ]

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.alpha)

    def details(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(_Activation):
    """psi(Z) = 1 / (1 + exp(-Z))."""

    formula = "1/(1 + exp(-Z))"
    derivative = "dA * A * (1 - A)"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Activation):
    """psi(Z) = tanh(Z)."""

    formula = "tanh(Z)"
    derivative = "dA * (1 - A^2)"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j) over the last axis."""

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=-1)

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)
