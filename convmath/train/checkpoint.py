"""Checkpoints: one safetensors file, written atomically, read without executing anything.

Layout: tensors ``model/<name>`` (parameters and buffers) and
``optimizer/<slot>.<index>``; metadata (strings) ``format``, ``config``
(the model and training configuration, JSON), ``state`` (epoch, step,
random-generator states, early-stopping state, JSON) and ``history`` (JSON).

safetensors stores raw arrays and a JSON header, nothing executable, so a
hostile file can at worst fail to load; convmath never unpickles.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits, strict_json
from convmath.errors import CheckpointError, DataError, InvalidArgumentError
from convmath.schema import (
    Flag,
    Integer,
    ListOf,
    MappingOf,
    Number,
    Optional,
    Record,
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


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash at any moment leaves the old file or the new.

    Temporary file in the same folder, fsync, rename over the target, fsync
    of the folder (so the rename itself survives a power loss).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 is for secrets, not results
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Serialise ``checkpoint`` to ``path`` atomically."""
    from safetensors.numpy import save

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
    atomic_write(Path(path), save(tensors, metadata=metadata))


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint, checking everything before trusting any of it.

    In order: the file is a regular file of at most ``MAX_CHECKPOINT_BYTES``;
    the header's length, its bounded JSON, its tensor table (names, dtypes,
    shapes, offsets that tile the body exactly, at most ``MAX_TENSORS``) and
    the metadata (bounded JSON, with the training state and history checked
    against their schemas) are read and checked before the body is read; then
    every tensor is checked finite. :class:`CheckpointError` names the file,
    the field or tensor, and the value.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    try:
        with open(path, "rb") as file:
            status = os.fstat(file.fileno())
            size = status.st_size
            if not stat.S_ISREG(status.st_mode):
                raise CheckpointError(f"{path}: not a regular file")
            if size > limits.MAX_CHECKPOINT_BYTES:
                raise CheckpointError(
                    f"{path}: {size:,} bytes, over the {limits.MAX_CHECKPOINT_BYTES:,}-byte limit"
                    f" for a checkpoint"
                )
            prefix = file.read(8)
            header_size = _header_size(path, prefix, size)
            header_bytes = file.read(header_size)
            header = _read_header(path, header_bytes)
            checkpoint = _read_metadata(path, header["__metadata__"])
            _check_tensor_table(path, header, body_size=size - 8 - header_size)
            data = prefix + header_bytes + file.read()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: damaged tensor data ({error})") from None
    for name, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise CheckpointError(
                f"{path}: tensor {name!r} holds {bad} NaN or infinite value(s); refusing"
                f" non-finite weights"
            )
        part, _, key = name.partition("/")
        (checkpoint.model if part == "model" else checkpoint.optimizer)[key] = array
    return checkpoint


def _header_size(path: Path, prefix: bytes, size: int) -> int:
    if len(prefix) < 8:
        raise CheckpointError(f"{path}: truncated ({size} bytes), not a safetensors file")
    header_size = int.from_bytes(prefix, "little")
    if header_size > min(size - 8, limits.MAX_HEADER_BYTES) or header_size < 2:
        raise CheckpointError(
            f"{path}: header size {header_size:,} does not fit the file ({size:,} bytes) and the"
            f" {limits.MAX_HEADER_BYTES:,}-byte header limit; truncated or not a safetensors file"
        )
    return header_size


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
        raise CheckpointError(f"{path}: no convmath metadata in the header")
    return header


# The safetensors dtypes convmath reads, with their sizes in bytes.
DTYPE_SIZES = {"F16": 2, "F32": 4, "F64": 8, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "U8": 1}
_TENSOR_ENTRY = Record(
    {
        "dtype": Text(8, tuple(DTYPE_SIZES)),
        "shape": ListOf(Integer(0, 2**40), 8),
        "data_offsets": ListOf(Integer(0, limits.MAX_CHECKPOINT_BYTES), 2, 2),
    }
)


def _check_tensor_table(path: Path, header: dict[str, Any], body_size: int) -> None:
    """Every tensor entry well formed, and their byte ranges tile the body exactly."""
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    if len(entries) > limits.MAX_TENSORS:
        raise CheckpointError(
            f"{path}: {len(entries):,} tensors, over the limit of {limits.MAX_TENSORS:,}"
        )
    ranges = []
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
        expected = math.prod(entry["shape"]) * DTYPE_SIZES[entry["dtype"]]
        if end - begin != expected:
            raise CheckpointError(
                f"{path}: tensor {name!r} of shape {entry['shape']} and dtype {entry['dtype']}"
                f" needs {expected:,} bytes but its offsets {begin}-{end} hold {end - begin:,}"
            )
        ranges.append((begin, end, name))
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
            f" (damaged tensor data: truncated, or bytes after the last tensor)"
        )


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
STATE = Record(
    {
        "epoch": Integer(0, limits.MAX_EPOCHS),
        "step": _COUNT,
        "best_accuracy": Optional(Number(0, 1)),
        "best_loss": Optional(Number(0, 1e9)),
        "best_epoch": Optional(Integer(1, limits.MAX_EPOCHS)),
        "bad_epochs": Integer(0, limits.MAX_EPOCHS),
        "stopped_early": Flag(),
        "rng": MappingOf(RNG_STATE, 1024),
    },
)
STATE = dataclasses.replace(STATE, optional=frozenset(STATE.fields))
HISTORY = ListOf(MappingOf(Number(-math.inf, math.inf), 64), limits.MAX_EPOCHS)
