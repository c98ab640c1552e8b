"""The activation layers psi: A^[l] = psi(Z^[l]), elementwise, shape unchanged, no parameters.

Each is a thin :class:`Module` around an op of ``convmath.functional``.
"""

from __future__ import annotations

import convmath.functional as F
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class _Activation(Module):
    formula = ""  # psi(Z^[l])
    derivative = ""  # dZ^[l] in terms of dA^[l]
    tex = ""  # psi(Z) typeset
    tex_derivative = ""  # dZ in terms of dA, typeset

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [f"A^[l] = psi(Z^[l]) = {self.formula}, elementwise; shape unchanged, no parameters"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dZ^[l] = {self.derivative}, elementwise: {tuple(input_shape)}"]

    def equations(self, input_shape: Shape) -> list[str]:
        return [f"A^{{[l]}} = \\psi(Z^{{[l]}}) = {self.tex}"]

    def backward_equations(self, input_shape: Shape) -> list[str]:
        return [f"dZ^{{[l]}} = {self.tex_derivative}"]


class ReLU(_Activation):
    """psi(Z) = max(0, Z).

    Shapes
    ------
    Z: any shape, (m, n_H, n_W, n_C) or (m, n);  A = psi(Z): the same shape

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.ReLU()(Tensor([[-2.0, 0.0, 3.0]])).data)
    [[0. 0. 3.]]
    >>> nn.ReLU().output_shape((24, 24, 6))
    (24, 24, 6)
    """

    formula = "max(0, Z^[l])"
    derivative = "dA^[l] * [Z^[l] > 0] (the kink at 0 takes gradient 0)"
    tex = "\\max(0, Z^{[l]})"
    tex_derivative = "dA^{[l]} \\odot [Z^{[l]} > 0]"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(_Activation):
    """psi(Z) = Z if Z > 0 else alpha Z.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.LeakyReLU(alpha=0.1)(Tensor([[-2.0, 0.0, 3.0]])).data)
    [[-0.2  0.   3. ]]
    """

    # max(alpha Z, Z) would hold only for alpha <= 1
    formula = "Z^[l] where Z^[l] > 0, alpha Z^[l] elsewhere"
    tex = "\\begin{cases} Z^{[l]} & Z^{[l]} > 0 \\\\ \\alpha Z^{[l]} & \\text{else} \\end{cases}"

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"dZ^[l] = dA^[l] where Z^[l] > 0, {self.alpha} dA^[l] elsewhere, elementwise:"
            f" {tuple(input_shape)}"
        ]

    def backward_equations(self, input_shape: Shape) -> list[str]:
        return [
            "dZ^{[l]} = \\begin{cases} dA^{[l]} & Z^{[l]} > 0 \\\\"
            f" {self.alpha}\\, dA^{{[l]}} & \\text{{else}} \\end{{cases}}"
        ]

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.alpha)

    def details(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(_Activation):
    """psi(Z) = 1 / (1 + exp(-Z)).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in (0, 1)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.Sigmoid()(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[0.119 0.5   0.881]]
    """

    formula = "1/(1 + exp(-Z^[l]))"
    derivative = "dA^[l] * A^[l] * (1 - A^[l])"
    tex = "\\frac{1}{1 + e^{-Z^{[l]}}}"
    tex_derivative = "dA^{[l]} \\odot A^{[l]} \\odot (1 - A^{[l]})"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Activation):
    """psi(Z) = tanh(Z).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in (-1, 1)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.Tanh()(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[-0.964  0.     0.964]]
    """

    formula = "tanh(Z^[l])"
    derivative = "dA^[l] * (1 - (A^[l])^2)"
    tex = "\\tanh(Z^{[l]})"
    tex_derivative = "dA^{[l]} \\odot (1 - (A^{[l]})^2)"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j) over the last axis.

    Shapes
    ------
    Z: (m, K);  S: (m, K), each row summing to 1

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor
    >>> from convmath.nn.activation import Softmax
    >>> print(np.round(Softmax()(Tensor([[0.0, 1.0, 2.0]])).data, 2))
    [[0.09 0.24 0.67]]
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=-1)

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)
