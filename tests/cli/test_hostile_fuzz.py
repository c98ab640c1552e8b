"""Corrupted variants of valid files: a clean DataError or a valid result, never anything else."""

import gzip
import json

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


def outcome(read, path, refusal=cm.DataError):
    """(result, None) or (None, the refusal's message); any other exception propagates."""
    try:
        return read(path), None
    except refusal as error:
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


# ---------------------------------------------------------------- checkpoint metadata
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    """Every path to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory):
    from convmath.run import TrainConfig, run_training

    out = tmp_path_factory.mktemp("fuzz-run")
    run_training(TrainConfig(epochs=1, train_limit=120), out, log=lambda _: None)
    return out / "last.safetensors"


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_change_to_the_metadata_loads_or_is_refused_cleanly(valid_run, tmp_path, data):
    from hostile_corpus import Original

    from convmath.train import load_checkpoint
    from convmath.train.trained import rebuild

    original = Original(valid_run)
    part = data.draw(st.sampled_from(["config", "state", "history"]))
    document = {"config": original.config, "state": original.state, "history": original.history}[
        part
    ]
    path = data.draw(st.sampled_from(list(_paths(document))))
    changed = _replaced(document, path, data.draw(json_values))
    text = json.dumps(changed, allow_nan=True)
    checkpoint_path = original.write(tmp_path / "fuzz.safetensors", **{part: text})

    def read(where):
        return rebuild(load_checkpoint(where), str(where))

    rebuilt, message = outcome(read, checkpoint_path, cm.CheckpointError)
    assert rebuilt is not None or "fuzz.safetensors" in message


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_metadata_text_loads_or_is_refused_cleanly(valid_run, tmp_path, text):
    from hostile_corpus import Original

    from convmath.train import load_checkpoint

    path = Original(valid_run).write(tmp_path / "text.safetensors", state=text)
    checkpoint, message = outcome(load_checkpoint, path, cm.CheckpointError)
    assert checkpoint is not None or "text.safetensors" in message


# ---------------------------------------------------------------- options
OPTIONS = [
    ("train", "--epochs"), ("train", "--lr"), ("train", "--gamma"), ("train", "--warmup-epochs"),
    ("train", "--clip-norm"), ("train", "--dev-fraction"), ("train", "--image-size"),
    ("train", "--width"), ("summary", "--input-shape"), ("gradcheck", "--batch"),
    ("edges", "--padding"),
]  # fmt: skip
option_text = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**80), 2**80).map(str),
    st.lists(st.integers(-(2**70), 2**70), max_size=4).map(lambda v: ",".join(map(str, v))),
)


@settings(max_examples=300, deadline=None)
@given(option=st.sampled_from(OPTIONS), text=option_text)
def test_any_option_text_parses_to_an_allowed_value_or_one_line(option, text):
    import contextlib
    import io

    from convmath.cli import build_parser

    command, flag = option
    extra = ["lenet5"] if command in {"summary", "gradcheck"} else []
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        args, status = outcome(
            build_parser().parse_args, [command, *extra, f"{flag}={text}"], SystemExit
        )
    if args is None:
        assert status == "2"
        lines = err.getvalue().splitlines()
        assert len(lines) == 1
        assert f"argument {flag}: expected" in lines[0]
        return
    value = getattr(args, flag.lstrip("-").replace("-", "_"))
    for number in value if isinstance(value, tuple) else (value,):
        assert np.isfinite(number)
        assert number >= 0


@settings(max_examples=300, deadline=None)
@given(
    spec=st.lists(
        st.tuples(
            st.sampled_from(
                ["crop", "reflectcrop", "rotate", "hflip", "noise", "hue", "gray", "x"]
            ),
            option_text,
        ).map(lambda pair: f"{pair[0]}:{pair[1]}"),
        max_size=3,
    ).map(",".join)
)
def test_any_augmentation_spec_builds_or_is_refused(spec):
    from convmath.data.augment.spec import parse_augment

    try:
        transform = parse_augment(spec, (28, 28, 1))
    except cm.InvalidArgumentError:
        return
    batch = transform(np.full((2, 28, 28, 1), 0.5, np.float32), np.random.default_rng(0))
    assert batch.shape == (2, 28, 28, 1)
    assert np.isfinite(batch).all()
