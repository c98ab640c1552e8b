"""Corrupted variants of valid files: a clean DataError or a valid result, never anything else."""

import gzip

import numpy as np
import pytest
from data_fixtures import cifar_records, idx_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convmath as cm
from convmath.data import read_cifar10, read_idx, read_image

VALID_IDX = idx_bytes(np.arange(2 * 5 * 4, dtype=np.uint8).reshape(2, 5, 4))
VALID_CIFAR = cifar_records(np.zeros((2, 32, 32, 3), np.uint8), np.array([3, 7]))


@st.composite
def corrupted(draw, original: bytes):
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[where:]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[where]
    return bytes(data)


def outcome(read, path):
    """(result, None) or (None, the DataError's message); any other exception propagates."""
    try:
        return read(path), None
    except cm.DataError as error:
        return None, str(error)


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(corrupted(VALID_IDX), st.booleans())
def test_corrupted_idx(tmp_path, content, compress):
    path = tmp_path / "fuzz.idx"
    path.write_bytes(gzip.compress(content) if compress else content)
    array, message = outcome(read_idx, path)
    if array is None:
        assert str(path) in message
    else:
        assert array.size * array.itemsize <= len(content)


@FUZZ
@given(corrupted(gzip.compress(VALID_IDX)))
def test_corrupted_gzip_stream(tmp_path, content):
    path = tmp_path / "fuzz.gz"
    path.write_bytes(content)
    array, message = outcome(read_idx, path)
    assert array is not None or str(path) in message


@FUZZ
@given(corrupted(VALID_CIFAR))
def test_corrupted_cifar(tmp_path, content):
    path = tmp_path / "fuzz.bin"
    path.write_bytes(content)
    result, message = outcome(read_cifar10, path)
    if result is None:
        assert str(path) in message
    else:
        images, labels = result
        assert images.shape == (len(labels), 32, 32, 3)
        assert labels.max() <= 9


@pytest.fixture(scope="module")
def valid_png():
    Image = pytest.importorskip("PIL.Image")
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_corrupted_png(tmp_path, valid_png, data):
    content = data.draw(corrupted(valid_png))
    path = tmp_path / "fuzz.png"
    path.write_bytes(content)
    image, message = outcome(read_image, path)
    if image is None:
        assert "fuzz.png" in message
    else:
        assert image.dtype == np.uint8
        assert image.ndim == 3
