"""Shape arithmetic and constants evaluated once, at import: what PyTorch's exporter writes
around the layers.

``torch.onnx.export`` writes a weight shared by two layers as an ``Identity``
of an initializer, and the sizes a module computes in Python (the zero
channels of an option-A shortcut, ``x.view(x.size(0), -1)``) as small graphs
of integers: ``Shape``, ``Gather``, ``Unsqueeze``, ``Concat``,
``ConstantOfShape``... With the input's channels and sides fixed, every such
node computes a constant; the importer evaluates it here, once, and the
layers that read it see a constant (an initializer) as before.

The batch size is the one size left free. ``Shape`` of a value gives its
first entry as the *batch mark* (a mask travels with the constant): Gather,
Unsqueeze, Squeeze, Concat, Slice, Reshape, Transpose, Cast and Identity
carry it along, a ``Reshape`` of a value reads it as "the batch, unchanged"
(the flatten ``x.view(x.size(0), -1)``), and anything that computes with it
(an arithmetic node, a ``ConstantOfShape``, an ``Expand``) is refused.

Every result is bounded: a node that makes values (ConstantOfShape, Range,
Expand, Concat, Gather, the arithmetic) has its element count checked
against :data:`MAX_FOLDED_ELEMENTS` before it makes them, one that moves
them (Cast, Reshape, Transpose, Squeeze, Unsqueeze, Slice, Identity) gives
no more than it reads; and every new array counts, as bytes, against the
memory limit with the rest of the model (:meth:`Importer.check_memory`).
Each node costs time in proportion to what it reads and gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from convmath import limits
from convmath.interop.onnx.read import DTYPES

MAX_FOLDED_ELEMENTS = limits.MAX_BUFFER_ELEMENTS  # one folded constant: 4 Mi values
INTEGER_LIMIT = 2**62  # folded integer arithmetic stays well inside int64
# ONNX's TensorProto types a Cast or a ConstantOfShape may give: DTYPES, and booleans.
FOLDED_DTYPES: dict[int, Any] = {**DTYPES, 9: np.bool_}


@dataclass(frozen=True)
class Folded:
    """A constant, with the mask of its entries that stand for the (free) batch size."""

    value: np.ndarray
    batch: np.ndarray | None = None  # bool, the value's shape; None: no entry is the batch

    def __post_init__(self) -> None:  # NumPy gives scalars for 0-d results: arrays, always
        object.__setattr__(self, "value", np.asarray(self.value))
        if self.batch is not None:
            object.__setattr__(self, "batch", np.asarray(self.batch, dtype=bool))

    def marked(self) -> bool:
        return self.batch is not None and bool(self.batch.any())


class FoldError(ValueError):
    """A folding node's inputs or attributes that convmath refuses (the importer names it)."""


Fold = Callable[[Any, list[Folded], dict[str, Any]], Folded]


def count(shape: Any) -> int:
    """The number of elements of ``shape``, checked against :data:`MAX_FOLDED_ELEMENTS`."""
    sizes = [int(n) for n in shape]
    if any(n < 0 for n in sizes):
        raise FoldError(f"gives a shape with a negative size {sizes}")
    total = math.prod(sizes)
    if total > MAX_FOLDED_ELEMENTS:
        raise FoldError(
            f"would make a constant of {total:,} values (shape {sizes}), over the"
            f" {MAX_FOLDED_ELEMENTS:,} convmath folds"
        )
    return total


def _plain(x: Folded, what: str) -> np.ndarray:
    """``x``'s value, refused where an entry stands for the batch size."""
    if x.marked():
        raise FoldError(
            f"computes {what} from the batch size, which convmath leaves free; convmath"
            f" folds sizes that the input's fixed channels and sides give"
        )
    return x.value


def _integers(x: Folded, what: str) -> list[int]:
    value = _plain(x, what)
    if value.dtype.kind not in "iub" or value.ndim > 1:
        raise FoldError(f"has {what} {value.tolist()!r}; expected integers")
    return [int(v) for v in value.reshape(-1)]


