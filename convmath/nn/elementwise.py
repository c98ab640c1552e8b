"""The layers that keep the shape: activations psi, batch normalisation and dropout.

Each is a thin :class:`Module` around an op of ``convmath.functional``.
"""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.limits import reserve_parameters
from convmath.nn.module import Module, Parameter, Shape
from convmath.tensor import Tensor


class _Elementwise(Module):
    formula = ""  # psi(Z), for the activations
    derivative = ""  # dZ in terms of dA, for the activations

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [f"A = {self.formula}, elementwise; shape unchanged, no parameters"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dZ = {self.derivative}, elementwise: {tuple(input_shape)}"]


class ReLU(_Elementwise):
    """psi(Z) = max(0, Z)."""

    formula = "max(0, Z)"
    derivative = "dA * [Z > 0] (the kink at 0 takes gradient 0)"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(_Elementwise):
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


class Sigmoid(_Elementwise):
    """psi(Z) = 1 / (1 + exp(-Z))."""

    formula = "1/(1 + exp(-Z))"
    derivative = "dA * A * (1 - A)"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Elementwise):
    """psi(Z) = tanh(Z)."""

    formula = "tanh(Z)"
    derivative = "dA * (1 - A^2)"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class BatchNorm2D(_Elementwise):
    """Batch normalisation of the channels: Z = gamma (A - mu) / sqrt(var + eps) + beta.

    Training mode uses the batch statistics and updates the running ones
    (momentum, unbiased variance, as PyTorch); eval mode uses the running
    statistics. Parameters gamma, beta (n_C,); buffers running_mean, running_var.
    """

    _buffer_names = ("running_mean", "running_var")

    def __init__(self, n_C: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_C = n_C
        self.momentum = momentum
        self.eps = eps
        reserve_parameters((2, n_C), "BatchNorm2D gamma and beta")
        self.gamma = Parameter(np.ones(n_C, dtype=np.float32))
        self.beta = Parameter(np.zeros(n_C, dtype=np.float32))
        self.running_mean = np.zeros(n_C, dtype=np.float32)
        self.running_var = np.ones(n_C, dtype=np.float32)

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x,
            self.gamma,
            self.beta,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        if not input_shape or input_shape[-1] != self.n_C:
            raise self.fail(
                f"expected n_C={self.n_C} channels last, got shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            f"Z = gamma (A - mu)/sqrt(var + {self.eps:g}) + beta per channel",
            f"parameters 2*n_C = 2*{self.n_C} = {self.num_parameters()} (gamma, beta);"
            " the running mean and variance are statistics, not learned",
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        count = "m" if len(input_shape) == 1 else "m*" + "*".join(map(str, input_shape[:-1]))
        return [
            f"with A_hat = (A - mu)/sqrt(var + eps) over the N = {count} values of each channel:"
            f" dbeta = sum dZ, dgamma = sum dZ * A_hat, ({self.n_C},) each",
            "dA = gamma/sqrt(var + eps) * (dZ - dbeta/N - A_hat * dgamma/N) in training"
            " (mu and var depend on A too); in eval mode, with the running mean and variance,"
            " dA = dZ * gamma/sqrt(var + eps)",
        ]

    def details(self) -> str:
        return f"n_C={self.n_C}, momentum={self.momentum}, eps={self.eps}"


class Dropout(_Elementwise):
    """Inverted dropout with rate p while training (masks drawn from ``rng``); identity in eval."""

    def __init__(self, rate: float, *, rng: np.random.Generator) -> None:
        super().__init__()
        if not isinstance(rng, np.random.Generator):
            raise InvalidArgumentError("Dropout needs rng=np.random.default_rng(seed)")
        self.rate = rate
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.rate, self.rng, self.training)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"zeroes each value with probability {self.rate} while training; identity at inference"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        if self.rate >= 1:
            return ["dA_prev = 0: every unit is dropped"]
        return [f"dA_prev = dA * mask / (1 - {self.rate}): the units dropped in forward get 0"]

    def details(self) -> str:
        return f"rate={self.rate}"
