"""How an ONNX value is held in convmath while a graph is imported.

ONNX volumes are NCHW, convmath's are channels-last. Rather than transpose
at every step, each imported value records how its convmath form relates
to its ONNX form, and a step converts only when its reader needs another:

- ``Permuted(axes)``: one example is the ONNX example with its axes
  permuted, ``stored = onnx.transpose(axes)``; ``(1, 2, 0)`` is a volume
  held channels-last (what CONV and POOL layers read), ``(0, 1, 2)`` one
  held as ONNX has it. A Transpose node only changes this record.
- ``FlatHWC(c, h, w)``: ONNX's flattened (C, H, W) vector, held in
  convmath's (H, W, C) order, as convmath's Flatten gives it; a Dense layer
  that reads it has its weight rows permuted instead of the vector.
- ``Squeezed()``: ONNX's (C, 1, 1) after a global average pool, held as (C,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convmath.nn import Module
from convmath.nn.layout import Permute, Reorder, Reshape

CHANNELS_LAST = (1, 2, 0)


@dataclass(frozen=True)
class Permuted:
    axes: tuple[int, ...]


@dataclass(frozen=True)
class FlatHWC:
    c: int
    h: int
    w: int

    def stored_index_of_onnx(self) -> np.ndarray:
        """For ONNX feature k (in (C, H, W) order), its index in the (H, W, C) order."""
        return (
            np.arange(self.h * self.w * self.c)
            .reshape(self.h, self.w, self.c)
            .transpose(2, 0, 1)
            .ravel()
        )


@dataclass(frozen=True)
class Squeezed:
    pass


Layout = Permuted | FlatHWC | Squeezed


@dataclass(frozen=True)
class Held:
    """An imported value: its convmath name, one ONNX example's shape, and its layout."""

    name: str
    onnx_shape: tuple[int, ...]
    layout: Layout

    @property
    def stored_shape(self) -> tuple[int, ...]:
        layout = self.layout
        if isinstance(layout, Permuted):
            if len(layout.axes) == 1:  # (n,): the common case, kept as it is
                return self.onnx_shape
            return tuple(self.onnx_shape[a] for a in layout.axes)
        if isinstance(layout, FlatHWC):
            return self.onnx_shape
        return self.onnx_shape[:1]

    def stored_axis(self, onnx_axis: int) -> int:
        """Where ONNX's example axis ``onnx_axis`` is held (a Permuted value only)."""
        assert isinstance(self.layout, Permuted)
        return self.layout.axes.index(onnx_axis)


def identity(rank: int) -> Permuted:
    return Permuted(tuple(range(rank)))


def preferred(rank: int) -> Permuted:
    """How convmath holds an ONNX example of ``rank`` axes: volumes channels-last."""
    return Permuted(CHANNELS_LAST) if rank == 3 else identity(rank)


def conversion(value: Held, wanted: Permuted) -> Module | None:
    """The module that turns ``value`` into the layout ``wanted``, or None if it is already."""
    layout = value.layout
    if isinstance(layout, FlatHWC):
        # ONNX feature k is held at stored_index_of_onnx()[k]: gather them in ONNX's order.
        return Reorder(layout.stored_index_of_onnx())
    if isinstance(layout, Squeezed):
        return Reshape(tuple(value.onnx_shape[a] for a in wanted.axes))
    if layout == wanted:
        return None
    inverse = np.argsort(layout.axes)
    return Permute([int(inverse[a]) for a in wanted.axes])
