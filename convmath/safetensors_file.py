"""Reading a safetensors file that may be hostile: the frame shared by every reader.

A safetensors file is 8 bytes of header length, a JSON header, then the
data. :func:`read_safetensors` opens only a regular file of bounded size,
bounds the header, lets the caller check the header (and its tensor table
against the data's size) before a byte of data is read, then reads the data
once. Checkpoints and PyTorch weight files both read through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from convmath import limits
from convmath.errors import CheckpointError
from convmath.files import open_regular

Checked = TypeVar("Checked")


def read_safetensors(
    path: Path, what: str, check: Callable[[bytes, int], Checked]
) -> tuple[Checked, bytearray]:
    """(``check(header bytes, data size)``, the data) of the file ``path``.

    ``what`` names the kind of file in the size error ("a checkpoint").
    Raises :class:`CheckpointError` naming ``path``.
    """
    with open_regular(path, CheckpointError) as file:
        try:
            size = os.fstat(file.fileno()).st_size
            if size > limits.max_checkpoint_bytes():
                raise CheckpointError(
                    f"{path}: {size:,} bytes, over the {limits.max_checkpoint_bytes():,}-byte"
                    f" limit for {what} (set by CONVMATH_MAX_PARAMETERS)"
                )
            header_size = _header_size(path, file.read(8), size)
            checked = check(file.read(header_size), size - 8 - header_size)
            body = bytearray(size - 8 - header_size)
            if file.readinto(body) != len(body):
                raise CheckpointError(f"{path}: truncated while reading (the file shrank)")
        except OSError as error:
            raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    return checked, body


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


def non_finite_as_float32(array: np.ndarray, chunk: int = 1 << 20) -> int:
    """How many values of ``array`` are NaN or infinite once cast to float32 (in chunks)."""
    flat = array.reshape(-1)
    bad = 0
    with np.errstate(over="ignore"):
        for start in range(0, flat.size, chunk):
            part = flat[start : start + chunk].astype(np.float32, copy=False)
            bad += part.size - int(np.count_nonzero(np.isfinite(part)))
    return bad
