"""The FC (fully connected) layer: Z = A W + b on a vector per example; and LayerScale,
a learned number per channel.

A thin :class:`Module` around ``convmath.functional.dense``, with its
parameters W, b and its shape rule. Shapes are per example: (n_in,) -> (n_out,).
"""

from __future__ import annotations

import math

import numpy as np

import convmath.functional as F
from convmath.limits import reserve_parameters
from convmath.nn.init import initialize
from convmath.nn.module import Module, Parameter, Shape
from convmath.shapes import number_in, positive_int
from convmath.tensor import Tensor


class Dense(Module):
    """FC layer: Z^[l] = A^[l-1] W^[l] + b^[l], W (n_in, n_out), b (n_out,).

    Unit j sums every input: Z^[l]_j = sum_{i=1..n_in} A^[l-1]_i W^[l]_{i,j} + b^[l]_j,
    one row per example (the article writes W^[l] A^[l-1] with W transposed);
    the activation layer after it gives A^[l] = psi(Z^[l]). Parameters
    (n_in + 1)*n_out. A volume is flattened first (:class:`Flatten`).

    Shapes
    ------
    A: (m, n_in);  W: (n_in, n_out);  b: (n_out,)
    Z: (m, n_out)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> fc = nn.Dense(400, 120, rng=np.random.default_rng(0))
    >>> fc.W.shape, fc.b.shape
    ((400, 120), (120,))
    >>> fc.num_parameters()  # (n_in + 1)*n_out = 401*120
    48120
    >>> fc(Tensor(np.zeros((64, 400), np.float32))).shape
    (64, 120)
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        bias: bool = True,
        *,
        rng: np.random.Generator,
        init: str = "he_normal",
    ) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.W = Parameter(initialize(init, (n_in, n_out), n_in, n_out, rng))
        self.b = None
        if bias:
            bias_init = "torch_default" if init == "torch_default" else "zeros"
            self.b = Parameter(initialize(bias_init, (n_out,), n_in, n_out, rng))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise self.fail(f"expected input (m, {self.n_in}) but got shape {x.shape}")
        return F.dense(x, self.W, self.b)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise self.fail(
                f"expects a vector of n_in={self.n_in} per example but got shape"
                f" {tuple(input_shape)}; flatten the volume first"
            )
        if input_shape[0] != self.n_in:
            raise self.fail(
                f"expected n_in={self.n_in} but the input has {input_shape[0]} features"
            )
        return (self.n_out,)

    def macs(self, input_shape: Shape) -> int:
        return self.n_in * self.n_out

    output_symbol = "Z"
    starts_layer = True

    def formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        bias = " + 1" if self.b is not None else ""
        plus_b = " + b^[l]_j" if self.b is not None else ""
        return [
            f"Z^[l]_j = sum_(i=1..{self.n_in}) A^[l-1]_i W^[l]_(i,j){plus_b}:"
            f" Z^[l] = A^[l-1] W^[l]{' + b^[l]' if self.b is not None else ''} with W^[l]"
            f" ({self.n_in}, {self.n_out})",
            f"parameters (n_in{bias})*n_out = ({self.n_in}{bias})*{self.n_out}"
            f" = {self.num_parameters():,}",
            f"multiply-accumulates n_in*n_out = {self.n_in}*{self.n_out}"
            f" = {self.macs(input_shape):,}",
        ]

    def equations(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        bias = " + b^{[l]}_j" if self.b is not None else ""
        return [
            f"Z^{{[l]}}_j = \\sum_{{i=1}}^{{{self.n_in}}} A^{{[l-1]}}_i\\, W^{{[l]}}_{{i,j}}{bias},"
            f" \\quad j = 1, \\dots, {self.n_out}"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        lines = [
            f"dZ^[l] ({self.n_out},) arrives from the layer above (or from the loss)",
            f"dW^[l]_(i,j) = A^[l-1]_i dZ^[l]_j, summed over the m examples (dW^[l] ="
            f" A^[l-1]^T dZ^[l]): ({self.n_in}, {self.n_out})",
            f"dA^[l-1]_i = sum_(j=1..{self.n_out}) W^[l]_(i,j) dZ^[l]_j (dA^[l-1] ="
            f" dZ^[l] W^[l]^T): ({self.n_in},) per example",
        ]
        if self.b is not None:
            lines.insert(2, f"db^[l]_j = dZ^[l]_j, summed over the m examples: ({self.n_out},)")
        lines.append(f"{2 * self.macs(input_shape):,} multiply-accumulates per example (dW and dA)")
        return lines

    def backward_equations(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        lines = [
            "dW^{[l]}_{i,j} = A^{[l-1]}_i\\, dZ^{[l]}_j",
            f"dA^{{[l-1]}}_i = \\sum_{{j=1}}^{{{self.n_out}}} W^{{[l]}}_{{i,j}}\\, dZ^{{[l]}}_j",
        ]
        if self.b is not None:
            lines.insert(1, "db^{[l]}_j = dZ^{[l]}_j")
        return lines

    def details(self) -> str:
        return f"{self.n_in} -> {self.n_out}" + ("" if self.b is not None else ", no bias")


class LayerScale(Module):
    """Z = gamma * A, one learned number gamma_c per channel (ConvNeXt's layer scale).

    gamma starts at ``init`` (1e-6 in ConvNeXt, so that each residual branch
    starts near the identity); the product broadcasts gamma (n_C,) over the
    other axes (Mul, with its unbroadcast gradient). Parameters: n_C.

    Shapes
    ------
    A: (m, n_H, n_W, n_C) (or (m, n_C));  gamma: (n_C,)
    Z: the same shape as A

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> scale = nn.LayerScale(3, init=0.5)
    >>> print(scale(Tensor(np.ones((1, 1, 1, 3), np.float32))).data.ravel())
    [0.5 0.5 0.5]
    >>> scale.num_parameters()
    3
    """

    def __init__(self, n_C: int, init: float = 1e-6) -> None:
        super().__init__()
        self.n_C = positive_int(n_C, "LayerScale n_C")
        self.init = number_in(init, "LayerScale init", -math.inf)
        reserve_parameters((n_C,), "LayerScale gamma")
        self.gamma = Parameter(np.full(n_C, self.init, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma

    def output_shape(self, input_shape: Shape) -> Shape:
        if not input_shape or input_shape[-1] != self.n_C:
            raise self.fail(f"expected n_C={self.n_C} channels last, got shape {input_shape}")
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [f"Z = gamma * A, one gamma_c per channel; parameters n_C = {self.n_C}"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [f"dA = gamma * dZ; dgamma = sum of dZ * A over every position: ({self.n_C},)"]

    def details(self) -> str:
        return f"n_C={self.n_C}"
