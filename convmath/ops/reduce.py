"""Reductions over axes: sum, mean, max.

Back propagation spreads dC back over the reduced axes: the output gradient
is re-expanded to keepdims shape (size 1 on reduced axes) and broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.tensor import Function, Tensor, equations_from

Axis = int | Sequence[int] | None


def normalize_axes(axis: Axis, shape: tuple[int, ...], op: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as sorted non-negative axes of ``shape``."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    normalized = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int | np.integer) or not -ndim <= a < ndim:
            raise InvalidArgumentError(
                f"{op}: axis {a!r} is out of range for a tensor of shape {shape}"
            )
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise InvalidArgumentError(f"{op}: repeated axis in {axis!r}")
    return tuple(normalized)


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """C = sum of A over ``axes``;  dA = dC broadcast back over those axes."""

    def forward(self, a: np.ndarray, *, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.shape = a.shape
        self.axes = axes
        return np.asarray(a.sum(axis=axes, keepdims=keepdims))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = grad.reshape(_keepdims_shape(self.shape, self.axes))
        return np.broadcast_to(grad, self.shape)


class Mean(Function):
    """C = mean of A over ``axes`` (N elements each);  dA = dC / N broadcast back."""

    def forward(self, a: np.ndarray, *, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.shape = a.shape
        self.axes = axes
        self.count = int(np.prod([a.shape[i] for i in axes]))
        return np.asarray(a.mean(axis=axes, keepdims=keepdims))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        grad = grad.reshape(_keepdims_shape(self.shape, self.axes)) / self.count
        return np.broadcast_to(grad, self.shape)


class Max(Function):
    """C = max of A over ``axes``.

    dA = dC * [A = C] / (number of maxima): the gradient goes to the maximum;
    when several elements tie it is shared equally between them (as
    ``torch.amax``).
    """

    def forward(self, a: np.ndarray, *, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        self.a = a
        self.axes = axes
        self.c = a.max(axis=axes, keepdims=True)
        return self.c if keepdims else np.squeeze(self.c, axis=axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        is_max = (self.a == self.c).astype(grad.dtype)
        is_max /= is_max.sum(axis=self.axes, keepdims=True)
        return grad.reshape(self.c.shape) * is_max


@equations_from(Sum)
def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default).

    Shapes
    ------
    A: any shape;  C: A's shape without the axes in ``axis`` (kept with size 1
    when ``keepdims``); a scalar () when ``axis`` is None

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2, 3], [4, 5, 6]])
    >>> print(F.sum(A).data, F.sum(A, axis=0).data, F.sum(A, axis=1, keepdims=True).shape)
    21.0 [5. 7. 9.] (2, 1)
    """
    return Sum.apply(a, axes=normalize_axes(axis, a.shape, "sum"), keepdims=keepdims)


@equations_from(Mean)
def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default).

    Shapes
    ------
    A: any shape;  C: A's shape without the axes in ``axis`` (kept with size 1
    when ``keepdims``); a scalar () when ``axis`` is None

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2, 3], [4, 5, 6]])
    >>> print(F.mean(A).data, F.mean(A, axis=1).data)
    3.5 [2. 5.]
    """
    return Mean.apply(a, axes=normalize_axes(axis, a.shape, "mean"), keepdims=keepdims)


@equations_from(Max)
def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis`` (all axes by default).

    Shapes
    ------
    A: any shape;  C: A's shape without the axes in ``axis`` (kept with size 1
    when ``keepdims``); a scalar () when ``axis`` is None

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 7, 3], [4, 5, 6]], requires_grad=True)
    >>> C = F.max(A, axis=1)
    >>> print(C.data)
    [7. 6.]
    >>> F.sum(C).backward()
    >>> print(A.grad)  # the gradient goes to each row's maximum
    [[0. 1. 0.]
     [0. 0. 1.]]
    """
    if a.size == 0:
        raise InvalidArgumentError("max of an empty tensor is undefined")
    return Max.apply(a, axes=normalize_axes(axis, a.shape, "max"), keepdims=keepdims)
