"""Reader of the CIFAR-10 binary version (never the pickled "python version").

Each record of ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
``test_batch.bin`` is 3,073 bytes: one label byte (0-9), then 3,072 pixel
bytes, channel-major: the 1,024 red values of the 32x32 image row by row,
then the green, then the blue.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from convmath.errors import DataError
from convmath.files import open_regular

CIFAR_SIDE = 32
CIFAR_CHANNELS = 3
RECORD_BYTES = 1 + CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MAX_RECORDS = 1_000_000  # a bound on hostile files; real batches hold 10,000


def read_cifar10(
    path: str | os.PathLike[str], *, max_records: int = MAX_RECORDS
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch: images (m, 32, 32, 3) uint8 and labels (m,) int64.

    A file of more than ``max_records`` records is refused before it is read.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such CIFAR-10 batch file")
    with open_regular(path, DataError) as file:
        return _read_records(path, file, os.fstat(file.fileno()).st_size, max_records)


def _read_records(
    path: Path, file: BinaryIO, size: int, max_records: int
) -> tuple[np.ndarray, np.ndarray]:
    if size == 0 or size % RECORD_BYTES:
        raise DataError(
            f"{path}: not a CIFAR-10 binary batch: {size} bytes is not a positive multiple of"
            f" the {RECORD_BYTES}-byte record (1 label byte + 32*32*3 pixel bytes)"
        )
    count = size // RECORD_BYTES
    if count > max_records:
        raise DataError(f"{path}: {count:,} records is over the {max_records:,}-record limit")
    data = file.read(size)
    if len(data) != size:
        raise DataError(f"{path}: truncated while reading (the file shrank)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(count, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = labels >= len(CIFAR10_CLASSES)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"{path}: record {first} has label {labels[first]}; CIFAR-10 labels are 0-9"
        )
    pixels = records[:, 1:].reshape(count, CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE)
    return np.ascontiguousarray(pixels.transpose(0, 2, 3, 1)), labels
