"""Ops that move values around without changing them.

reshape, transpose, flatten, pad, indexing, concat and split, channel shuffle. Their backward moves
dC back to where each value came from: the inverse reshape or permutation,
the un-padded slice, a scatter into zeros, or a split.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class Reshape(Function):
    """C = A viewed with a new shape (same elements, row-major order);  dA = dC reshaped back."""

    def forward(self, a: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(
                f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}"
            ) from None

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self.shape)


class Transpose(Function):
    """C = A with its axes permuted: C.shape[i] = A.shape[axes[i]];  dA = dC permuted back."""

    def forward(self, a: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
        self.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.transpose(self.inverse)


class Pad(Function):
    """C = A with zeros added: ``widths[k] = (before, after)`` on axis k.

    dA = dC[before_0 : n_0 - after_0, before_1 : ..., ...], the un-padded part.
    """

    def forward(self, a: np.ndarray, *, widths: tuple[tuple[int, int], ...]) -> np.ndarray:
        self.window = tuple(
            slice(before, before + n) for (before, _), n in zip(widths, a.shape, strict=True)
        )
        return np.pad(a, widths)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad[self.window]


class GetItem(Function):
    """C = A[index] (NumPy basic or advanced indexing).

    dA = zeros of A's shape with dC added at the indexed positions (repeated
    positions of an advanced index receive the sum of their gradients).
    """

    def forward(self, a: np.ndarray, *, index: Any) -> np.ndarray:
        self.shape = a.shape
        self.index = index
        return a[index]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        da = np.zeros(self.shape, dtype=grad.dtype)
        if _is_basic_index(self.index):
            da[self.index] = grad
        else:
            np.add.at(da, self.index, grad)
        return da


class Concat(Function):
    """C = [A_1, A_2, ...] joined along ``axis`` (Inception's channel concatenation).

    dA_k = the slice of dC along ``axis`` that A_k occupies.
    """

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(grad, self.bounds, axis=self.axis))


class ChannelShuffle(Function):
    """ShuffleNet's channel shuffle of g groups of n_C/g channels each (Zhang et al. 2017).

    Channel c = k (n_C/g) + j (channel j of group k) moves to c' = j g + k: A is
    viewed as (m, n_H, n_W, g, n_C/g), its last two axes swapped, and viewed as
    (m, n_H, n_W, n_C) again, so that each next group convolution sees channels
    of every group. Z[..., j g + k] = A[..., k (n_C/g) + j].

    Backward: the inverse permutation, dA[..., k (n_C/g) + j] = dZ[..., j g + k]
    (the same shuffle with n_C/g groups).
    """

    def forward(self, a: np.ndarray, *, groups: int) -> np.ndarray:
        self.groups = groups
        return _shuffled(a, groups)

    def backward(self, dz: np.ndarray) -> np.ndarray:
        return _shuffled(dz, dz.shape[-1] // self.groups)


def _shuffled(a: np.ndarray, g: int) -> np.ndarray:
    *rest, n_C = a.shape
    return a.reshape(*rest, g, n_C // g).swapaxes(-1, -2).reshape(a.shape)


def _index(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidArgumentError(f"{what} must be integers, got {value!r}") from None


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts)


@equations_from(Reshape)
def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """A with a new shape (one entry may be -1).

    Shapes
    ------
    A: any shape;  C: ``shape``, with as many elements as A

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(6))
    >>> print(F.reshape(A, (2, -1)).data)
    [[0. 1. 2.]
     [3. 4. 5.]]
    """
    return Reshape.apply(a, shape=tuple(_index(n, "reshape sizes") for n in shape))


@equations_from(Transpose)
def transpose(a: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them by default).

    Shapes
    ------
    A: (n_0, n_1, ...);  C: (n_axes[0], n_axes[1], ...)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.zeros((64, 28, 28, 3)))  # channels-last (m, n_H, n_W, n_C)
    >>> F.transpose(A, (0, 3, 1, 2)).shape  # to NCHW, as PyTorch and ONNX hold it
    (64, 3, 28, 28)
    >>> print(F.transpose(Tensor([[1, 2, 3]])).data)
    [[1.]
     [2.]
     [3.]]
    """
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    axes = tuple(_index(i, "transpose axes") for i in axes)
    in_range = all(-a.ndim <= i < a.ndim for i in axes)
    if (
        len(axes) != a.ndim
        or not in_range
        or sorted(i % a.ndim for i in axes) != list(range(a.ndim))
    ):
        raise InvalidArgumentError(
            f"axes {axes} is not a permutation of the {a.ndim} axes of shape {a.shape}"
        )
    return Transpose.apply(a, axes=tuple(i % a.ndim for i in axes))


