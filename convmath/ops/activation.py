"""Activation functions psi, applied after CONV and FC layers: A = psi(Z)."""

from __future__ import annotations

import numpy as np

from convmath.errors import ShapeError
from convmath.ops.reduce import normalize_axes
from convmath.shapes import number_in
from convmath.tensor import Function, Tensor, equations_from


class ReLU(Function):
    """A = max(0, Z);  dZ = dA * [Z > 0]  (the kink at 0 takes gradient 0)."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.a = np.maximum(z, 0)
        return self.a

    def backward(self, da: np.ndarray) -> np.ndarray:
        return da * (self.a > 0)


class LeakyReLU(Function):
    """A = Z if Z > 0 else alpha*Z;  dZ = dA * (1 if Z > 0 else alpha)."""

    def forward(self, z: np.ndarray, *, alpha: float) -> np.ndarray:
        self.positive = z > 0
        self.alpha = alpha
        return np.where(self.positive, z, z * z.dtype.type(alpha))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.where(self.positive, grad, grad * grad.dtype.type(self.alpha))


class Sigmoid(Function):
    """A = 1 / (1 + exp(-Z));  dZ = dA * A * (1 - A).

    Computed as exp(min(Z, 0)) / (1 + exp(-|Z|)), which never overflows.
    """

    def forward(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(z))
        self.a = np.where(z >= 0, 1, e) / (1 + e)
        return self.a

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.a * (1 - self.a)


class Tanh(Function):
    """A = tanh(Z);  dZ = dA * (1 - A**2)."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.a = np.tanh(z)
        return self.a

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * (1 - self.a * self.a)


def shifted_log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """log softmax(z) = (z - max z) - log sum_j exp(z_j - max z), precise for confident rows.

    The shift comes first, so nothing overflows and the largest entry is
    exactly 0. The sum is 1 + sum_{j != argmax} exp(z_j - max z), and its log
    is taken with log1p of the second term: for a row whose top class is
    certain to within 2e-6, log softmax of that class comes out as -2e-6,
    not as 0 (which log(1 + 2e-6) rounds to in float32, or -0.0 after
    subtracting a rounded log-sum-exp from z).
    """
    shifted = z - z.max(axis=axis, keepdims=True)
    others = np.exp(shifted)
    top = np.expand_dims(shifted.argmax(axis=axis), axis)
    np.put_along_axis(others, top, 0, axis=axis)
    return shifted - np.log1p(others.sum(axis=axis, keepdims=True))


class Softmax(Function):
    """S_k = exp(Z_k) / sum_j exp(Z_j) along ``axis``.

    dZ = S * (dS - sum_j dS_j S_j)  (the Jacobian diag(S) - S S^T applied to dS).
    Z is shifted by its max first, so large logits do not overflow.
    """

    def forward(self, z: np.ndarray, *, axis: int) -> np.ndarray:
        e = np.exp(z - z.max(axis=axis, keepdims=True))
        self.s = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        return self.s

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self.s * (grad - (grad * self.s).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """L_k = Z_k - log sum_j exp(Z_j) along ``axis`` (log-sum-exp, stable).

    dZ = dL - softmax(Z) * sum_j dL_j.
    """

    def forward(self, z: np.ndarray, *, axis: int) -> np.ndarray:
        out = shifted_log_softmax(z, axis)
        self.out = out
        self.axis = axis
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad - np.exp(self.out) * grad.sum(axis=self.axis, keepdims=True)


@equations_from(ReLU)
def relu(z: Tensor) -> Tensor:
    """Rectified linear unit max(0, Z).

    Shapes
    ------
    Z: any shape;  A = relu(Z): the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.relu(Tensor([[-2.0, 0.0, 3.0]])).data)
    [[0. 0. 3.]]
    """
    return ReLU.apply(z)


@equations_from(LeakyReLU)
def leaky_relu(z: Tensor, alpha: float = 0.01) -> Tensor:
    """Leaky ReLU with slope ``alpha`` for Z < 0.

    Shapes
    ------
    Z: any shape;  A = leaky_relu(Z): the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.leaky_relu(Tensor([[-2.0, 0.0, 3.0]]), alpha=0.1).data)
    [[-0.2  0.   3. ]]
    """
    return LeakyReLU.apply(z, alpha=number_in(alpha, "leaky_relu alpha", 0.0))


@equations_from(Sigmoid)
def sigmoid(z: Tensor) -> Tensor:
    """Logistic sigmoid.

    Shapes
    ------
    Z: any shape;  A = sigmoid(Z): the same shape, values in (0, 1)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.sigmoid(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[0.119 0.5   0.881]]
    """
    return Sigmoid.apply(z)


@equations_from(Tanh)
def tanh(z: Tensor) -> Tensor:
    """Hyperbolic tangent.

    Shapes
    ------
    Z: any shape;  A = tanh(Z): the same shape, values in (-1, 1)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.tanh(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[-0.964  0.     0.964]]
    """
    return Tanh.apply(z)


def _check_axis(z: Tensor, axis: int, name: str) -> int:
    (axis,) = normalize_axes(axis, z.shape, name)
    if z.shape[axis] == 0:
        raise ShapeError(f"{name} over an empty axis {axis} of shape {z.shape} is undefined")
    return axis


@equations_from(Softmax)
def softmax(z: Tensor, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (classes last by default).

    Shapes
    ------
    Z: any shape, e.g. logits (m, K);  S: the same shape, summing to 1 along ``axis``

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> S = F.softmax(Tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]))
    >>> print(np.round(S.data, 2))
    [[0.09 0.24 0.67]
     [0.33 0.33 0.33]]
    >>> print(np.round(S.data.sum(axis=1), 6))
    [1. 1.]
    """
    return Softmax.apply(z, axis=_check_axis(z, axis, "softmax"))


@equations_from(LogSoftmax)
def log_softmax(z: Tensor, axis: int = -1) -> Tensor:
    """Log of softmax along ``axis``, computed stably.

    Shapes
    ------
    Z: any shape, e.g. logits (m, K);  L: the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> L = F.log_softmax(Tensor([[0.0, 0.0], [1000.0, 1000.0]]))  # exp(1000) never computed
    >>> print(np.round(L.data, 3))  # log(1/2) for both rows
    [[-0.693 -0.693]
     [-0.693 -0.693]]
    """
    return LogSoftmax.apply(z, axis=_check_axis(z, axis, "log_softmax"))
