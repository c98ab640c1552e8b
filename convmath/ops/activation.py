"""Activation functions psi, applied after CONV and FC layers: A = psi(Z)."""

from __future__ import annotations

import math

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.reduce import normalize_axes
from convmath.ops.special import normal_cdf
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


class Clip(Function):
    """A = min(max(Z, lo), hi);  dZ = dA * [lo <= Z <= hi] (``closed``) or dA * [lo < Z < hi].

    Where the bounds themselves take the gradient is a convention, and each
    function follows PyTorch's: ``clip`` as ``torch.clamp`` (closed: a value on
    a bound passes dA), ``relu6`` as ``torch.nn.functional.relu6`` (open: the
    kinks at 0 and 6 take gradient 0, as ReLU's kink does).
    """

    def forward(self, z: np.ndarray, *, lo: float, hi: float, closed: bool) -> np.ndarray:
        low, high = z.dtype.type(lo), z.dtype.type(hi)
        self.inside = (low <= z) & (z <= high) if closed else (low < z) & (z < high)
        return np.minimum(np.maximum(z, low), high)

    def backward(self, da: np.ndarray) -> np.ndarray:
        return da * self.inside


class HardSigmoid(Function):
    """A = max(0, min(1, alpha Z + beta));  dZ = alpha dA * [0 < alpha Z + beta < 1].

    PyTorch's hardsigmoid is relu6(Z + 3)/6: alpha = 1/6, beta = 1/2 (the
    defaults here); ONNX's HardSigmoid defaults to alpha = 0.2, beta = 0.5.
    """

    def forward(self, z: np.ndarray, *, alpha: float, beta: float) -> np.ndarray:
        t = z * z.dtype.type(alpha) + z.dtype.type(beta)
        self.inside, self.alpha = (t > 0) & (t < 1), alpha
        return np.clip(t, 0, 1)

    def backward(self, da: np.ndarray) -> np.ndarray:
        return da * (self.inside * da.dtype.type(self.alpha))


class HardSwish(Function):
    """A = Z relu6(Z + 3)/6;  dZ = dA * (0 if Z <= -3, (2Z + 3)/6 if -3 < Z < 3, 1 if Z >= 3).

    The piecewise derivative of Z (Z + 3)/6 on (-3, 3); at the kinks the
    values PyTorch's hardswish takes (0 at -3, 1 at 3).
    """

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.z = z
        return z * np.clip(z + 3, 0, 6) / 6

    def backward(self, da: np.ndarray) -> np.ndarray:
        z = self.z
        slope = np.where(z <= -3, 0, np.where(z < 3, (2 * z + 3) / 6, 1)).astype(da.dtype)
        return da * slope


class SiLU(Function):
    """A = Z sigmoid(Z) (also called Swish);  dZ = dA * s (1 + Z (1 - s)), s = sigmoid(Z)."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(z))
        self.z, self.s = z, np.where(z >= 0, 1, e) / (1 + e)  # sigmoid, as Sigmoid computes it
        return z * self.s

    def backward(self, da: np.ndarray) -> np.ndarray:
        s = self.s
        return da * (s * (1 + self.z * (1 - s)))


class GELU(Function):
    """A = Z Phi(Z);  dZ = dA * (Phi(Z) + Z phi(Z)), exactly (``approximate="none"``).

    Phi(Z) = (1 + erf(Z/sqrt(2)))/2 is the standard normal distribution
    function and phi(Z) = exp(-Z^2/2)/sqrt(2 pi) its density (erf:
    :mod:`convmath.ops.special`, no SciPy). ``approximate="tanh"`` is the
    approximation of Hendrycks and Gimpel that PyTorch also offers:
    A = Z (1 + tanh(u))/2 with u = sqrt(2/pi) (Z + 0.044715 Z^3), and
    dZ = dA * ((1 + t)/2 + Z (1 - t^2)/2 * sqrt(2/pi) (1 + 3*0.044715 Z^2)), t = tanh(u).
    """

    def forward(self, z: np.ndarray, *, approximate: str) -> np.ndarray:
        self.z, self.approximate = z, approximate
        if approximate == "tanh":
            k = np.sqrt(2 / np.pi).astype(z.dtype)
            self.t = np.tanh(k * (z + 0.044715 * z**3))
            return z * (1 + self.t) / 2
        self.cdf = normal_cdf(z)
        return z * self.cdf

    def backward(self, da: np.ndarray) -> np.ndarray:
        z = self.z
        if self.approximate == "tanh":
            t, k = self.t, np.sqrt(2 / np.pi).astype(z.dtype)
            return da * ((1 + t) / 2 + z * (1 - t * t) / 2 * k * (1 + 3 * 0.044715 * z * z))
        return da * gelu_slope(z, self.cdf)


def gelu_slope(z: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """dA/dZ of the exact GELU: Phi(Z) + Z phi(Z), given Phi(Z) (``cdf``)."""
    density = np.exp(-z * z / 2) / np.sqrt(2 * np.pi).astype(z.dtype)
    return cdf + z * density


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


@equations_from(Clip)
def clip(z: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Z clipped to [lo, hi] (None: no bound on that side), as ONNX's Clip and torch.clamp.

    Shapes
    ------
    Z: any shape;  A = clip(Z): the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.clip(Tensor([[-2.0, 0.5, 3.0]]), 0.0, 1.0).data)
    [[0.  0.5 1. ]]
    """
    low = -math.inf if lo is None else number_in(lo, "clip lo", -math.inf)
    high = math.inf if hi is None else number_in(hi, "clip hi", -math.inf)
    if low > high:
        raise InvalidArgumentError(f"clip needs lo <= hi, got lo={lo}, hi={hi}")
    return Clip.apply(z, lo=low, hi=high, closed=True)


