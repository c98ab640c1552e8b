"""A convmath model's weights as a PyTorch ``state_dict``, in memory or in a safetensors file.

Nothing here imports torch: the names and layouts are worked out from the
convmath model, the arrays are NumPy, and the file is safetensors, which
``torch.nn.Module.load_state_dict`` takes through ``safetensors.torch.load_file``.
:mod:`convmath.interop.torch_models` builds the matching ``torch.nn`` modules
(that one needs torch).

Names are the convmath dotted paths, with the last part renamed; layouts
are converted from channels-last to PyTorch's channels-first:

=================  ===============================  ==================================
convmath layer     convmath tensor                  PyTorch tensor
=================  ===============================  ==================================
Conv2D             W (f_h, f_w, n_C_prev/g, n_C)    weight (n_C, n_C_prev/g, f_h, f_w)
Conv2D             b (n_C,)                         bias (n_C,)
Dense              W (n_in, n_out)                  weight (n_out, n_in)
Dense              b (n_out,)                       bias (n_out,)
BatchNorm2D        gamma, beta (n_C,)               weight, bias (n_C,)
BatchNorm2D        running_mean, running_var        running_mean, running_var
BatchNorm2D        (none)                           num_batches_tracked, int64, shape ()
LayerNorm          gamma, beta (n_C,)               weight, bias (n_C,)
LayerScale         gamma (n_C,)                     weight (n_C,)
=================  ===============================  ==================================

The blocks keep their children's names: a SqueezeExcitation's ``squeeze.fc1.weight``,
an InvertedResidual's ``main.expand.weight``, ``main.se.squeeze.fc2.bias``...

A Dense layer that reads a :class:`~convmath.nn.Flatten` of a volume
(n_H, n_W, n_C), directly or through layers that keep the order of the
features (the activations, Dropout, BatchNorm2D, LayerNorm, LayerScale), has its
input rows permuted: convmath flattens channels-last, feature (h*n_W + w)*n_C + c,
PyTorch's ``nn.Flatten`` of NCHW gives feature (c*n_H + h)*n_W + w. A BatchNorm2D,
LayerNorm or LayerScale between such a Flatten and its Dense has its vectors permuted
the same way (a BatchNorm2D is a ``BatchNorm1d`` in PyTorch). A Flatten that sees a vector (after
GlobalAvgPool2D) changes nothing. ``num_batches_tracked`` is written as 0 so that
``load_state_dict(strict=True)`` accepts the dict; it is not read back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from convmath import limits, strict_json
from convmath.errors import CheckpointError, DataError, DTypeError, InvalidArgumentError, ShapeError
from convmath.nn import (
    GELU,
    BatchNorm2D,
    Clip,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    HardSigmoid,
    HardSwish,
    LayerNorm,
    LayerScale,
    LeakyReLU,
    Module,
    Parameter,
    ReLU,
    ReLU6,
    Sequential,
    Sigmoid,
    SiLU,
    Tanh,
)
from convmath.nn.graph import Graph, Merge
from convmath.safetensors_file import non_finite_as_float32, read_safetensors
from convmath.schema import Integer, ListOf, Record, Text
from convmath.train.checkpoint import DTYPES, atomic_write

__all__ = [
    "from_torch_state_dict",
    "load_torch_weights",
    "save_torch_weights",
    "to_torch_state_dict",
]

Volume = tuple[int, int, int]

# Layers whose output feature j is a function of input feature j alone.
_KEEPS_ORDER = (
    ReLU, LeakyReLU, Sigmoid, Tanh, ReLU6, Clip, HardSigmoid, HardSwish, SiLU, GELU, Dropout,
)  # fmt: skip
# Layers with a number per feature of a vector (whose PyTorch order differs after a Flatten).
_PER_FEATURE = (BatchNorm2D, LayerNorm, LayerScale)
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_MAX_NAME = 1024  # characters in one tensor name of a file


# ---------------------------------------------------------------- the layout
@dataclass(frozen=True)
class _Entry:
    """One tensor of the PyTorch state_dict and where it lives in the convmath model."""

    torch_name: str
    convmath_name: str | None  # None: num_batches_tracked, which convmath does not keep
    array: np.ndarray  # the model's own array (read by to_torch, shape and dtype for from_torch)
    torch_shape: tuple[int, ...]
    to_torch: Callable[[np.ndarray], np.ndarray]
    from_torch: Callable[[np.ndarray], np.ndarray]


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _conv_to_torch(w: np.ndarray) -> np.ndarray:
    return w.transpose(3, 2, 0, 1)  # (f_h, f_w, I, O) -> (O, I, f_h, f_w)


def _conv_from_torch(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 1, 0)  # (O, I, f_h, f_w) -> (f_h, f_w, I, O)


def _transposed(w: np.ndarray) -> np.ndarray:
    return w.T


def _dense_after_flatten(volume: Volume) -> tuple[Callable[..., np.ndarray], ...]:
    """W (n_H*n_W*n_C, O), rows in (h, w, c) order <-> weight (O, n_C*n_H*n_W), (c, h, w) order."""
    n_H, n_W, n_C = volume

    def to_torch(w: np.ndarray) -> np.ndarray:
        n_out = w.shape[1]
        return w.reshape(n_H, n_W, n_C, n_out).transpose(3, 2, 0, 1).reshape(n_out, -1)

    def from_torch(w: np.ndarray) -> np.ndarray:
        n_out = w.shape[0]
        return w.reshape(n_out, n_C, n_H, n_W).transpose(2, 3, 1, 0).reshape(-1, n_out)

    return to_torch, from_torch


def _vector_after_flatten(volume: Volume) -> tuple[Callable[..., np.ndarray], ...]:
    """A per-feature vector in (h, w, c) order <-> the same features in (c, h, w) order."""
    n_H, n_W, n_C = volume

    def to_torch(v: np.ndarray) -> np.ndarray:
        return v.reshape(n_H, n_W, n_C).transpose(2, 0, 1).reshape(-1)

    def from_torch(v: np.ndarray) -> np.ndarray:
        return v.reshape(n_C, n_H, n_W).transpose(1, 2, 0).reshape(-1)

    return to_torch, from_torch


def checked_shape(input_shape: Any) -> Volume:
    items = tuple(input_shape) if isinstance(input_shape, list | tuple) else ()
    exact = all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in items)
    shape = tuple(int(n) for n in items) if exact else ()
    if len(shape) != 3 or min(shape) < 1 or max(shape) > limits.MAX_SIDE:
        raise ShapeError(
            f"input_shape must be (n_H, n_W, n_C) of sizes from 1 to {limits.MAX_SIDE},"
            f" got {input_shape!r}"
        )
    return (shape[0], shape[1], shape[2])


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def layer_label(module: Module, path: str) -> str:
    return f"{type(module).__name__} '{path}'" if path else type(module).__name__


@dataclass(frozen=True)
class _Order:
    """The features of a vector come from the Flatten at ``flatten`` of a ``volume``;
    ``through`` names a layer in between that may have moved them."""

    volume: Volume
    flatten: str
    through: str | None = None


def _flatten_readers(model: Module, input_shape: Volume) -> dict[str, Volume]:
    """{path: (n_H, n_W, n_C)} of each Dense and per-feature layer (BatchNorm2D, LayerNorm,
    LayerScale) that reads a channels-last flatten.

    Walks the model's Sequentials with the shape of one example; checks every
    layer's shape on the way (ShapeError naming the layer that does not fit).
    """
    readers: dict[str, Volume] = {}
    _walk(model, "", input_shape, None, readers)
    return readers


def _walk(
    module: Module,
    path: str,
    shape: tuple[int, ...],
    order: _Order | None,
    readers: dict[str, Volume],
) -> tuple[tuple[int, ...], _Order | None]:
    """The output shape of ``module`` and the order of its features, recording flatten readers."""
    if isinstance(module, Sequential):
        for name, child in module.named_children():
            shape, order = _walk(child, _join(path, name), shape, order, readers)
        return shape, order
    if isinstance(module, Graph):
        return _walk_graph(module, path, shape, order, readers)
    output = tuple(module.output_shape(shape))
    label = layer_label(module, path)
    if isinstance(module, Flatten):
        return output, (_Order((shape[0], shape[1], shape[2]), label) if len(shape) == 3 else order)
    if not isinstance(module, (Conv2D, Dense, *_PER_FEATURE, *_KEEPS_ORDER)):
        inner = [m for _, m in module.named_modules()]
        if any(isinstance(m, Flatten) for m in inner) and any(isinstance(m, Dense) for m in inner):
            raise InvalidArgumentError(
                f"{label} holds a Flatten and a Dense layer but is not a Sequential, so the order"
                f" in which its Dense layer reads features cannot be known; the PyTorch layout of"
                f" its weights is undefined"
            )
    if len(shape) != 1 or order is None:
        return output, None  # a volume, or a vector that no Flatten of a volume made
    if isinstance(module, (Dense, *_PER_FEATURE)):
        if order.through is not None:
            raise InvalidArgumentError(
                f"{label} reads the features of {order.flatten} through {order.through}, which"
                f" may reorder them; cannot tell how to permute its weights for PyTorch's"
                f" channels-first flatten"
            )
        readers[path] = order.volume
        return output, (None if isinstance(module, Dense) else order)
    if isinstance(module, _KEEPS_ORDER):
        return output, order
    if any(isinstance(m, (Dense, *_PER_FEATURE)) for _, m in module.named_modules()):
        raise InvalidArgumentError(
            f"{label} reads the features of {order.flatten} and holds layers whose PyTorch"
            f" layout depends on their order; cannot tell how to permute them"
        )
    return output, _Order(order.volume, order.flatten, label)


def _walk_graph(
    graph: Graph,
    path: str,
    shape: tuple[int, ...],
    order: _Order | None,
    readers: dict[str, Volume],
) -> tuple[tuple[int, ...], _Order | None]:
    """:func:`_walk` node by node (an imported model): each value's shape and feature order.

    A merge of vectors that a Flatten ordered passes them on as possibly moved (a Dense
    reading them is refused): where each feature lands depends on the merge.
    """
    values = {graph.input_name: (shape, order)}
    for node in graph.nodes:
        inputs = [values[name] for name in node.inputs]
        where = _join(path, node.name)
        if isinstance(node.module, Merge):
            merged = tuple(node.module.merged_shape([s for s, _ in inputs]))
            ordered = [o for _, o in inputs if o is not None]
            moved = None
            if ordered and len(merged) == 1:
                first = ordered[0]
                moved = _Order(first.volume, first.flatten, layer_label(node.module, where))
            values[node.output] = (merged, moved)
        else:
            values[node.output] = _walk(node.module, where, *inputs[0], readers)
    return values[graph.output_name]


def _layout(model: Module, input_shape: Any) -> list[_Entry]:
    """The PyTorch state_dict of ``model``: every tensor, its name, shape and conversions."""
    if not isinstance(model, Module):
        raise InvalidArgumentError(f"expected a convmath Module, got {type(model).__name__}")
    readers = _flatten_readers(model, checked_shape(input_shape))
    entries: list[_Entry] = []
    owners: dict[int, str] = {}
    for path, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, Parameter):
                name = _join(path, attr)
                if id(value) in owners:
                    raise InvalidArgumentError(
                        f"parameter {name!r} is the same tensor as {owners[id(value)]!r}; a"
                        f" PyTorch state_dict of shared weights is not supported"
                    )
                owners[id(value)] = name
        entries.extend(_entries_of(module, path, readers.get(path)))
    return entries


def _entries_of(module: Module, path: str, volume: Volume | None) -> Iterator[_Entry]:
    known: dict[str, tuple[str, Callable[..., np.ndarray], Callable[..., np.ndarray]]]
    if isinstance(module, Conv2D):
        known = {"W": ("weight", _conv_to_torch, _conv_from_torch), "b": ("bias", _same, _same)}
    elif isinstance(module, Dense):
        dense = _transposed, _transposed
        if volume is not None:
            dense = _dense_after_flatten(volume)
        known = {"W": ("weight", *dense), "b": ("bias", _same, _same)}
    elif isinstance(module, BatchNorm2D):
        vector = (_same, _same) if volume is None else _vector_after_flatten(volume)
        known = {
            "gamma": ("weight", *vector),
            "beta": ("bias", *vector),
            "running_mean": ("running_mean", *vector),
            "running_var": ("running_var", *vector),
        }
    elif isinstance(module, LayerNorm):
        vector = (_same, _same) if volume is None else _vector_after_flatten(volume)
        known = {"gamma": ("weight", *vector), "beta": ("bias", *vector)}
    elif isinstance(module, LayerScale):
        vector = (_same, _same) if volume is None else _vector_after_flatten(volume)
        known = {"gamma": ("weight", *vector)}
    else:
        known = {}
    own = [a for a, v in vars(module).items() if isinstance(v, Parameter)]
    own += list(module._buffer_names)
    unknown = [a for a in own if a not in known]
    if unknown:
        raise InvalidArgumentError(
            f"{layer_label(module, path)} holds {unknown}, for which convmath knows no PyTorch"
            f" name and layout (known: Conv2D, Dense, BatchNorm2D, LayerNorm, LayerScale)"
        )
    for attr, (torch_attr, to_torch, from_torch) in known.items():
        value = getattr(module, attr)
        if value is None:  # a layer without bias
            continue
        array = value.data if isinstance(value, Parameter) else value
        yield _Entry(
            _join(path, torch_attr),
            _join(path, attr),
            array,
            tuple(to_torch(np.empty(array.shape, dtype=np.uint8)).shape),
            to_torch,
            from_torch,
        )
    if isinstance(module, BatchNorm2D):
        counter = np.zeros((), dtype=np.int64)
        name = _join(path, "num_batches_tracked")
        yield _Entry(name, None, counter, (), _same, _same)


# ---------------------------------------------------------------- in memory
def to_torch_state_dict(model: Module, input_shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """The weights of ``model`` as a PyTorch ``state_dict`` of NumPy arrays (copies).

    ``input_shape`` is one example's (n_H, n_W, n_C): it decides the shape a
    Flatten sees, hence how the rows of the Dense layer after it are permuted
    (see the module's table). Arrays keep the model's dtype (float32 for every
    model convmath builds); ``num_batches_tracked`` is an int64 0 of shape ().
    ``torch.nn.Module.load_state_dict({k: torch.from_numpy(v) ...}, strict=True)``
    takes the result for the module :func:`convmath.interop.torch_models.torch_module`
    builds.

    Raises :class:`ShapeError` if ``input_shape`` does not fit the model (naming the
    layer) and :class:`InvalidArgumentError` for a layer with weights convmath knows no
    PyTorch layout for.
    """
    state: dict[str, np.ndarray] = {}
    for entry in _layout(model, input_shape):
        state[entry.torch_name] = np.array(entry.to_torch(entry.array), order="C")
    return state


def from_torch_state_dict(
    model: Module, state: Mapping[str, Any], input_shape: tuple[int, int, int]
) -> None:
    """Copy a PyTorch ``state_dict`` (NumPy arrays, or anything ``np.asarray`` reads, such
    as CPU torch tensors) into ``model``, in place: the inverse of :func:`to_torch_state_dict`.

    Every entry is checked before anything is changed: the names (missing and
    unexpected ones are listed) and shapes (:class:`ShapeError`), the dtypes
    (:class:`DTypeError`) and the values. Weights may be float16, float32 or
    float64 and are cast to the model's float32: float16 exactly, float64 rounded to
    the nearest float32 (a relative error of at most 2**-24); a value that is NaN,
    infinite or beyond float32's range is refused (:class:`InvalidArgumentError`).
    Integer and boolean weights are refused, as is bfloat16 (NumPy has no such dtype;
    convert with ``tensor.float()`` first). ``num_batches_tracked`` may be present
    (an integer of shape ()) or absent; it is dropped.
    """
    converted = _from_torch(_layout(model, input_shape), state, type(model).__name__)
    model.load_state_dict(converted)


def _from_torch(entries: list[_Entry], state: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The convmath state of ``state``, every entry checked; raises before returning anything."""
    if not isinstance(state, Mapping):
        raise InvalidArgumentError(
            f"expected a state_dict (a mapping of names to arrays), got {type(state).__name__}"
        )
    expected = {entry.torch_name: entry for entry in entries}
    counters = {e.torch_name for e in entries if e.convmath_name is None}
    missing = sorted(set(expected) - set(state) - counters)
    unexpected = sorted(str(name) for name in state if name not in expected)
    arrays = {name: _as_array(name, state[name]) for name in expected if name in state}
    mis_shaped = [
        f"{name!r}: expected {expected[name].torch_shape}, got {array.shape}"
        for name, array in arrays.items()
        if array.shape != expected[name].torch_shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:20]}" + (" ..." if len(unexpected) > 20 else ""))
    if mis_shaped:
        problems.append("wrong shapes: " + "; ".join(mis_shaped))
    if problems:
        raise ShapeError(f"the state_dict does not fit {what}: " + ", ".join(problems))
    converted: dict[str, Any] = {}
    for name, array in arrays.items():
        entry = expected[name]
        if entry.convmath_name is None:
            if array.dtype.kind not in "iu":
                raise DTypeError(f"tensor {name!r} is {array.dtype}, expected an integer counter")
            continue
        if array.dtype not in _FLOATS:
            hint = " (bfloat16 has no NumPy dtype: convert with tensor.float())"
            raise DTypeError(
                f"tensor {name!r} is {array.dtype}, expected float16, float32 or float64"
                + (hint if "bfloat16" in str(array.dtype) else "")
            )
        if bad := non_finite_as_float32(array):
            raise InvalidArgumentError(
                f"tensor {name!r} holds {bad} NaN, infinite or beyond-float32 value(s);"
                f" refusing non-finite weights"
            )
        with np.errstate(over="ignore"):
            cast = array.astype(entry.array.dtype)
        converted[entry.convmath_name] = entry.from_torch(cast)
    return converted


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as error:
        dtype = getattr(value, "dtype", None)
        hint = "; convert it with tensor.float() first" if "bfloat16" in str(dtype) else ""
        raise DTypeError(
            f"tensor {name!r} ({type(value).__name__} of dtype {dtype}) cannot be read as a"
            f" NumPy array: {str(error).splitlines()[0] if str(error) else error!r}{hint}"
        ) from None


