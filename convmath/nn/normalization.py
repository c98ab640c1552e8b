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
    """Batch normalisation of the channels: Z~^[l] = gamma (Z^[l] - mu) / sqrt(var + eps) + beta.

    It sits between a CONV layer and its activation, so its input is Z^[l]
    and its output Z~^[l] ("Z tilde", TeX \\tilde{Z}^{[l]}), on which psi acts:
    A^[l] = psi(Z~^[l]).

    Training mode uses the batch statistics and updates the running ones
    (momentum, unbiased variance, as PyTorch); eval mode uses the running
    statistics. Parameters gamma, beta (n_C,); buffers running_mean, running_var.

    Shapes
    ------
    Z: (m, n_H, n_W, n_C) (or (m, n_C));  gamma, beta, running_mean, running_var: (n_C,)
    Z~: the same shape as Z

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

    output_symbol = "~"  # its input's name with a tilde: Z^[l] -> Z~^[l]

    def formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            f"Z~^[l] = gamma (Z^[l] - mu)/sqrt(var + {self.eps:g}) + beta per channel"
            " (Z~ is Z tilde; psi then acts on it: A^[l] = psi(Z~^[l]))",
            f"parameters 2*n_C = 2*{self.n_C} = {self.num_parameters()} (gamma, beta);"
            " the running mean and variance are statistics, not learned",
        ]

    def equations(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            "\\tilde{Z}^{[l]}_{\\ldots,c} = \\gamma_c \\frac{Z^{[l]}_{\\ldots,c} - \\mu_c}"
            f"{{\\sqrt{{\\sigma_c^2 + {_tex_number(self.eps)}}}}} + \\beta_c"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        count = "m" if len(input_shape) == 1 else "m*" + "*".join(map(str, input_shape[:-1]))
        return [
            f"with Z_hat = (Z^[l] - mu)/sqrt(var + eps) over the N = {count} values of each"
            " channel: dbeta = sum dZ~^[l], dgamma = sum dZ~^[l] * Z_hat,"
            f" ({self.n_C},) each",
            "dZ^[l] = gamma/sqrt(var + eps) * (dZ~^[l] - dbeta/N - Z_hat * dgamma/N) in training"
            " (mu and var depend on Z^[l] too); in eval mode, with the running mean and"
            " variance, dZ^[l] = dZ~^[l] * gamma/sqrt(var + eps)",
        ]

    def backward_equations(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            "d\\beta_c = \\sum d\\tilde{Z}^{[l]}_{\\ldots,c}, \\quad d\\gamma_c ="
            " \\sum d\\tilde{Z}^{[l]}_{\\ldots,c}\\, \\hat{Z}_{\\ldots,c}",
            "dZ^{[l]} = \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}} \\Big(d\\tilde{Z}^{[l]}"
            " - \\frac{d\\beta}{N} - \\hat{Z} \\frac{d\\gamma}{N}\\Big)",
        ]

    def details(self) -> str:
        return f"n_C={self.n_C}, momentum={self.momentum}, eps={self.eps}"


class LayerNorm(Module):
    """Layer normalisation of the channels of each position: Z~ = gamma (Z - mu)/sqrt(var + eps)
    + beta, with mu and var over the n_C channels of one position (ConvNeXt's LayerNorm2d).

    Named as batch norm is: its input Z^[l], its output Z~^[l].

    No batch statistics: training and evaluation compute the same. Parameters
    gamma (ones), beta (zeros), (n_C,) each.

    Shapes
    ------
    Z: (m, n_H, n_W, n_C) (or (m, n_C));  gamma, beta: (n_C,)
    Z~: the same shape as Z

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

    output_symbol = "~"  # as batch norm: its input's name with a tilde, Z^[l] -> Z~^[l]

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
            f"Z~^[l] = gamma (Z^[l] - mu)/sqrt(var + {self.eps:g}) + beta, mu and var over the"
            f" {self.n_C} channels of each position",
            f"parameters 2*n_C = 2*{self.n_C} = {self.num_parameters()} (gamma, beta)",
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [
            "with Z_hat = (Z^[l] - mu)/sqrt(var + eps) and G = dZ~^[l] * gamma: dZ^[l] ="
            f" (G - mean_c G - Z_hat * mean_c(G * Z_hat))/sqrt(var + eps), means over the"
            f" {self.n_C} channels",
            f"dgamma = sum dZ~^[l] * Z_hat, dbeta = sum dZ~^[l] over every position:"
            f" ({self.n_C},) each",
        ]

    def details(self) -> str:
        return f"n_C={self.n_C}, eps={self.eps}"


def _tex_number(x: float) -> str:
    """1e-05 as 10^{-5}, 2.5e-06 as 2.5 \\cdot 10^{-6}; other numbers as %g writes them."""
    text = f"{x:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else f"{mantissa} \\cdot {power}"
