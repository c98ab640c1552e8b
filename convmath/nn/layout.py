"""Layers that move values, computing none: flatten, channel shuffle and slice, permute,
reorder, slice, pad, reshape.

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
from convmath.errors import InvalidArgumentError
from convmath.nn.module import Module, Shape, volume
from convmath.shapes import positive_int
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


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle: channel j of group k (of g groups) moves to j*g + k.

    Shapes
    ------
    A_prev: (m, n_H, n_W, n_C), n_C a multiple of g
    A: the same shape, the channels interleaved; no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> A = Tensor(np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6))
    >>> print(nn.ChannelShuffle(2)(A).data.ravel())  # groups [0 1 2] and [3 4 5]
    [0. 3. 1. 4. 2. 5.]
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = positive_int(groups, "ChannelShuffle groups")

    def forward(self, x: Tensor) -> Tensor:
        return F.channel_shuffle(x, self.groups)

    def output_shape(self, input_shape: Shape) -> Shape:
        n_C = volume(self, input_shape)[2]
        if n_C % self.groups:
            raise self.fail(
                f"shuffles {self.groups} groups, but the input has n_C = {n_C}"
                f" (shape {tuple(input_shape)}), not a multiple of {self.groups}"
            )
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        n_C, g = volume(self, input_shape)[2], self.groups
        return [
            f"(n_H, n_W, {n_C}) viewed as (n_H, n_W, {g}, {n_C // g}), the last two axes"
            f" swapped, viewed back: channel k*{n_C // g} + j -> j*{g} + k; nothing computed"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        n_C, g = volume(self, input_shape)[2], self.groups
        return [f"dA_prev = dA with the inverse shuffle ({n_C // g} groups of {g})"]

    def details(self) -> str:
        return f"groups={self.groups}"


class ChannelSlice(Module):
    """Channels start to stop - 1 of the input: one piece of a split along the channels.

    A split gives several tensors and a layer gives one, so a split is one
    ChannelSlice per piece (ShuffleNetV2 halves its channels with two); the
    engine adds the pieces' gradients back into dA_prev.

    Shapes
    ------
    A_prev: (m, n_H, n_W, n_C)
    A: (m, n_H, n_W, stop - start); no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> A = Tensor(np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6))
    >>> print(nn.ChannelSlice(2, 5)(A).data.ravel())
    [2. 3. 4.]
    >>> nn.ChannelSlice(0, 58).output_shape((28, 28, 116))
    (28, 28, 58)
    """

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        if isinstance(start, bool) or isinstance(stop, bool):
            raise InvalidArgumentError(f"ChannelSlice takes integers, got {start!r}, {stop!r}")
        if not 0 <= int(start) < int(stop):
            raise InvalidArgumentError(
                f"ChannelSlice needs 0 <= start < stop, got start={start}, stop={stop}"
            )
        self.start, self.stop = int(start), int(stop)

    def forward(self, x: Tensor) -> Tensor:
        return x[..., self.start : self.stop]

    def output_shape(self, input_shape: Shape) -> Shape:
        n_H, n_W, n_C = volume(self, input_shape)
        if self.stop > n_C:
            raise self.fail(
                f"takes channels {self.start}:{self.stop} but the input has shape"
                f" {tuple(input_shape)} (n_C = {n_C})"
            )
        return (n_H, n_W, self.stop - self.start)

    def formulas(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        return [f"A = A_prev[..., {self.start}:{self.stop}] -> {out}; nothing computed"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"dA_prev {tuple(input_shape)}: dA in channels {self.start}:{self.stop}, 0 elsewhere"
            " (added to the other pieces' gradients)"
        ]

    def details(self) -> str:
        return f"channels {self.start}:{self.stop}"


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
