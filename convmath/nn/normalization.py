"""Batch and layer normalisation of the channels, thin :class:`Module` s around
``functional.batch_norm`` and ``functional.layer_norm``."""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.limits import reserve_parameters
from convmath.nn.module import Module, Parameter, Shape
from convmath.shapes import number_in, positive_int
from convmath.tensor import Tensor


class BatchNorm2D(Module):
    """Batch normalisation of the channels: Z = gamma (A - mu) / sqrt(var + eps) + beta.

    Training mode uses the batch statistics and updates the running ones
    (momentum, unbiased variance, as PyTorch); eval mode uses the running
    statistics. Parameters gamma, beta (n_C,); buffers running_mean, running_var.

    Shapes
    ------
    A: (m, n_H, n_W, n_C) (or (m, n_C));  gamma, beta, running_mean, running_var: (n_C,)
    Z: the same shape as A

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> bn = nn.BatchNorm2D(2)
    >>> A = Tensor(np.array([[1, 10], [3, 30]], np.float32).reshape(2, 1, 1, 2))
    >>> Z = bn(A)  # channel 0 holds 1 and 3 (mu = 2, var = 1); channel 1 holds 10 and 30
    >>> print(np.round(Z.data.reshape(2, 2), 3))
    [[-1. -1.]
     [ 1.  1.]]
    >>> print(bn.running_mean)  # (1 - 0.1)*0 + 0.1*mu
    [0.2 2. ]
    >>> bn.num_parameters()  # gamma and beta
    4
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


class LayerNorm(Module):
    """Layer normalisation of the channels of each position: Z = gamma (A - mu)/sqrt(var + eps)
    + beta, with mu and var over the n_C channels of one position (ConvNeXt's LayerNorm2d).

    No batch statistics: training and evaluation compute the same. Parameters
    gamma (ones), beta (zeros), (n_C,) each.

    Shapes
    ------
    A: (m, n_H, n_W, n_C) (or (m, n_C));  gamma, beta: (n_C,)
    Z: the same shape as A

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> ln = nn.LayerNorm(2)
    >>> A = Tensor(np.array([[1, 3], [10, 30]], np.float32).reshape(2, 1, 1, 2))
    >>> print(np.round(ln(A).data.reshape(2, 2), 3))  # each position on its own
    [[-1.  1.]
     [-1.  1.]]
    >>> ln.num_parameters()
    4
    """

    def __init__(self, n_C: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_C = positive_int(n_C, "LayerNorm n_C")
        self.eps = number_in(eps, "LayerNorm eps", 0.0, low_open=True)
        reserve_parameters((2, n_C), "LayerNorm gamma and beta")
        self.gamma = Parameter(np.ones(n_C, dtype=np.float32))
        self.beta = Parameter(np.zeros(n_C, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.gamma, self.beta, eps=self.eps)

    def output_shape(self, input_shape: Shape) -> Shape:
        if not input_shape or input_shape[-1] != self.n_C:
            raise self.fail(
                f"expected n_C={self.n_C} channels last, got shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            f"Z = gamma (A - mu)/sqrt(var + {self.eps:g}) + beta, mu and var over the"
            f" {self.n_C} channels of each position",
            f"parameters 2*n_C = 2*{self.n_C} = {self.num_parameters()} (gamma, beta)",
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            "with A_hat = (A - mu)/sqrt(var + eps) and G = dZ * gamma: dA = (G - mean_c G"
            f" - A_hat * mean_c(G * A_hat))/sqrt(var + eps), means over the {self.n_C} channels",
            f"dgamma = sum dZ * A_hat, dbeta = sum dZ over every position: ({self.n_C},) each",
        ]

    def details(self) -> str:
        return f"n_C={self.n_C}, eps={self.eps}"
