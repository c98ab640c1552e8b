"""Layers that move values, computing none: flatten, permute, reorder, slice, pad, reshape.

Every CNN flattens its last volume into the vector an FC layer takes. The
others are rarely needed by convmath's own models; a graph imported from
ONNX needs them where a layout-sensitive step (an NCHW flatten, a channel
slice, a pad) must give exactly what it gave in the exporter's layout. Each
works on one example's axes; the batch axis is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import convmath.functional as F
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class Flatten(Module):
    """(n_H, n_W, n_C) -> (n_H*n_W*n_C,), channels-last order.

    Value (h, w, c) of an example lands at (h*n_W + w)*n_C + c.

    Shapes
    ------
    A_prev: (m, n_H, n_W, n_C)
    A: (m, n_H*n_W*n_C); no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> nn.Flatten().output_shape((5, 5, 16))
    (400,)
    >>> A = Tensor(np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3))
    >>> print(A.data[0, 0, 1])  # (h, w) = (0, 1): its 3 channels
    [3. 4. 5.]
    >>> print(nn.Flatten()(A).data)  # they are values 3, 4, 5 of the flat vector
    [[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11.]]
    """

    output_symbol = None  # values moved, not computed: they keep their name

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (int(np.prod(input_shape)),)

    def formulas(self, input_shape: Shape) -> list[str]:
        sizes = "*".join(str(n) for n in input_shape)
        return [f"n_H*n_W*n_C = {sizes} = {int(np.prod(input_shape))} (channels-last order)"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dA^[l] reshaped back to {tuple(input_shape)}"]


class Permute(Module):
    """A[i_0, i_1, ...] -> A[i_axes[0], i_axes[1], ...]: one example's axes in a new order."""

    output_symbol = None  # values moved, not computed: they keep their name

    def __init__(self, axes: Sequence[int]) -> None:
        super().__init__()
        self.axes = tuple(int(a) for a in axes)

    def forward(self, x: Tensor) -> Tensor:
        return F.transpose(x, (0, *(a + 1 for a in self.axes)))

    def output_shape(self, input_shape: Shape) -> Shape:
        if sorted(self.axes) != list(range(len(input_shape))):
            raise self.fail(f"axes {self.axes} do not permute an example of shape {input_shape}")
        return tuple(input_shape[a] for a in self.axes)

    def details(self) -> str:
        return f"axes {self.axes}"


class Reorder(Module):
    """(n,) -> (n,): feature j of the output is feature ``indices[j]`` of the input."""

    output_symbol = None  # values moved, not computed: they keep their name

    def __init__(self, indices: np.ndarray) -> None:
        super().__init__()
        self.indices = np.asarray(indices, dtype=np.intp)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.indices]

    def output_shape(self, input_shape: Shape) -> Shape:
        if tuple(input_shape) != (len(self.indices),):
            raise self.fail(
                f"reorders {len(self.indices)} features; got an example of {input_shape}"
            )
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [f"the {len(self.indices)} features in another order (a fixed permutation)"]


class Slice(Module):
    """One example's ``A[start:stop:step, ...]``, one (start, stop, step) per axis."""

    output_symbol = None  # values moved, not computed: they keep their name

    def __init__(self, ranges: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        self.ranges = tuple(tuple(int(v) for v in r) for r in ranges)

    def forward(self, x: Tensor) -> Tensor:
        return x[(slice(None), *(slice(*r) for r in self.ranges))]

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(self.ranges) != len(input_shape):
            raise self.fail(f"slices {len(self.ranges)} axes of an example of shape {input_shape}")
        return tuple(
            len(range(*slice(*r).indices(n))) for r, n in zip(self.ranges, input_shape, strict=True)
        )

    def details(self) -> str:
        return ", ".join(f"{a}:{b}:{c}" for a, b, c in self.ranges)


class ZeroPad(Module):
    """One example padded with zeros: (before, after) for each of its axes."""

    output_symbol = None  # values moved, not computed: they keep their name

    def __init__(self, widths: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.widths = tuple((int(a), int(b)) for a, b in widths)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, [(0, 0), *self.widths])

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(self.widths) != len(input_shape):
            raise self.fail(f"pads {len(self.widths)} axes of an example of shape {input_shape}")
        return tuple(n + a + b for n, (a, b) in zip(input_shape, self.widths, strict=True))

    def details(self) -> str:
        return f"widths {self.widths}"


class Reshape(Module):
    """One example reshaped to ``shape`` (its values in the same order)."""

    output_symbol = None  # values moved, not computed: they keep their name

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(n) for n in shape)

    def forward(self, x: Tensor) -> Tensor:
        return F.reshape(x, (x.shape[0], *self.shape))

    def output_shape(self, input_shape: Shape) -> Shape:
        if int(np.prod(input_shape)) != int(np.prod(self.shape)):
            raise self.fail(f"cannot reshape an example of shape {input_shape} to {self.shape}")
        return self.shape

    def details(self) -> str:
        return f"to {self.shape}"
