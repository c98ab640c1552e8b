"""ONNX's operators that join, reshape or move values: Add, Sum, Concat, Flatten, Reshape,
Transpose, Pad, Slice, Gather. They change a value's layout record (:mod:`.layouts`)
and insert a layer only where the numbers must move.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from convmath.errors import ConvMathError
from convmath.interop.onnx import folding
from convmath.interop.onnx.dense_ops import bias
from convmath.interop.onnx.importer import Importer, node_name
from convmath.interop.onnx.layouts import (
    CHANNELS_LAST,
    FlatHWC,
    Held,
    Permuted,
    Squeezed,
    identity,
    preferred,
)
from convmath.nn import Flatten, LayerScale
from convmath.nn.graph import Add, Concatenate, Multiply
from convmath.nn.layout import Reorder, Reshape, Slice, ZeroPad


def add(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    constants = [name for name in node.input if name in im.constants]
    if node.op_type == "Add" and len(constants) == 1 and len(node.input) == 2:
        return bias(im, node, constants[0])
    if constants:
        raise im.fail(node, "adds a constant; convmath adds one only as the bias of a MatMul")
    values = [im.held(node, k) for k in range(len(node.input))]
    if len({v.onnx_shape for v in values}) != 1:
        raise im.fail(
            node, f"adds shapes {[v.onnx_shape for v in values]}; convmath adds equal shapes only"
        )
    if len(values) == 1:
        return values[0]
    wanted = _common_layout(values)
    values = [im.convert(v, wanted) for v in values]
    return im.add(Add(), values, node_name(node), wanted)


def mul(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """The product of two values, broadcasting (a gate per channel, x * sigmoid(x))."""
    im.check_only(node, attrs, {})
    constants = [name for name in node.input if name in im.constants]
    if len(constants) == 1 and len(node.input) == 2:
        return scale(im, node, constants[0])
    values = [im.held(node, k) for k in range(len(node.input))]
    shapes = [v.onnx_shape for v in values]
    if len({len(s) for s in shapes}) != 1:
        raise im.fail(node, f"multiplies shapes {shapes}; convmath multiplies values of one rank")
    wanted = _common_layout(values)
    values = [im.convert(v, wanted) for v in values]
    try:
        return im.add(Multiply(), values, node_name(node), wanted)
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None


def scale(im: Importer, node: Any, name: str) -> Held:
    """A value times a constant of one number per channel (or one number): a LayerScale."""
    value = im.held(node, 1 - list(node.input).index(name))
    factor = im.constant(node, list(node.input).index(name))  # never the batch size
    rank = len(value.onnx_shape)
    shape = (1,) * (rank + 1 - factor.ndim) + factor.shape  # ONNX's broadcasting, from the right
    wide = [a - 1 for a, n in enumerate(shape) if n != 1]
    if factor.ndim > rank + 1 or len(wide) > 1 or (wide and wide[0] < 0):
        raise im.fail(
            node, f"multiplies {('N', *value.onnx_shape)} by a constant of shape {factor.shape};"
            " convmath scales by one number per channel (a LayerScale)"
        )  # fmt: skip
    if wide:
        axis = wide[0]
        if not isinstance(value.layout, Permuted) or value.layout.axes[-1] != axis:
            last = [a for a in range(rank) if a != axis] + [axis]
            value = im.convert(value, Permuted(tuple(last)))
        if factor.size != value.onnx_shape[axis]:
            raise im.fail(node, f"scales {value.onnx_shape[axis]} channels by {factor.size}")
    elif not isinstance(value.layout, Permuted):
        value = im.convert(value, preferred(rank))
    n_C = value.stored_shape[-1] if rank else 1
    layer = LayerScale(n_C)
    layer.gamma.data[...] = np.broadcast_to(factor.reshape(-1), (n_C,))
    return im.add(layer, [value], im.module_name(node), value.layout)


def _common_layout(values: list[Held]) -> Permuted:
    first = values[0].layout
    if isinstance(first, Permuted) and all(v.layout == first for v in values):
        return first
    return preferred(len(values[0].onnx_shape))


def concat(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"axis": None})
    values = [im.held(node, k) for k in range(len(node.input))]
    rank = len(values[0].onnx_shape)
    axis = int(attrs.get("axis", 1))
    axis = axis + rank + 1 if axis < 0 else axis
    if axis < 1 or axis > rank:
        raise im.fail(node, f"joins along axis {attrs.get('axis')}; convmath joins after the batch")
    wanted = _common_layout(values)
    values = [im.convert(v, wanted) for v in values]
    module = Concatenate(values[0].stored_axis(axis - 1))
    try:
        return im.add(module, values, node_name(node), wanted)
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None


def flatten(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"axis": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    axis = int(attrs.get("axis", 1))
    if (axis + rank if axis < 0 else axis) != 1:
        raise im.fail(node, f"has axis={axis}; convmath flattens all but the batch axis (1)")
    return flattened(im, node, value)


def flattened(im: Importer, node: Any, value: Held) -> Held:
    if isinstance(value.layout, Squeezed):
        return Held(value.name, value.onnx_shape[:1], identity(1))
    if len(value.onnx_shape) == 1:
        return value
    if value.layout == Permuted(CHANNELS_LAST):
        c, h, w = value.onnx_shape
        return im.add(Flatten(), [value], node_name(node), FlatHWC(c, h, w))
    plain = im.convert(value, identity(len(value.onnx_shape)))
    return im.add(Flatten(), [plain], node_name(node), identity(1))


def reshape(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """A reshape that keeps the batch: a flatten, or any example shape (in ONNX's order).

    The target's first size must be the batch: 0 (copy it), the batch size
    folded from a Shape (see .folding), or -1 with the example's sizes all given.
    """
    im.check_only(node, attrs, {"allowzero": (0, 1)})
    value = im.held(node)
    mark = im.batch_mark(node, 1)
    raw = im.constants.get(node.input[1]) if len(node.input) > 1 else None
    if raw is None:
        raw = im.constant(node, 1)  # its refusal: not a constant
    shape = [int(n) for n in raw.reshape(-1)]
    marks = [bool(b) for b in mark.reshape(-1)] if mark is not None else [False] * len(shape)
    if attrs.get("allowzero", 0) and 0 in shape:
        raise im.fail(node, f"reshapes to {shape} with allowzero=1: a size of 0, an empty value")
    if any(marks[1:]):
        raise im.fail(node, f"reshapes to {shape} with the batch size after the first axis")
    size = math.prod(value.onnx_shape)
    given = shape[1:]
    if not shape or not (marks[0] or shape[0] == 0 or (shape[0] == -1 and -1 not in given)):
        raise im.fail(
            node, f"reshapes {('N', *value.onnx_shape)} to {shape}; convmath keeps the batch as"
            " the first size (0, -1 or the input's batch size)"
        )  # fmt: skip
    try:
        example = folding.reshaped(given, value.onnx_shape, allowzero=False) if given else ()
    except folding.FoldError:
        raise im.fail(node, f"cannot reshape {('N', *value.onnx_shape)} to {shape}") from None
    if math.prod(example) != size or not example:
        raise im.fail(node, f"cannot reshape {('N', *value.onnx_shape)} to {shape}")
    if len(example) == 1:
        return flattened(im, node, value)
    if example == value.onnx_shape:
        return value
    plain = im.convert(value, identity(len(value.onnx_shape)))
    return im.add(Reshape(example), [plain], node_name(node), identity(len(example)))


def transpose(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"perm": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    perm = [int(p) for p in attrs.get("perm", reversed(range(rank)))]
    if sorted(perm) != list(range(rank)) or perm[0] != 0:
        raise im.fail(node, f"has perm {perm}; convmath keeps the batch axis first")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, identity(rank - 1))
    p = [a - 1 for a in perm[1:]]  # onnx_out = onnx_in.transpose(p)
    inverse = np.argsort(p)
    axes = tuple(int(inverse[a]) for a in value.layout.axes)  # the same stored array
    shape = tuple(value.onnx_shape[a] for a in p)
    return Held(value.name, shape, Permuted(axes))


def pad(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"mode": ("constant",), "pads": None, "value": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    pads = attrs.get("pads") if im.opset < 11 else im.constant(node, 1).reshape(-1)
    fill = attrs.get("value", 0.0)
    if im.opset >= 11 and len(node.input) > 2 and node.input[2]:
        fill = float(im.constant(node, 2).reshape(-1)[0])
    if len(node.input) > 3 and node.input[3]:
        raise im.fail(node, "pads chosen axes; convmath reads pads for every axis")
    pads = [int(p) for p in pads]
    if fill != 0 or len(pads) != 2 * rank or min(pads) < 0 or pads[0] or pads[rank]:
        raise im.fail(node, f"pads {pads} with {fill}; convmath pads zeros, not along the batch")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, preferred(rank - 1))
    widths = [(0, 0)] * (rank - 1)
    for a in range(rank - 1):
        widths[value.stored_axis(a)] = (pads[a + 1], pads[rank + a + 1])
    return im.add(ZeroPad(widths), [value], node_name(node), value.layout)


def slice_(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"starts": None, "ends": None, "axes": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    if im.opset < 10:
        starts, ends = attrs.get("starts", []), attrs.get("ends", [])
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = im.constant(node, 1).reshape(-1), im.constant(node, 2).reshape(-1)
        axes = im.constant(node, 3, np.arange(len(starts))).reshape(-1)
        steps = im.constant(node, 4, np.ones(len(starts), dtype=np.int64)).reshape(-1)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise im.fail(node, "has starts, ends, axes and steps of different lengths")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, preferred(rank - 1))
    ranges = [(0, n, 1) for n in value.stored_shape]
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = int(axis) + rank if int(axis) < 0 else int(axis)
        if axis < 1 or axis >= rank or int(step) < 1:
            raise im.fail(node, f"slices axis {axis} with step {step}; convmath slices past the"
                          " batch, with positive steps")  # fmt: skip
        n = value.onnx_shape[axis - 1]
        begin, stop, stride = slice(int(start), int(end), int(step)).indices(n)
        ranges[value.stored_axis(axis - 1)] = (begin, stop, stride)
    return im.add(Slice(ranges), [value], node_name(node), value.layout)


def gather(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """A fixed reordering of the features of an (N, n) matrix."""
    im.check_only(node, attrs, {"axis": None})
    if int(attrs.get("axis", 0)) not in (1, -1):  # ONNX's default, 0, is the batch axis
        raise im.fail(
            node, f"gathers along axis {attrs.get('axis', 0)}; convmath reorders features"
        )
    value = im.flat(node)
    indices = im.constant(node, 1)
    n = value.onnx_shape[0]
    if indices.ndim != 1 or indices.dtype.kind != "i" or ((indices < -n) | (indices >= n)).any():
        raise im.fail(
            node, f"gathers {indices.shape} indices; convmath reorders features in 0..{n - 1}"
        )
    if len(indices) != n:
        raise im.fail(
            node, f"gathers {len(indices)} of {n} features; convmath reorders all of them"
        )
    im.reserve_indices(n)  # the layer's own index array, counted before it is made
    indices = indices % n
    if isinstance(value.layout, FlatHWC):  # compose with the held order: one gather
        indices = value.layout.stored_index_of_onnx()[indices]
    if np.array_equal(indices, np.arange(n)):
        return Held(value.name, (n,), identity(1))
    return im.add(Reorder(indices), [value], node_name(node), identity(1))