# ---------------------------------------------------------------- files
def save_torch_weights(
    model: Module,
    input_shape: tuple[int, int, int],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = True,
) -> Path:
    """Write :func:`to_torch_state_dict` to the safetensors file ``path``, atomically.

    A crash at any moment leaves the old file or the new one (temporary file in
    the same folder, fsync, rename); with ``overwrite=False`` a file already at
    ``path`` is kept and :class:`InvalidArgumentError` raised. The header's metadata
    is ``{"format": "pt"}``, as PyTorch's own writers put it.
    ``safetensors.torch.load_file(path)`` reads it back as torch tensors. Returns the
    path written.
    """

    path = Path(path)
    data = save(to_torch_state_dict(model, input_shape), metadata={"format": "pt"})
    header_size = int.from_bytes(data[:8], "little")
    if header_size > limits.MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{path}: not written: its header would be {header_size:,} bytes, over the"
            f" {limits.MAX_HEADER_BYTES:,}-byte limit that load_torch_weights reads"
        )
    atomic_write(path, data, overwrite=overwrite)
    return path


def load_torch_weights(
    model: Module, path: str | os.PathLike[str], input_shape: tuple[int, int, int]
) -> None:
    """Read a PyTorch ``state_dict`` from the safetensors file ``path`` into ``model``.

    The file may come from :func:`save_torch_weights` or from PyTorch
    (``safetensors.torch.save_file(module.state_dict(), path)``). It is checked
    before any of it is trusted, as checkpoints are: a regular file (no FIFO, no
    device) of at most ``limits.max_checkpoint_bytes()``, a header of bounded size
    and bounded JSON, a tensor table whose dtypes, shapes and offsets tile the data
    exactly and hold no more values than a model may have. Then the state is checked
    against the model as :func:`from_torch_state_dict` does, before anything changes.
    Every problem with the file, including one that makes it not fit the model,
    raises :class:`CheckpointError` naming the file (and the tensor).
    """
    path = Path(path)
    entries = _layout(model, input_shape)  # the model's own faults are not the file's
    state = _read_safetensors(path)
    try:
        converted = _from_torch(entries, state, type(model).__name__)
    except (ShapeError, DTypeError, InvalidArgumentError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    model.load_state_dict(converted)


# The safetensors dtypes that NumPy cannot hold, named for the error message.
_UNREADABLE = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2"}
_ENTRY = Record(
    {
        "dtype": Text(16, min_length=1),
        "shape": ListOf(Integer(0, 2**40), 8),
        "data_offsets": ListOf(Integer(0, 2**62), 2, 2),
    }
)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file; its header and tensor table are checked first."""
    table, body = read_safetensors(
        path,
        "a weights file",
        lambda header_bytes, body_size: _check_table(
            path, _parse_header(path, header_bytes), body_size=body_size
        ),
    )
    state = {}
    for name, (dtype, shape, begin) in table.items():
        array = np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=begin)
        state[name] = array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    return state


def _parse_header(path: Path, header_bytes: bytes) -> dict[str, Any]:
    entries = header_bytes.count(b'"data_offsets"')  # counted before any parsing
    if entries > limits.MAX_TENSORS:
        raise CheckpointError(
            f"{path}: about {entries:,} tensors, over the limit of {limits.MAX_TENSORS:,}"
        )
    try:
        header = strict_json.loads(
            header_bytes, f"{path}: unreadable header", max_bytes=limits.MAX_HEADER_BYTES
        )
    except DataError as error:
        raise CheckpointError(f"{error}; not a safetensors file") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the header is not a JSON object; not a safetensors file")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: damaged header: __metadata__ is not a mapping of strings")
    return header


def _check_table(
    path: Path, header: dict[str, Any], body_size: int
) -> dict[str, tuple[np.dtype, list[int], int]]:
    """{name: (dtype, shape, first byte)}: entries well formed, dtypes readable, values
    bounded, byte ranges tiling the data exactly."""
    table: dict[str, tuple[np.dtype, list[int], int]] = {}
    ranges: list[tuple[int, int, str]] = []
    elements = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if len(name) > _MAX_NAME:
            raise CheckpointError(
                f"{path}: a tensor name of {len(name):,} characters ({name[:60]!r}...), over"
                f" the limit of {_MAX_NAME}"
            )
        try:
            entry = _ENTRY.check(entry, f"tensor {name!r}")
        except InvalidArgumentError as error:
            raise CheckpointError(f"{path}: {error}") from None
        code = entry["dtype"]
        if code not in DTYPES:
            known = f" ({_UNREADABLE[code]})" if code in _UNREADABLE else ""
            raise CheckpointError(
                f"{path}: tensor {name!r} has dtype {code}{known}, which convmath does not"
                f" read; expected F16, F32 or F64 (save it after tensor.float())"
            )
        begin, end = entry["data_offsets"]
        count = math.prod(entry["shape"])
        needed = count * DTYPES[code].itemsize
        if end - begin != needed:
            raise CheckpointError(
                f"{path}: tensor {name!r} of shape {entry['shape']} and dtype {code} needs"
                f" {needed:,} bytes but its offsets {begin}-{end} hold {end - begin:,}"
            )
        elements += count
        table[name] = (DTYPES[code], entry["shape"], begin)
        ranges.append((begin, end, name))
    allowed = limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS
    if elements > allowed:
        raise CheckpointError(
            f"{path}: the tensors hold {elements:,} values; a model may have at most"
            f" {allowed:,} (set CONVMATH_MAX_PARAMETERS to allow more)"
        )
    position = 0
    for begin, end, name in sorted(ranges):
        if begin != position:
            raise CheckpointError(
                f"{path}: tensor {name!r} starts at byte {begin:,} of the data, expected"
                f" {position:,}: overlapping or missing bytes"
            )
        position = end
    if position != body_size:
        raise CheckpointError(
            f"{path}: the tensors hold {position:,} bytes but the data is {body_size:,} bytes"
            f" (truncated, or bytes after the last tensor)"
        )
    return table