def flatten(a: Tensor) -> Tensor:
    """(m, n_H, n_W, n_C) -> (m, n_H*n_W*n_C), keeping the batch axis.

    Channels-last order: the flat index is (h*n_W + w)*n_C + c, which differs
    from PyTorch's (c*n_H + h)*n_W + w; weights exported to NCHW frameworks
    must be permuted accordingly.

    Backward: dA = dC reshaped back to (m, n_H, n_W, n_C).

    Shapes
    ------
    A: (m, n_H, n_W, n_C) (or any (m, ...));  C: (m, n_H*n_W*n_C)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(12).reshape(1, 2, 2, 3))
    >>> print(F.flatten(A).data)  # (h, w, c) lands at (h*n_W + w)*n_C + c
    [[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11.]]
    >>> F.flatten(Tensor(np.zeros((64, 5, 5, 16)))).shape
    (64, 400)
    """
    if a.ndim < 1:
        raise ShapeError("flatten needs a batch axis; got a 0-d tensor")
    return Reshape.apply(a, shape=(a.shape[0], int(np.prod(a.shape[1:]))))


@equations_from(Pad)
def pad(a: Tensor, widths: Sequence[tuple[int, int]] | Sequence[int]) -> Tensor:
    """Pad with zeros: ``widths`` gives (before, after) for each axis.

    A flat sequence of ints is read as one (before, after) pair per axis
    listed in order. For padding an image batch (m, n_H, n_W, n_C) by p on
    each side use ``pad(A, [(0, 0), (p, p), (p, p), (0, 0)])``.

    Shapes
    ------
    A: (n_0, n_1, ...);  C: (n_0 + before_0 + after_0, n_1 + before_1 + after_1, ...)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.ones((1, 6, 6, 1)))
    >>> F.pad(A, [(0, 0), (1, 1), (1, 1), (0, 0)]).shape  # the article's p = 1: 6x6 -> 8x8
    (1, 8, 8, 1)
    >>> print(F.pad(Tensor([[1, 2]]), [(0, 0), (1, 2)]).data)
    [[0. 1. 2. 0. 0.]]
    """
    if not isinstance(widths, Sequence) or isinstance(widths, str):
        raise InvalidArgumentError(
            f"pad widths must be a sequence of (before, after) pairs, one per axis; got {widths!r}"
        )
    pairs = list(widths)
    if pairs and all(isinstance(w, int | np.integer) for w in pairs):
        if len(pairs) % 2:
            raise InvalidArgumentError(f"pad widths {widths!r} must come in (before, after) pairs")
        pairs = [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    if len(pairs) != a.ndim:
        raise ShapeError(
            f"pad needs one (before, after) pair per axis: the tensor has shape {a.shape}"
            f" ({a.ndim} axes) but got {len(pairs)} pair(s)"
        )
    checked = []
    for pair_ in pairs:
        if not isinstance(pair_, Sequence) or len(pair_) != 2:
            raise InvalidArgumentError(f"pad widths must be (before, after) pairs, got {pair_!r}")
        before, after = (_index(v, "pad widths") for v in pair_)
        if before < 0 or after < 0:
            raise InvalidArgumentError(f"pad widths must be >= 0, got {widths!r}")
        checked.append((before, after))
    return Pad.apply(a, widths=tuple(checked))


@equations_from(GetItem)
def getitem(a: Tensor, index: Any) -> Tensor:
    """A[index] with NumPy indexing semantics (also written ``A[index]``).

    Shapes
    ------
    A: any shape;  C: the shape NumPy gives ``A.data[index]``

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(12).reshape(3, 4), requires_grad=True)
    >>> C = F.getitem(A, (slice(None), [0, 0, 3]))  # columns 0, 0 and 3
    >>> print(C.data)
    [[ 0.  0.  3.]
     [ 4.  4.  7.]
     [ 8.  8. 11.]]
    >>> F.sum(C).backward()
    >>> print(A.grad)  # column 0 was read twice: its gradients add up
    [[2. 0. 0. 1.]
     [2. 0. 0. 1.]
     [2. 0. 0. 1.]]
    """
    if isinstance(index, Tensor):
        index = index.data.astype(np.intp)
    elif isinstance(index, tuple):
        index = tuple(i.data.astype(np.intp) if isinstance(i, Tensor) else i for i in index)
    return GetItem.apply(a, index=index)


@equations_from(Concat)
def concat(tensors: Sequence[Tensor], axis: int = -1) -> Tensor:
    """Join tensors along ``axis`` (channels by default).

    All other axes must agree; e.g. Inception branches (m, n_H, n_W, n_C_k)
    give (m, n_H, n_W, sum of n_C_k).

    Shapes
    ------
    A_k: (m, n_H, n_W, n_C_k), equal on every axis but ``axis``;  C: (m, n_H, n_W, sum of n_C_k)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> branches = [Tensor(np.zeros((8, 28, 28, n_C))) for n_C in (64, 128, 32, 32)]
    >>> F.concat(branches).shape  # Inception 3a: 64 + 128 + 32 + 32 channels
    (8, 28, 28, 256)
    >>> print(F.concat([Tensor([[1, 2]]), Tensor([[3]])]).data)
    [[1. 2. 3.]]
    """
    tensors = list(tensors)
    if not tensors:
        raise InvalidArgumentError("concat needs at least one tensor")
    same_dtype(tensors, "concat")
    ndim = tensors[0].ndim
    if not -ndim <= axis < ndim:
        raise InvalidArgumentError(f"axis {axis} is out of range for tensors with {ndim} axes")
    axis %= ndim
    reference = tensors[0].shape
    for k, t in enumerate(tensors):
        if t.ndim != ndim or any(
            n != r for i, (n, r) in enumerate(zip(t.shape, reference, strict=True)) if i != axis
        ):
            raise ShapeError(
                f"concat along axis {axis}: tensor {k} has shape {t.shape}, which does not match"
                f" {reference} on the other axes"
            )
    return Concat.apply(*tensors, axis=axis)


def split(a: Tensor, sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """A cut along ``axis`` (channels by default) into equal ``sections`` or given sizes.

    Each piece is a slice of A (``A[..., start:stop]``); the engine adds the
    gradients of the pieces back into dA, each in its place (a piece nobody
    uses contributes zeros). ONNX's Split, ``torch.chunk`` and ``torch.split``.

    Shapes
    ------
    A: (m, n_H, n_W, n_C);  pieces: (m, n_H, n_W, n_C_k), with sum of n_C_k = n_C

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(6.0).reshape(1, 1, 1, 6))
    >>> [piece.data.ravel().tolist() for piece in F.split(A, 2)]  # ShuffleNetV2's halves
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    >>> [piece.shape[-1] for piece in F.split(A, [1, 5])]
    [1, 5]
    """
    if not -a.ndim <= axis < a.ndim:
        raise InvalidArgumentError(f"axis {axis} is out of range for a tensor with {a.ndim} axes")
    axis %= a.ndim
    n = a.shape[axis]
    if isinstance(sections, int | np.integer) and not isinstance(sections, bool):
        if sections < 1 or n % sections:
            raise ShapeError(
                f"split: {n} values along axis {axis} do not cut into {sections} equal sections"
            )
        sizes = [n // int(sections)] * int(sections)
    else:
        sizes = [_index(size, "split sizes") for size in sections]
        if not sizes or min(sizes) < 0 or sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} must be >= 0 and add up to {n} (axis {axis})")
    bounds = np.cumsum([0, *sizes])
    lead = (slice(None),) * axis
    return [getitem(a, (*lead, slice(int(b), int(e)))) for b, e in itertools.pairwise(bounds)]


@equations_from(ChannelShuffle)
def channel_shuffle(a: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups (ShuffleNet), channels-last.

    Shapes
    ------
    A: (..., n_C), n_C divisible by ``groups``;  Z: the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(6.0).reshape(1, 1, 1, 6))  # groups [0 1 2] and [3 4 5]
    >>> print(F.channel_shuffle(A, 2).data.ravel())
    [0. 3. 1. 4. 2. 5.]
    """
    g = _index(groups, "channel_shuffle groups")
    n_C = a.shape[-1] if a.ndim else 0
    if g < 1 or a.ndim < 2 or n_C % g:
        raise ShapeError(
            f"channel_shuffle: n_C = {n_C} (the last axis of {a.shape}) must be a multiple of"
            f" groups = {groups}"
        )
    return ChannelShuffle.apply(a, groups=g)
