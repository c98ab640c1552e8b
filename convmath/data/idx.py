"""Reader of the IDX format (MNIST's), plain or gzip-compressed, robust to hostile files.

An IDX file is a header then the data, all big-endian:

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions k
    4*k bytes   the size of each dimension, as uint32
    the elements, row-major

Every field is validated, and the data size is computed and checked against
the file, before any data is read or allocated.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from convmath.errors import DataError
from convmath.files import open_regular

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
MAX_DIMENSIONS = 8
DEFAULT_MAX_BYTES = 1 << 30  # above EMNIST's 550 MB; named datasets pass their exact size


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (gzip detected by content, not by name) into a native-endian array.

    Raises :class:`DataError` naming the file for a bad magic number,
    an unknown type code, a size over ``max_bytes``, a truncated file,
    trailing bytes or a corrupt gzip stream. A compressed file is inflated
    only up to the size its header declares (itself at most ``max_bytes``)
    plus one byte, so a small file that inflates to gigabytes is refused
    after reading no more than that.
    """
    path = Path(path)
    try:
        with open_regular(path, DataError) as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _read_stream(stream, path, max_bytes, file_size=None)
            return _read_stream(raw, path, max_bytes, file_size=os.fstat(raw.fileno()).st_size)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
        raise DataError(f"{path}: cannot open ({error.strerror})") from None
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: corrupt or truncated compressed data ({error})") from None


def _read_exactly(stream: BinaryIO, count: int, path: Path, what: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise DataError(
            f"{path}: truncated IDX file: expected {count} bytes of {what}, found {len(data)}"
        )
    return data


def _read_stream(stream: BinaryIO, path: Path, max_bytes: int, file_size: int | None) -> np.ndarray:
    magic = _read_exactly(stream, 4, path, "magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(
            f"{path}: not an IDX file: the magic number starts with {magic[:2].hex()},"
            f" expected 0000 (IDX) or 1f8b (gzip)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX element type 0x{code:02X}; expected one of {known}")
    if not 1 <= ndim <= MAX_DIMENSIONS:
        raise DataError(
            f"{path}: IDX header gives {ndim} dimensions, expected 1 to {MAX_DIMENSIONS}"
        )
    shape = tuple(
        int(n) for n in np.frombuffer(_read_exactly(stream, 4 * ndim, path, "sizes"), ">u4")
    )
    if 0 in shape:
        raise DataError(f"{path}: IDX header gives an empty dimension in shape {shape}")
    dtype = IDX_DTYPES[code]
    n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if n_bytes > max_bytes:
        raise DataError(
            f"{path}: IDX header announces shape {shape} ({n_bytes} bytes), over the"
            f" {max_bytes}-byte limit"
        )
    header = 4 + 4 * ndim
    if file_size is not None and file_size != header + n_bytes:
        raise DataError(
            f"{path}: IDX header announces shape {shape} ({header + n_bytes} bytes with the"
            f" header) but the file has {file_size} bytes"
        )
    data = _read_exactly(stream, n_bytes, path, f"data for shape {shape}")
    if stream.read(1):
        raise DataError(f"{path}: unexpected bytes after the {n_bytes} data bytes of shape {shape}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
