"""The activation layers psi: A = psi(Z), elementwise, shape unchanged, no parameters.

Each is a thin :class:`Module` around an op of ``convmath.functional``.
"""

from __future__ import annotations

import convmath.functional as F
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class _Activation(Module):
    formula = ""  # psi(Z)
    derivative = ""  # dZ in terms of dA

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [f"A = {self.formula}, elementwise; shape unchanged, no parameters"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dZ = {self.derivative}, elementwise: {tuple(input_shape)}"]


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

    formula = "max(0, Z)"
    derivative = "dA * [Z > 0] (the kink at 0 takes gradient 0)"

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

    formula = "1/(1 + exp(-Z))"
    derivative = "dA * A * (1 - A)"

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

    formula = "tanh(Z)"
    derivative = "dA * (1 - A^2)"

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
