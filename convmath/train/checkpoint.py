"""Checkpoints: one safetensors file, written atomically, read without executing anything.

Layout: tensors ``model/<name>`` (parameters and buffers) and
``optimizer/<slot>.<index>``; metadata (strings) ``format``, ``config``
(the model and training configuration, JSON), ``state`` (epoch, step,
random-generator states, early-stopping state, JSON) and ``history`` (JSON).

safetensors stores raw arrays and a JSON header, nothing executable, so a
hostile file can at worst fail to load; convmath never unpickles.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from convmath import limits, strict_json
from convmath.errors import CheckpointError, DataError, InvalidArgumentError
from convmath.files import atomic_write
from convmath.safetensors_file import non_finite_as_float32, read_safetensors
from convmath.schema import (
    AnyOf,
    Flag,
    Integer,
    ListOf,
    MappingOf,
    Number,
    Optional,
    Record,
    Spec,
    Text,
    shown,
)

FORMAT = "convmath-checkpoint-1"


@dataclass
class Checkpoint:
    model: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Serialise ``checkpoint`` to ``path`` atomically, never a file :func:`load_checkpoint`
    would refuse: the state and history are checked against their schemas, and the header
    against its size limit, before anything is written."""
    try:
        STATE.check(checkpoint.state, "state")
        HISTORY.check(checkpoint.history, "history")
        depth = strict_json.nesting_depth(checkpoint.config)
        if depth > limits.MAX_JSON_DEPTH:
            raise InvalidArgumentError(
                f"its configuration nests {depth} deep, over the limit of {limits.MAX_JSON_DEPTH}"
            )
    except InvalidArgumentError as error:
        raise CheckpointError(
            f"{path}: not written, as it could not be read back: {error}"
        ) from None

    def contiguous(array: np.ndarray) -> np.ndarray:
        return np.require(array, requirements="C")  # keeps 0-d arrays 0-d

    tensors = {f"model/{k}": contiguous(v) for k, v in checkpoint.model.items()}
    tensors |= {f"optimizer/{k}": contiguous(v) for k, v in checkpoint.optimizer.items()}
    metadata = {
        "format": FORMAT,
        "config": json.dumps(checkpoint.config),
        "state": json.dumps(checkpoint.state),
        "history": json.dumps(checkpoint.history),
    }
    data = save(tensors, metadata=metadata)
    header_size = int.from_bytes(data[:8], "little")
    if header_size > limits.MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{path}: not written: its header would be {header_size:,} bytes, over the"
            f" {limits.MAX_HEADER_BYTES:,}-byte limit (a history of very many epochs?)"
        )
    atomic_write(Path(path), data)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint, checking everything before trusting any of it.

    In order: the file is a regular file (never a FIFO or a device) of at
    most ``limits.max_checkpoint_bytes()``; the header's length, its bounded JSON, the
    metadata (bounded JSON, the training state and history checked against
    their schemas) and the tensor table (names, dtypes, shapes, offsets that
    tile the data exactly, at most ``MAX_TENSORS``, no more elements than
    the parameter limit allows) are read and checked before the data is
    read; then the data is read once and every float tensor is checked
    finite as float32, the dtype it will be used in. :class:`CheckpointError`
    names the file, the field or tensor, and the value.
    """
    path = Path(path)

    def check(header_bytes: bytes, body_size: int) -> tuple[Checkpoint, dict[str, Any]]:
        header = _read_header(path, header_bytes)
        checkpoint = _read_metadata(path, header["__metadata__"])
        return checkpoint, _check_tensor_table(path, header, body_size=body_size)

    (checkpoint, table), body = read_safetensors(path, "a checkpoint", check)
    for name, (dtype, shape, begin, _) in table.items():
        array = np.frombuffer(body, dtype=DTYPES[dtype], count=math.prod(shape), offset=begin)
        array = array.reshape(shape).astype(DTYPES[dtype].newbyteorder("="), copy=False)
        if array.dtype.kind == "f" and (bad := non_finite_as_float32(array)):
            raise CheckpointError(
                f"{path}: tensor {name!r} holds {bad} NaN, infinite or beyond-float32"
                f" value(s); refusing non-finite weights"
            )
        part, _, key = name.partition("/")
        (checkpoint.model if part == "model" else checkpoint.optimizer)[key] = array
    return checkpoint


def _read_header(path: Path, header_bytes: bytes) -> dict[str, Any]:
    # Counted before decoding, so a header of a million tiny tensors costs no parsing.
    entries = header_bytes.count(b'"data_offsets"')
    if entries > limits.MAX_TENSORS:
        raise CheckpointError(
            f"{path}: about {entries:,} tensors, over the limit of {limits.MAX_TENSORS:,}"
        )
    try:
        header = strict_json.loads(
            header_bytes, f"{path}: unreadable header", max_bytes=limits.MAX_HEADER_BYTES
        )
    except DataError as error:
        raise CheckpointError(str(error)) from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise CheckpointError(
            f"{path}: no convmath metadata in the header (a bare state_dict?); save a model"
            f" that every command reads with convmath.save(model, path, ...)"
        )
    return header


# The safetensors dtypes convmath reads (little-endian, as the format stores them).
DTYPES = {
    code: np.dtype(f"<{kind}")
    for code, kind in {
        "F16": "f2", "F32": "f4", "F64": "f8", "I8": "i1", "I16": "i2", "I32": "i4",
        "I64": "i8", "U8": "u1",
    }.items()
}  # fmt: skip
_TENSOR_ENTRY = Record(
    {
        "dtype": Text(8, tuple(DTYPES)),
        "shape": ListOf(Integer(0, 2**40), 8),
        "data_offsets": ListOf(Integer(0, 2**62), 2, 2),
    }
)


def _check_tensor_table(
    path: Path, header: dict[str, Any], body_size: int
) -> dict[str, tuple[str, list[int], int, int]]:
    """The tensor table checked: entries well formed, sizes bounded, ranges tiling the data.

    Returns {name: (dtype, shape, begin, end)}. The model's tensors may hold
    no more elements than the parameter limit (plus room for buffers), and
    the optimizer's slots no more than twice the model's, so a hostile table
    is refused before its data is read.
    """
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(entries) > limits.MAX_TENSORS:
        raise CheckpointError(
            f"{path}: {len(entries):,} tensors, over the limit of {limits.MAX_TENSORS:,}"
        )
    table: dict[str, tuple[str, list[int], int, int]] = {}
    elements = {"model": 0, "optimizer": 0}
    for name, entry in entries.items():
        if not name.startswith(("model/", "optimizer/")) or len(name) > 256:
            raise CheckpointError(
                f"{path}: unexpected tensor {name[:80]!r}; expected model/... or optimizer/..."
            )
        try:
            entry = _TENSOR_ENTRY.check(entry, f"tensor {name!r}")
        except InvalidArgumentError as error:
            raise CheckpointError(f"{path}: {error}") from None
        begin, end = entry["data_offsets"]
        count = math.prod(entry["shape"])
        expected = count * DTYPES[entry["dtype"]].itemsize
        if end - begin != expected:
            raise CheckpointError(
                f"{path}: tensor {name!r} of shape {entry['shape']} and dtype {entry['dtype']}"
                f" needs {expected:,} bytes but its offsets {begin}-{end} hold {end - begin:,}"
            )
        elements[name.partition("/")[0]] += count
        table[name] = (entry["dtype"], entry["shape"], begin, end)
    allowed = limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS
    if elements["model"] > allowed or elements["optimizer"] > 2 * elements["model"] + 2**20:
        raise CheckpointError(
            f"{path}: the tensors hold {elements['model']:,} model and {elements['optimizer']:,}"
            f" optimizer values; a model may have at most {allowed:,} and its optimizer twice"
            f" as many (set CONVMATH_MAX_PARAMETERS to allow more)"
        )
    position = 0
    for name, (_, _, begin, end) in sorted(table.items(), key=lambda item: item[1][2:]):
        if begin != position:
            raise CheckpointError(
                f"{path}: tensor {name!r} starts at byte {begin:,} of the data, expected"
                f" {position:,}: overlapping or missing bytes"
            )
        position = end
    if position != body_size:
        raise CheckpointError(
            f"{path}: the tensors hold {position:,} bytes but the data is {body_size:,} bytes"
            f" (damaged tensor data: truncated, or bytes after the last tensor)"
        )
    return table


def _read_metadata(path: Path, metadata: dict[str, Any]) -> Checkpoint:
    """The metadata strings decoded with bounds, the state and history checked."""
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a convmath checkpoint (format {shown(metadata.get('format'))},"
            f" expected {FORMAT!r})"
        )
    decoded = {}
    for key in ("config", "state", "history"):
        text = metadata.get(key)
        if not isinstance(text, str):
            raise CheckpointError(f"{path}: damaged metadata: {key!r} is missing or not text")
        try:
            decoded[key] = strict_json.loads(
                text, f"{path}: damaged metadata {key!r}", max_bytes=limits.MAX_HEADER_BYTES
            )
        except DataError as error:
            raise CheckpointError(str(error)) from None
    if not isinstance(decoded["config"], dict):
        # checked in full where a run is rebuilt from it (convmath.train.trained)
        raise CheckpointError(f"{path}: damaged metadata: the config is not a mapping")
    try:
        state = STATE.check(decoded["state"], "state")
        history = HISTORY.check(decoded["history"], "history")
    except InvalidArgumentError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return Checkpoint({}, {}, decoded["config"], state, history)


# What the metadata may hold. The training state's keys are all optional here
# (a checkpoint of bare weights has none); resuming requires them.
_COUNT = Integer(0, limits.MAX_STEPS)
_UINT128 = Integer(0, 2**128 - 1)
RNG_STATE = Record(
    {
        "bit_generator": Text(16, ("PCG64",)),
        "state": Record({"state": _UINT128, "inc": _UINT128}),
        "has_uint32": Integer(0, 1),
        "uinteger": Integer(0, 2**32 - 1),
    }
)
_STATE_FIELDS = {
    "epoch": Integer(0, limits.MAX_EPOCHS),
    "step": _COUNT,
    "best_accuracy": Optional(Number(0, 1)),
    "best_loss": Optional(Number(0)),
    "best_epoch": Optional(Integer(1, limits.MAX_EPOCHS)),
    "bad_epochs": Integer(0, limits.MAX_EPOCHS),
    "stopped_early": Flag(),
    "rng": MappingOf(RNG_STATE, 1024),
}
STATE = Record(_STATE_FIELDS, optional=frozenset(_STATE_FIELDS))


TRAINER_COLUMNS = ("train_loss", "train_accuracy", "lr", "seconds", "images_per_second")
TRAINER_COLUMNS += ("dev_loss", "dev_accuracy", "test_loss", "test_accuracy")
_ROW_COLUMNS = Record(
    {"epoch": Integer(1, limits.MAX_EPOCHS)}
    # float32 losses and rates stay within 3.4e38; a plot's axis arithmetic overflows near 1e308
    | {name: Number(-1e39, 1e39) for name in TRAINER_COLUMNS},
    optional=frozenset(("epoch", *TRAINER_COLUMNS)),
)
# The epoch's loss curve: the mean J of each of (at most) STEP_POINTS groups of its steps.
STEP_POINTS = 10
_STEP_LOSSES = ListOf(Number(-1e39, 1e39), STEP_POINTS)
# What epoch callbacks may add to a row besides the trainer's columns.
_ROW = MappingOf(Optional(AnyOf((Flag(), Number(-math.inf, math.inf), Text(limits.MAX_TEXT)))), 32)


class HistoryRow(Spec):
    """One epoch of the history: the trainer's columns are finite numbers (the epoch an
    integer); epoch callbacks may add numbers, text, flags or null."""

    def describe(self) -> str:
        return _ROW.describe()

    def _check(self, value: Any) -> dict[str, Any]:
        curve = None
        if isinstance(value, dict) and "step_losses" in value:
            value = dict(value)
            curve = _STEP_LOSSES._check(value.pop("step_losses"))
        row = _ROW._check(value)
        own = {key: item for key, item in row.items() if key in _ROW_COLUMNS.fields}
        row |= _ROW_COLUMNS._check(own)
        return row if curve is None else row | {"step_losses": curve}


HISTORY = ListOf(HistoryRow(), limits.MAX_EPOCHS)
