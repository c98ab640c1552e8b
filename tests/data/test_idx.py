"""The IDX reader on real files and on hostile ones."""

import gzip
import struct

import numpy as np
import pytest

import convmath as cm
from convmath.data import load_digits, read_idx


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    ("dtype", "code"),
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_type(tmp_path, dtype, code, compress):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = idx_bytes(array, code)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    result = read_idx(path)
    np.testing.assert_array_equal(result, array)
    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative


def test_embedded_digits_are_real():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8)
    assert images.dtype == np.uint8
    assert images.max() == 16
    assert labels.shape == (1797,)
    assert set(np.unique(labels)) == set(range(10))
    assert np.bincount(labels).min() >= 170  # about 180 per class


# name -> (bytes, what the error must say)
HOSTILE = {
    "empty": (b"", "expected 4 bytes of magic number, found 0"),
    "bad-magic": (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    "unknown-type": (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "type 0x07"),
    "zero-dimensions": (b"\x00\x00\x08\x00", "0 dimensions"),
    "too-many-dimensions": (b"\x00\x00\x08\x09" + b"\x00\x00\x00\x01" * 9, "9 dimensions"),
    "truncated-sizes": (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "bytes of sizes"),
    "truncated-data": (
        b"\x00\x00\x08\x02" + struct.pack(">II", 3, 3) + b"\x00" * 5,
        r"shape \(3, 3\)",
    ),
    "trailing-bytes": (b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x00" * 3, "after|has 11"),
    "zero-size": (b"\x00\x00\x08\x03" + struct.pack(">III", 0, 28, 28), "empty dimension"),
    "huge-header": (
        b"\x00\x00\x0e\x03" + struct.pack(">III", 2**31, 2**31, 2**31),
        "over the 1073741824-byte limit",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("compress", [False, True])
def test_hostile_files_get_a_clear_error_naming_the_file(tmp_path, name, compress):
    data, message = HOSTILE[name]
    path = tmp_path / f"{name}.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(cm.DataError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_corrupt_gzip_stream(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((10, 10), np.uint8)))
    path = tmp_path / "corrupt.gz"
    path.write_bytes(good[:12] + bytes(b ^ 0xFF for b in good[12:30]) + good[30:])
    with pytest.raises(cm.DataError, match="corrupt"):
        read_idx(path)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(cm.DataError, match="truncated"):
        read_idx(path)


def test_gzip_bomb_is_refused_before_decompressing_it(tmp_path):
    path = tmp_path / "bomb.gz"
    header = b"\x00\x00\x08\x01" + struct.pack(">I", 50_000_000)
    path.write_bytes(gzip.compress(header + b"\x00" * 50_000_000))
    with pytest.raises(cm.DataError, match="over the 1000000-byte limit"):
        read_idx(path, max_bytes=1_000_000)


def test_missing_file_is_a_data_error_naming_it(tmp_path):
    with pytest.raises(cm.DataError, match=r"absent\.idx: cannot read"):
        read_idx(tmp_path / "absent.idx")
    with pytest.raises(cm.DataError, match="not a regular file"):
        read_idx(tmp_path)