def _scalar(x: Folded, what: str) -> Any:
    value = _plain(x, what)
    if value.size != 1:
        raise FoldError(f"has {what} of shape {value.shape}; expected one number")
    return value.reshape(-1)[0]


def _mask(x: Folded) -> np.ndarray:
    return x.batch if x.batch is not None else np.zeros(x.value.shape, dtype=bool)


def _carry(value: np.ndarray, inputs: list[Folded], move: Callable[[np.ndarray], Any]) -> Folded:
    """``value``, with the batch mask of the first input moved as its values were."""
    first = inputs[0]
    if not first.marked():
        return Folded(value)
    return Folded(value, np.asarray(move(_mask(first)), dtype=bool))


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise FoldError(f"has axis {axis} for a rank-{rank} input")
    return axis % rank


def _axes(node: Any, inputs: list[Folded], attrs: dict[str, Any], k: int = 1) -> list[int]:
    """Unsqueeze's and Squeeze's axes: an input since opset 13, an attribute before."""
    if len(inputs) > k:
        return _integers(inputs[k], "axes")
    return [int(a) for a in attrs.get("axes", [])]


# ---------------------------------------------------------------- the folding nodes
def identity(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    return inputs[0]


def cast(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    to = int(attrs.get("to", 0))
    if to not in FOLDED_DTYPES:
        raise FoldError(f"casts to ONNX type {to}; convmath folds to {sorted(FOLDED_DTYPES)}")
    value = inputs[0].value
    dtype = np.dtype(FOLDED_DTYPES[to])
    if dtype.kind in "iu" and value.dtype.kind == "f":
        if not np.isfinite(value).all() or (np.abs(value) >= INTEGER_LIMIT).any():
            raise FoldError("casts NaN, infinite or huge values to integers")
        value = np.trunc(value)
    if dtype.kind in "iu" and value.dtype.kind in "iuf":  # never wrapped: 300 in uint8 is 44
        _fits(value, dtype, "casts")
    with np.errstate(over="ignore"):
        cast_value = value.astype(dtype)
    if dtype.kind == "f" and not np.isfinite(cast_value[np.isfinite(value)]).all():
        raise FoldError(f"casts values that overflow {dtype.name}")
    return _carry(cast_value, inputs, lambda m: m)


def shape_of(shape: tuple[int, ...], attrs: dict[str, Any], batch: bool) -> Folded:
    """ONNX's Shape of a value of ``shape`` (start and end attributes, opset 15)."""
    rank = len(shape)
    start, end = int(attrs.get("start", 0)), int(attrs.get("end", rank))
    part = slice(*slice(start, end).indices(rank)[:2])
    value = np.array(shape, dtype=np.int64)[part]
    mask = np.zeros(rank, dtype=bool)
    mask[0] = batch
    return Folded(value, mask[part]) if batch else Folded(value)


def shape(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    return shape_of(inputs[0].value.shape, attrs, batch=False)


def gather(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    indices = _plain(inputs[1], "its indices")
    if indices.dtype.kind not in "iu":
        raise FoldError(f"gathers with indices of type {indices.dtype}")
    axis = _axis(int(attrs.get("axis", 0)), max(data.ndim, 1))
    n = data.shape[axis]
    count(data.shape[:axis] + indices.shape + data.shape[axis + 1 :])
    if ((indices < -n) | (indices >= n)).any():
        raise FoldError(f"gathers indices {indices.tolist()} from an axis of {n}")
    return _carry(np.take(data, indices, axis=axis), inputs, lambda m: np.take(m, indices, axis))


def unsqueeze(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    rank = data.ndim + len(_axes(node, inputs, attrs))
    axes = sorted(_axis(a, rank) for a in _axes(node, inputs, attrs))
    if len(set(axes)) != len(axes):
        raise FoldError(f"repeats an axis in {axes}")
    if rank > 8:
        raise FoldError(f"gives rank {rank}; convmath folds up to rank 8")
    return _carry(np.expand_dims(data, tuple(axes)), inputs, lambda m: np.expand_dims(m, axes))


def squeeze(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    given = _axes(node, inputs, attrs)
    axes = tuple(sorted({_axis(a, data.ndim) for a in given})) if given else None
    if axes is None:
        axes = tuple(a for a, n in enumerate(data.shape) if n == 1)
    if any(data.shape[a] != 1 for a in axes):
        raise FoldError(f"squeezes axes {list(axes)} of a shape {data.shape}")
    return _carry(np.squeeze(data, axes), inputs, lambda m: np.squeeze(m, axes))


def concat(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    values = [x.value for x in inputs]
    rank = values[0].ndim
    if rank == 0 or any(v.ndim != rank for v in values):
        raise FoldError(f"joins constants of ranks {[v.ndim for v in values]}")
    axis = _axis(int(attrs.get("axis", 0)), rank)
    rest = {v.shape[:axis] + v.shape[axis + 1 :] for v in values}
    if len(rest) != 1:
        raise FoldError(f"joins shapes {[v.shape for v in values]} along axis {axis}")
    count((*rest.pop(), sum(v.shape[axis] for v in values)))
    value = np.concatenate(values, axis=axis)
    if not any(x.marked() for x in inputs):
        return Folded(value)
    return Folded(value, np.concatenate([_mask(x) for x in inputs], axis=axis))


def slice_(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    starts, ends = _integers(inputs[1], "starts"), _integers(inputs[2], "ends")
    present = [x is not None for x in inputs[3:5]]
    axes = _integers(inputs[3], "axes") if len(inputs) > 3 and present[0] else None
    steps = _integers(inputs[4], "steps") if len(inputs) > 4 and present[1] else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise FoldError("has starts, ends, axes and steps of different lengths")
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if step == 0:
            raise FoldError("slices with step 0")
        index[_axis(axis, data.ndim)] = slice(start, end, step)
    where = tuple(index)
    return _carry(np.array(data[where]), inputs, lambda m: m[where])


def reshaped(shape: list[int], source: tuple[int, ...], allowzero: bool) -> tuple[int, ...]:
    """ONNX's Reshape target: 0 copies the source's size (unless allowzero), -1 is inferred."""
    sizes = [source[k] if n == 0 and not allowzero and k < len(source) else n
             for k, n in enumerate(shape)]  # fmt: skip
    if sizes.count(-1) > 1 or any(n < -1 for n in sizes):
        raise FoldError(f"reshapes to {shape}")
    total = math.prod(source)
    known = math.prod(n for n in sizes if n != -1)
    if -1 in sizes:
        if known == 0 or total % known:
            raise FoldError(f"cannot reshape {source} to {shape}")
        sizes[sizes.index(-1)] = total // known
    if math.prod(sizes) != total:
        raise FoldError(f"cannot reshape {source} to {shape}")
    return tuple(sizes)


def reshape(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    target = reshaped(_integers(inputs[1], "a shape"), data.shape, bool(attrs.get("allowzero")))
    return _carry(data.reshape(target), inputs, lambda m: m.reshape(target))


def transpose(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = inputs[0].value
    perm = [int(p) for p in attrs.get("perm", reversed(range(data.ndim)))]
    if sorted(perm) != list(range(data.ndim)):
        raise FoldError(f"has perm {perm} for a rank-{data.ndim} input")
    return _carry(np.ascontiguousarray(data.transpose(perm)), inputs, lambda m: m.transpose(perm))


def constant_of_shape(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    sizes = _integers(inputs[0], "a shape")
    fill = np.asarray(attrs.get("value", np.zeros(1, dtype=np.float32)))
    if fill.size != 1:
        raise FoldError(f"fills with a value of shape {fill.shape}; expected one number")
    count(sizes)
    return Folded(np.full(sizes, fill.reshape(-1)[0], dtype=fill.dtype))


def range_(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    names = ("start", "limit", "delta")
    start, limit, delta = (_scalar(x, what) for x, what in zip(inputs, names, strict=True))
    if not all(np.isfinite(v) for v in (start, limit, delta)) or delta == 0:
        raise FoldError(f"has start {start}, limit {limit}, delta {delta}")
    n = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    count([n])
    dtype = np.result_type(inputs[0].value, inputs[1].value, inputs[2].value)
    # one array, scaled and shifted in place; every value lies between start and limit, so an
    # integer product that wraps on the way comes back within the type (two's complement)
    value = np.arange(n, dtype=dtype)
    value *= delta
    value += start
    return Folded(value)


def expand(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    data = _plain(inputs[0], "an expanded constant")
    sizes = _integers(inputs[1], "a shape")
    try:
        target = np.broadcast_shapes(data.shape, tuple(sizes))
    except ValueError:
        raise FoldError(f"expands {data.shape} to {sizes}") from None
    count(target)
    return Folded(np.array(np.broadcast_to(data, target)))


def _broadcast(inputs: list[Folded], what: str) -> list[np.ndarray]:
    values = [_plain(x, what) for x in inputs]
    try:
        count(np.broadcast_shapes(*(v.shape for v in values)))
    except ValueError:
        raise FoldError(f"broadcasts shapes {[v.shape for v in values]}") from None
    return values


def _arithmetic(name: str) -> Fold:
    def fold(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
        a, b = _broadcast(inputs, "a number")
        if a.dtype.kind == "b" or b.dtype.kind == "b":
            raise FoldError(f"applies {name} to booleans")
        integer = a.dtype.kind in "iu" and b.dtype.kind in "iu"
        if integer:
            biggest = float(np.abs(a, dtype=np.float64).max(initial=0))
            other = float(np.abs(b, dtype=np.float64).max(initial=0))
            reach = biggest * other if name == "Mul" else biggest + other
            if reach >= INTEGER_LIMIT:
                raise FoldError(f"computes integers of about {reach:.3g}, beyond int64")
            if name == "Div":
                if (b == 0).any():
                    raise FoldError("divides an integer by 0")
                quotient = np.abs(a) // np.abs(b)  # ONNX's integer division truncates
                return Folded((np.sign(a) * np.sign(b) * quotient).astype(np.result_type(a, b)))
        operands = (a.astype(np.int64), b.astype(np.int64)) if integer else (a, b)  # exact
        with np.errstate(all="ignore"):
            value = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                     "Div": np.divide}[name](*operands)  # fmt: skip
        if integer:  # the result in the operands' own type, never wrapped (uint8 1 - 2)
            dtype = np.result_type(a, b)
            _fits(value, dtype, "computes")
            value = value.astype(dtype)
        elif not np.isfinite(value).all():
            raise FoldError(f"computes NaN or infinite values ({name})")
        return Folded(np.asarray(value))

    return fold


def _fits(value: np.ndarray, dtype: np.dtype, what: str) -> None:
    """A :class:`FoldError` unless every entry of ``value`` is within integer ``dtype``."""
    bounds = np.iinfo(dtype)
    if value.size and (value.min() < bounds.min or value.max() > bounds.max):
        raise FoldError(
            f"{what} integers from {value.min()} to {value.max()}, beyond {np.dtype(dtype).name}"
        )


def equal(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    a, b = _broadcast(inputs, "a comparison")
    return Folded(np.asarray(np.equal(a, b)))


def where(node: Any, inputs: list[Folded], attrs: dict[str, Any]) -> Folded:
    condition, a, b = _broadcast(inputs, "a choice")
    return Folded(np.asarray(np.where(condition.astype(bool), a, b)))


FOLDERS: dict[str, Fold] = {
    "Identity": identity,
    "Cast": cast,
    "Shape": shape,
    "Gather": gather,
    "Unsqueeze": unsqueeze,
    "Squeeze": squeeze,
    "Concat": concat,
    "Slice": slice_,
    "Reshape": reshape,
    "Transpose": transpose,
    "ConstantOfShape": constant_of_shape,
    "Range": range_,
    "Expand": expand,
    "Add": _arithmetic("Add"),
    "Sub": _arithmetic("Sub"),
    "Mul": _arithmetic("Mul"),
    "Div": _arithmetic("Div"),
    "Equal": equal,
    "Where": where,
}
# The inputs a folding node may leave out (ONNX's optional inputs), by operator.
OPTIONAL_INPUTS = {"Slice": {3, 4}}
