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
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convmath.errors import CheckpointError

FORMAT = "convmath-checkpoint-1"
MAX_HEADER_BYTES = 64 << 20


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
    """Read a checkpoint; :class:`CheckpointError` names the file and what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    metadata = _read_metadata(path, data)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a convmath checkpoint (format {metadata.get('format')!r},"
            f" expected {FORMAT!r})"
        )
    try:
        config, state, history = (json.loads(metadata[k]) for k in ("config", "state", "history"))
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: damaged metadata ({error})") from None
    if not isinstance(config, dict) or not isinstance(state, dict) or not isinstance(history, list):
        raise CheckpointError(f"{path}: metadata has the wrong structure")
    try:
        tensors = load(data)
    except SafetensorError as error:
        raise CheckpointError(f"{path}: damaged tensor data ({error})") from None
    model = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    optimizer = {
        k.removeprefix("optimizer/"): v for k, v in tensors.items() if k.startswith("optimizer/")
    }
    if len(model) + len(optimizer) != len(tensors):
        raise CheckpointError(f"{path}: unexpected tensors {sorted(tensors)[:5]}")
    return Checkpoint(model, optimizer, config, state, history)


def _read_metadata(path: Path, data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__``, with sizes checked before parsing."""
    if len(data) < 8:
        raise CheckpointError(f"{path}: truncated ({len(data)} bytes), not a safetensors file")
    header_size = int.from_bytes(data[:8], "little")
    if header_size > min(len(data) - 8, MAX_HEADER_BYTES):
        raise CheckpointError(
            f"{path}: header size {header_size} exceeds the file ({len(data)} bytes);"
            f" truncated or not a safetensors file"
        )
    try:
        header = json.loads(data[8 : 8 + header_size])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: unreadable header ({error})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: no convmath metadata in the header")
    return metadata