@equations_from(Clip)
def relu6(z: Tensor) -> Tensor:
    """ReLU6: min(max(0, Z), 6), MobileNet's activation (the kinks take gradient 0).

    Shapes
    ------
    Z: any shape;  A = relu6(Z): the same shape, values in [0, 6]

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.relu6(Tensor([[-2.0, 3.0, 8.0]])).data)
    [[0. 3. 6.]]
    """
    return Clip.apply(z, lo=0.0, hi=6.0, closed=False)


@equations_from(HardSigmoid)
def hard_sigmoid(z: Tensor, alpha: float = 1 / 6, beta: float = 0.5) -> Tensor:
    """A piecewise-linear sigmoid, max(0, min(1, alpha Z + beta)) (PyTorch's by default).

    Shapes
    ------
    Z: any shape;  A = hard_sigmoid(Z): the same shape, values in [0, 1]

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.hard_sigmoid(Tensor([[-4.0, 0.0, 1.5, 4.0]])).data)  # relu6(Z + 3)/6
    [[0.   0.5  0.75 1.  ]]
    >>> print(F.hard_sigmoid(Tensor([[1.5]]), alpha=0.2, beta=0.5).data)  # ONNX's defaults
    [[0.8]]
    """
    a = number_in(alpha, "hard_sigmoid alpha", -math.inf)
    b = number_in(beta, "hard_sigmoid beta", -math.inf)
    return HardSigmoid.apply(z, alpha=a, beta=b)


@equations_from(HardSwish)
def hard_swish(z: Tensor) -> Tensor:
    """Z relu6(Z + 3)/6, MobileNetV3's cheap Swish.

    Shapes
    ------
    Z: any shape;  A = hard_swish(Z): the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.hard_swish(Tensor([[-1.5, 0.0, 1.5, 4.0]])).data)  # Z (Z + 3)/6 on (-3, 3)
    [[-0.375  0.     1.125  4.   ]]
    """
    return HardSwish.apply(z)


@equations_from(SiLU)
def silu(z: Tensor) -> Tensor:
    """SiLU (Swish): Z sigmoid(Z), EfficientNet's activation.

    Shapes
    ------
    Z: any shape;  A = silu(Z): the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.silu(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[-0.238  0.     1.762]]
    """
    return SiLU.apply(z)


GELU_FORMS = ("none", "tanh")


@equations_from(GELU)
def gelu(z: Tensor, approximate: str = "none") -> Tensor:
    """GELU: Z Phi(Z) with the normal distribution function (exact), ConvNeXt's activation.

    Shapes
    ------
    Z: any shape;  A = gelu(Z): the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.gelu(Tensor([[-2.0, 0.0, 1.0, 2.0]])).data, 4))
    [[-0.0455  0.      0.8413  1.9545]]
    """
    if approximate not in GELU_FORMS:
        raise InvalidArgumentError(
            f"gelu approximate must be one of {GELU_FORMS}, got {approximate!r}"
        )
    return GELU.apply(z, approximate=approximate)


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
