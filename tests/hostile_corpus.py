"""A corpus of hostile and careless inputs for every command, generated at test time.

Each case is (name, make) where ``make(folder)`` writes what the case needs
under ``folder`` and returns the command line. Nothing large is committed:
big files are sparse, bombs are a few kilobytes that claim (or inflate to)
gigabytes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from data_fixtures import cifar_records, idx_bytes, png_with_declared_size

from convmath.cli import main

Make = Callable[[Path], list[str]]
DTYPE_CODES = {"float32": "F32", "float64": "F64", "int64": "I64"}


# ---------------------------------------------------------------- raw checkpoints
def safetensors_bytes(
    entries: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str]
) -> bytes:
    """A safetensors file written by hand: {name: (dtype code, shape, raw bytes)}, metadata."""
    header: dict = {"__metadata__": metadata}
    body = bytearray()
    for name, (dtype, shape, data) in entries.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(body), len(body) + len(data)],
        }
        body += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + bytes(body)


class Original:
    """The parts of a valid checkpoint, to be altered one at a time."""

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        self.metadata: dict[str, str] = header.pop("__metadata__")
        body = data[8 + size :]
        self.entries = {
            name: (e["dtype"], e["shape"], body[e["data_offsets"][0] : e["data_offsets"][1]])
            for name, e in header.items()
        }
        self.config = json.loads(self.metadata["config"])
        self.state = json.loads(self.metadata["state"])
        self.history = json.loads(self.metadata["history"])

    def write(self, path: Path, *, entries=None, **metadata_text: str) -> Path:
        metadata = dict(self.metadata) | metadata_text
        path.write_bytes(safetensors_bytes(self.entries if entries is None else entries, metadata))
        return path

    def with_config(self, path: Path, change: Callable[[dict], None]) -> Path:
        config = json.loads(self.metadata["config"])
        change(config)
        return self.write(path, config=json.dumps(config))

    def with_state(self, path: Path, change: Callable[[dict], None]) -> Path:
        state = json.loads(self.metadata["state"])
        change(state)
        return self.write(path, state=json.dumps(state))

    def with_tensor(self, path: Path, name: str, array: np.ndarray) -> Path:
        entries = dict(self.entries)
        dtype = DTYPE_CODES[str(array.dtype)]
        entries[name] = (dtype, list(array.shape), np.ascontiguousarray(array).tobytes())
        return self.write(path, entries=entries)


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(mapping: dict) -> None:
        for key in keys[:-1]:
            mapping = mapping[key]
        mapping[keys[-1]] = value

    return change


def _delete(*keys):
    def change(mapping: dict) -> None:
        for key in keys[:-1]:
            mapping = mapping[key]
        del mapping[keys[-1]]

    return change


def _first_weight(o: Original) -> str:
    return next(k for k in o.entries if k.startswith("model/") and k.endswith(".W"))


def _poisoned(o: Original, path: Path, value: float) -> Path:
    name = _first_weight(o)
    weight = np.zeros(o.entries[name][1], np.float32)
    weight.flat[3] = value
    return o.with_tensor(path, name, weight)


def _bfloat16(o: Original, path: Path) -> Path:
    name = _first_weight(o)
    shape = o.entries[name][1]
    return o.write(
        path, entries=dict(o.entries) | {name: ("BF16", shape, bytes(2 * math.prod(shape)))}
    )


def _huge_input(o: Original, path: Path) -> Path:
    def change(config: dict) -> None:
        config["model"]["input_shape"] = [10**7, 10**7, 1]
        config["preprocessing"]["input_shape"] = [10**7, 10**7, 1]

    return o.with_config(path, change)


def _many_tensors(o: Original, path: Path) -> Path:
    junk = {f"model/junk{k}": ("F32", [1], bytes(4)) for k in range(200_000)}
    return o.write(path, entries=dict(o.entries) | junk)


def _f64_beyond_float32(o: Original, path: Path) -> Path:
    name = _first_weight(o)
    return o.with_tensor(path, name, np.full(o.entries[name][1], 1e300))


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


FIVE_THOUSAND_DIGITS = "9" * 5000

# Hostile checkpoints, each to be refused by every command that reads a checkpoint.
CHECKPOINT_CASES: dict[str, Callable[[Original, Path], Path]] = {
    # the JSON decoded after the bytes are read
    "deep-json-config": lambda o, p: o.write(p, config="[" * 100_000 + "]" * 100_000),
    "5000-digit-int": lambda o, p: o.write(p, state='{"epoch": ' + FIVE_THOUSAND_DIGITS + "}"),
    "infinity-epoch": lambda o, p: o.write(p, state='{"epoch": Infinity}'),
    "nan-history": lambda o, p: o.write(p, history='[{"epoch": 1, "train_loss": NaN}]'),
    "duplicate-keys": lambda o, p: o.write(p, state='{"epoch": 1, "epoch": 2}'),
    "state-not-json": lambda o, p: o.write(p, state="{'epoch': 1"),
    "history-strings": lambda o, p: o.write(p, history='[{"epoch": "one"}]'),
    "negative-epoch": lambda o, p: o.with_state(p, _set("epoch", -3)),
    "negative-step": lambda o, p: o.with_state(p, _set("step", -1)),
    "best-accuracy-7": lambda o, p: o.with_state(p, _set("best_accuracy", 7.0)),
    "rng-garbage": lambda o, p: o.with_state(p, _set("rng", {"data": {"bit_generator": "MT"}})),
    # the run configuration
    "missing-dataset": lambda o, p: o.with_config(p, _delete("dataset")),
    "missing-model": lambda o, p: o.with_config(p, _delete("model")),
    "unknown-model": lambda o, p: o.with_config(p, _set("model", "name", "alexnet")),
    "width-1e6": lambda o, p: o.with_config(p, _set("model", "options", {"width": 10**6})),
    "width-negative": lambda o, p: o.with_config(p, _set("model", "options", {"width": -4})),
    "width-float": lambda o, p: o.with_config(p, _set("model", "options", {"width": 16.5})),
    "unknown-option": lambda o, p: o.with_config(p, _set("model", "options", {"depth": 20})),
    "input-shape-100tb": _huge_input,
    "input-shape-2^63": lambda o, p: o.with_config(p, _set("model", "input_shape", [2**63, 8, 1])),
    "input-shape-two-axes": lambda o, p: o.with_config(p, _set("model", "input_shape", [8, 8])),
    "classes-1e9": lambda o, p: o.with_config(p, _set("model", "num_classes", 10**9)),
    "classes-zero": lambda o, p: o.with_config(p, _set("model", "num_classes", 0)),
    "class-list-mismatch": lambda o, p: o.with_config(
        p, _set("preprocessing", "classes", ["a", "b", "c"])
    ),
    "class-names-not-text": lambda o, p: o.with_config(
        p, _set("preprocessing", "classes", list(range(10)))
    ),
    "std-zero": lambda o, p: o.with_config(p, _set("preprocessing", "std", [0.0])),
    "std-negative": lambda o, p: o.with_config(p, _set("preprocessing", "std", [-1.0])),
    "mean-text": lambda o, p: o.with_config(p, _set("preprocessing", "mean", ["zero"])),
    "two-means-one-channel": lambda o, p: o.with_config(
        p, _set("preprocessing", "mean", [0.1, 0.2])
    ),
    "scale-huge": lambda o, p: o.with_config(p, _set("preprocessing", "scale", 1e300)),
    "training-epochs-negative": lambda o, p: o.with_config(p, _set("training", "epochs", -5)),
    "training-warmup-huge": lambda o, p: o.with_config(p, _set("training", "warmup_epochs", 1e300)),
    "training-eval-batch-0": lambda o, p: o.with_config(p, _set("training", "eval_batch_size", 0)),
    "training-lr-negative": lambda o, p: o.with_config(p, _set("training", "lr", -0.1)),
    "training-gamma-1e200": lambda o, p: o.with_config(p, _set("training", "gamma", 1e200)),
    "training-unknown-key": lambda o, p: o.with_config(p, _set("training", "rocket", True)),
    # the tensors
    "bfloat16-tensor": _bfloat16,
    "nan-weight": lambda o, p: _poisoned(o, p, np.nan),
    "inf-weight": lambda o, p: _poisoned(o, p, np.inf),
    "weight-wrong-shape": lambda o, p: o.with_tensor(
        p, _first_weight(o), np.zeros((2, 2), np.float32)
    ),
    "200k-tensors": _many_tensors,
    "overlapping-offsets": lambda o, p: _overlapping(o, p),
    "not-a-model-tensor": lambda o, p: o.with_tensor(p, "weights/x", np.zeros(1, np.float32)),
    # the file itself
    "sparse-3gb": lambda o, p: _sparse(p, 3 << 30),
    "sparse-1gb-of-zeros": lambda o, p: _sparse(p, 1 << 30),
    "truncated": lambda o, p: _cut(o.write(p), 0.5),
    "empty": lambda o, p: _cut(o.write(p), 0.0),
    "a-folder": lambda o, p: _folder(p),
    "a-fifo": lambda o, p: _fifo(p),
    # found by the red team and the review
    "f64-beyond-float32": _f64_beyond_float32,
    "class-name-surrogate": lambda o, p: o.with_config(
        p, _set("preprocessing", "classes", ["\ud800", *map(str, range(1, 10))])
    ),
    "unterminated-escapes": lambda o, p: o.write(p, config='"' + '\\"' * 200_000),
    "width-1600-larger-than-file": lambda o, p: o.with_config(
        p, _set("model", "options", {"width": 1600})
    ),
    # options named as build's own arguments would reach build twice
    "option-named-rng": lambda o, p: o.with_config(p, _set("model", "options", {"rng": 1})),
    "option-named-max-parameters": lambda o, p: o.with_config(
        p, _set("model", "options", {"max_parameters": 10**9})
    ),
    "option-named-name": lambda o, p: o.with_config(
        p, _set("model", "options", {"name": "lenet5"})
    ),
}

# What each refusal must say (a fragment of its one line), so that no case passes by being
# refused for another reason than the one it tests.
CHECKPOINT_REFUSALS = {
    "deep-json-config": "JSON nested too deep",
    "5000-digit-int": "an integer of 5000 digits",
    "infinity-epoch": "Infinity (JSON has no NaN or infinities)",
    "nan-history": "NaN (JSON has no NaN or infinities)",
    "duplicate-keys": "the key 'epoch' twice in one object",
    "state-not-json": "damaged metadata 'state': not valid JSON",
    "history-strings": "history[0].epoch must be an integer",
    "negative-epoch": "state.epoch must be an integer in [0,",
    "negative-step": "state.step must be an integer",
    "best-accuracy-7": "state.best_accuracy must be a finite number in [0, 1], got 7.0",
    "rng-garbage": "state.rng['data'] must be a mapping",
    "missing-dataset": "the configuration has no dataset",
    "missing-model": "the configuration has no model",
    "unknown-model": "model.name must be one of",
    "width-1e6": "width must be an integer in [1, 4,096], got 1000000",
    "width-negative": "width must be an integer in [1, 4,096], got -4",
    "width-float": "width must be an integer in [1, 4,096], got 16.5",
    "unknown-option": "does not take the options {'depth': 20}",
    "input-shape-100tb": "model.input_shape[0] must be an integer in [1, 4,096], got 10000000",
    "input-shape-2^63": "got 9223372036854775808",
    "input-shape-two-axes": "model.input_shape must be a list of 3 items",
    "classes-1e9": "model.num_classes must be an integer in [1, 10,000], got 1000000000",
    "classes-zero": "model.num_classes must be an integer in [1, 10,000], got 0",
    "class-list-mismatch": "3 class names in preprocessing.classes for a model with 10 outputs",
    "class-names-not-text": "preprocessing.classes[0] must be a string",
    "std-zero": "preprocessing.std[0] must be a finite number in [1e-06,",
    "std-negative": "preprocessing.std[0] must be a finite number in [1e-06,",
    "mean-text": "preprocessing.mean[0] must be a finite number",
    "two-means-one-channel": "preprocessing.mean has 2 values for 1 channels",
    "scale-huge": "preprocessing.scale must be a finite number in (0, 1]",
    "training-epochs-negative": "training setting epochs must be an integer",
    "training-warmup-huge": "training setting warmup_epochs must be a finite number",
    "training-eval-batch-0": "training setting eval_batch_size must be an integer",
    "training-lr-negative": "training setting lr must be a finite number",
    "training-gamma-1e200": "training setting gamma must be a finite number",
    "training-unknown-key": "unknown training settings ['rocket']",
    "bfloat16-tensor": "got 'BF16'",
    "nan-weight": "holds 1 NaN, infinite or beyond-float32 value(s)",
    "inf-weight": "holds 1 NaN, infinite or beyond-float32 value(s)",
    "weight-wrong-shape": "its weights cannot fit",
    "200k-tensors": "header limit",
    "overlapping-offsets": "overlapping or missing bytes",
    "not-a-model-tensor": "unexpected tensor 'weights/x'",
    "sparse-3gb": "-byte limit for a checkpoint",
    "sparse-1gb-of-zeros": "-byte limit for a checkpoint",
    "truncated": "damaged tensor data: truncated",
    "empty": "truncated (0 bytes)",
    "a-folder": "not a regular file",
    "a-fifo": "not a regular file",
    "f64-beyond-float32": "NaN, infinite or beyond-float32 value(s)",
    "class-name-surrogate": "preprocessing.classes[0] must be text of valid Unicode",
    "unterminated-escapes": "damaged metadata 'config': not valid JSON",
    "width-1600-larger-than-file": "its weights cannot fit",
    "option-named-rng": "model.options key must be a name of 1 to 256 characters other than"
    " ['input_shape', 'max_parameters', 'name', 'num_classes', 'rng'], got 'rng'",
    "option-named-max-parameters": "got 'max_parameters'",
    "option-named-name": "got 'name'",
}


def _overlapping(o: Original, path: Path) -> Path:
    data = bytearray(o.write(path).read_bytes())
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    # Two tensors of the same size (a batch norm's gamma and beta) given the same bytes.
    gamma, beta = (next(k for k in header if k.endswith(f"bn1.{n}")) for n in ("gamma", "beta"))
    header[beta]["data_offsets"] = header[gamma]["data_offsets"]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(data[8 + size :]))
    return path


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        out.truncate(size)
    return path


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


# Commands that read a checkpoint, and what else they need.
def checkpoint_commands(checkpoint: Path, image: Path, out: Path) -> dict[str, list[str]]:
    return {
        "evaluate": ["evaluate", str(checkpoint)],
        "predict": ["predict", str(checkpoint), str(image)],
        "summary": ["summary", str(checkpoint)],
        "explain": ["explain", str(checkpoint)],
        "gradcheck": ["gradcheck", str(checkpoint)],
        "featuremaps": ["featuremaps", str(checkpoint), str(image), "--out", str(out / "f.png")],
        "filters": ["filters", str(checkpoint), "--out", str(out / "w.png")],
        "confusion": ["confusion", str(checkpoint), "--out-dir", str(out)],
        "resume": ["train", "--resume", str(checkpoint), "--out", str(out / "resumed")],
        "export": ["export", str(checkpoint), "--out", str(out / "exported.onnx")],
    }


# ---------------------------------------------------------------- outputs over inputs
def _hard_link(target: Path, link: Path) -> Path:
    os.link(target, link)
    return link


def _text_file(path: Path, text: str = "someone's notes") -> Path:
    path.write_text(text)
    return path


# Outputs that would destroy an input: each ``make(run, folder)`` gets a copy of a finished run
# folder and an empty folder beside it, and returns the command line. Every file there must be
# left as it was (the command's name is the case's first word).
OUTPUT_CASES: dict[str, Callable[[Path, Path], list[str]]] = {
    "export-over-last-checkpoint": lambda run, f: [
        "export",
        str(run / "best.safetensors"),
        "--out",
        str(run / "last.safetensors"),
        "--overwrite",
    ],
    "export-over-history-json": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(run / "history.json"),
        "--overwrite",
    ],
    "export-torch-over-metrics": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--format",
        "torch",
        "--out",
        str(run / "metrics.json"),
        "--overwrite",
    ],
    "export-to-a-run-file-name-elsewhere": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(f / "best.safetensors"),
    ],
    "export-over-a-hard-link-to-its-checkpoint": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(_hard_link(run / "last.safetensors", f / "model.onnx")),
        "--overwrite",
    ],
    "export-over-an-existing-file": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(_text_file(f / "notes.onnx")),
    ],
    "export-torch-over-an-existing-file": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--format",
        "torch",
        "--out",
        str(_text_file(f / "w.torch.safetensors")),
    ],
    "export-over-a-folder": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(_folder(f / "a-folder.onnx")),
        "--overwrite",
    ],
    "export-over-a-symlink": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(_symlink(run / "history.json", f / "h.onnx")),
        "--overwrite",
    ],
    "export-over-a-loop-of-links": lambda run, f: [
        "export",
        str(run / "last.safetensors"),
        "--out",
        str(_link_loop(f / "a.onnx", f / "b.onnx")),
        "--overwrite",
    ],
    "featuremaps-over-a-loop-of-links": lambda run, f: [
        "featuremaps",
        str(run / "last.safetensors"),
        str(_link_loop(f / "a.png", f / "b.png")),
        "--out",
        str(f / "a.png"),
    ],
    "export-of-the-current-folder": lambda run, f: ["export", "."],
    # the commands that draw: a PNG file, never one they read
    "filters-over-its-checkpoint": lambda run, f: [
        "filters",
        str(run / "last.safetensors"),
        "--out",
        str(run / "last.safetensors"),
    ],
    "filters-over-the-metrics": lambda run, f: [
        "filters",
        str(run / "last.safetensors"),
        "--out",
        str(run / "metrics.json"),
    ],
    "plot-over-its-history": lambda run, f: [
        "plot",
        str(run / "history.json"),
        "--out",
        str(run / "history.json"),
    ],
    "featuremaps-over-its-image": lambda run, f: [
        "featuremaps",
        str(run / "last.safetensors"),
        str(_blank(f / "digit.png", 8)),
        "--out",
        str(f / "digit.png"),
    ],
    "predict-show-over-its-image": lambda run, f: [
        "predict",
        str(run / "last.safetensors"),
        str(_blank(f / "digit.png", 8)),
        "--show",
        str(f / "digit.png"),
    ],
    "edges-save-over-its-image": lambda run, f: [
        "edges",
        "--image",
        str(_blank(f / "digit.png", 8)),
        "--save",
        str(f / "digit.png"),
    ],
}

OUTPUT_REFUSALS = {
    "export-over-last-checkpoint": "last.safetensors is a name a training run gives its own files",
    "export-over-history-json": "history.json is a name a training run gives its own files",
    "export-torch-over-metrics": "metrics.json is a name a training run gives its own files",
    "export-to-a-run-file-name-elsewhere": "export never writes over them, even with --overwrite",
    "export-over-a-hard-link-to-its-checkpoint": "model.onnx is the file being exported",
    "export-over-an-existing-file": "notes.onnx exists; pass --overwrite to replace it",
    "export-torch-over-an-existing-file": "w.torch.safetensors exists; pass --overwrite",
    "export-over-a-folder": "a-folder.onnx exists and is not a regular file",
    "export-over-a-symlink": "h.onnx exists and is not a regular file",
    "export-over-a-loop-of-links": "a.onnx exists and is not a regular file",
    "featuremaps-over-a-loop-of-links": "a.png is a file this command reads; choose another",
    "export-of-the-current-folder": "error: .: not a regular file",
    "filters-over-its-checkpoint": "--out writes a PNG file; got",
    "filters-over-the-metrics": "--out writes a PNG file; got",
    "plot-over-its-history": "--out writes a PNG file; got",
    "featuremaps-over-its-image": "digit.png is a file this command reads; choose another",
    "predict-show-over-its-image": "digit.png is a file this command reads; choose another",
    "edges-save-over-its-image": "digit.png is a file this command reads; choose another",
}


def _symlink(target: Path, link: Path) -> Path:
    link.symlink_to(target)
    return link


def _link_loop(first: Path, second: Path) -> Path:
    first.symlink_to(second)
    second.symlink_to(first)
    return first


# ---------------------------------------------------------------- options
NON_FINITE_AND_OUT_OF_RANGE = ["nan", "inf", "-inf", "-1", "1e308", "1" + "0" * 30, "abc", ""]
TRAIN_NUMERIC_OPTIONS = [
    "--epochs",
    "--batch-size",
    "--lr",
    "--momentum",
    "--weight-decay",
    "--gamma",
    "--step-epochs",
    "--warmup-epochs",
    "--dev-fraction",
    "--seed",
    "--patience",
    "--label-smoothing",
    "--clip-norm",
    "--train-limit",
    "--depth",
    "--width",
    "--threads",
]
OPTION_CASES: dict[str, list[str]] = {
    "augment-crop-nan": ["train", "--augment", "crop:nan"],
    "augment-crop-1e30": ["train", "--augment", "crop:1e30"],
    "augment-crop-100000": ["train", "--augment", "crop:100000"],
    "augment-crop-fraction": ["train", "--augment", "crop:1.5"],
    "augment-rotate-inf": ["train", "--augment", "rotate:inf"],
    "augment-hue-nan": ["train", "--augment", "hue:nan"],
    "augment-brightness-inf": ["train", "--augment", "brightness:inf"],
    "augment-hflip-2": ["train", "--augment", "hflip:2"],
    "augment-unknown": ["train", "--augment", "wobble:1"],
    "width-1e6": ["train", "--width", "1000000"],
    "width-4096-too-many-parameters": ["train", "--width", "4096"],
    "depth-not-6n+2": ["train", "--model", "resnet", "--depth", "21"],
    "depth-10000": ["train", "--model", "resnet", "--depth", "10004"],
    "image-size-for-digits": ["train", "--image-size", "64,64"],
    "image-size-12000": ["train", "--image-size", "12000,12000"],
    "image-size-three": ["train", "--image-size", "28,28,1"],
    "summary-input-100000": ["summary", "lenet5", "--input-shape", "100000,100000,1"],
    "summary-input-2^63": ["summary", "lenet5", "--input-shape", "9223372036854775808,8,1"],
    "summary-input-4096-too-many-parameters": ["summary", "lenet5", "--input-shape", "4096,4096,1"],
    "summary-classes-1e9": ["summary", "lenet5", "--classes", "1000000000"],
    "explain-classes-nan": ["explain", "lenet5", "--classes", "nan"],
    "gradcheck-batch-1e6": ["gradcheck", "digits_cnn", "--batch", "1000000"],
    "gradcheck-memory": ["gradcheck", "resnet", "--input-shape", "2048,2048,3", "--batch", "64"],
    "gradcheck-directions-0": ["gradcheck", "digits_cnn", "--directions", "0"],
    "edges-padding-1e6": ["edges", "--padding", "1000000"],
    "edges-index-negative": ["edges", "--index", "-1"],
    "predict-top-0": ["predict", "x.safetensors", "x.png", "--top", "0"],
    "unknown-option": ["train", "--rocket"],
    "unknown-command": ["launch"],
}


# ---------------------------------------------------------------- data files
def _mnist_folder(root: Path, images: bytes, labels: bytes, *, compress: bool = True) -> Path:
    folder = root / "data" / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, data in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            (folder / name).write_bytes(gzip.compress(data, 1) if compress else data)
    return root / "data"


def _gzip_bomb(root: Path) -> list[str]:
    # A header announcing all of MNIST's training images, then 256 MB of zeros (250 KB gzipped).
    labels = idx_bytes((np.arange(60000) % 10).astype(np.uint8))
    data = _mnist_folder(root, b"", labels)
    with gzip.open(data / "mnist" / "train-images-idx3-ubyte.gz", "wb", compresslevel=9) as out:
        out.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000, 28, 28))
        zeros = bytes(1 << 20)
        for _ in range(256):
            out.write(zeros)
    return ["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(root / "run")]


def _huge_idx_header(root: Path) -> list[str]:
    header = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**31, 28, 28)
    labels = idx_bytes((np.arange(60000) % 10).astype(np.uint8))
    data = _mnist_folder(root, header, labels)
    return ["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(root / "run")]


def _float_labels(root: Path) -> list[str]:
    images = idx_bytes(np.zeros((60000, 28, 28), np.uint8))
    labels = idx_bytes((np.arange(60000) % 10).astype(np.float32), code=0x0D)
    data = _mnist_folder(root, images, labels)
    return ["train", "--dataset", "mnist", "--data-dir", str(data), "--out", str(root / "run")]


def _cifar_15x(root: Path) -> list[str]:
    folder = root / "data" / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    record = cifar_records(np.zeros((1, 32, 32, 3), np.uint8), np.array([1]))
    for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(record * 2)
    with open(folder / "data_batch_3.bin", "wb") as out:
        out.truncate(15 * 10000 * 3073)  # sparse: no disk used
    return [
        "train",
        "--dataset",
        "cifar10",
        "--data-dir",
        str(root / "data"),
        "--out",
        str(root / "r"),
    ]


def _image_folder(root: Path, classes: tuple[str, ...], picture: bytes | None = None) -> Path:
    from PIL import Image

    for name in classes:
        (root / "pictures" / name).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(
                root / "pictures" / name / f"{k}.png"
            )
    if picture is not None:
        (root / "pictures" / classes[0] / "hostile.png").write_bytes(picture)
    return root / "pictures"


def _ico_as_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (256, 256)).save(buffer, format="ICO", sizes=[(256, 256)])
    return buffer.getvalue()


def _history(root: Path, text: str) -> list[str]:
    (root / "history.json").write_text(text)
    return ["plot", str(root / "history.json"), "--out", str(root / "curves.png")]


DATA_CASES: dict[str, Make] = {
    "idx-gzip-bomb": _gzip_bomb,
    "idx-header-2^31-images": _huge_idx_header,
    "idx-float-labels": _float_labels,
    "cifar-batch-15x": _cifar_15x,
    "folder-one-class": lambda r: [
        "train",
        "--dataset",
        str(_image_folder(r, ("cat",))),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "folder-ico-named-png": lambda r: [
        "train",
        "--dataset",
        str(_image_folder(r, ("cat", "dog"), _ico_as_png())),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "folder-png-bomb": lambda r: [
        "train",
        "--dataset",
        str(_image_folder(r, ("cat", "dog"), png_with_declared_size(7000, 7000))),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "edges-ico-named-png": lambda r: ["edges", "--image", str(_write(r / "x.png", _ico_as_png()))],
    "edges-png-bomb": lambda r: [
        "edges",
        "--image",
        str(_write(r / "x.png", png_with_declared_size(7000, 7000))),
    ],
    "history-nan": lambda r: _history(r, '[{"epoch": 1, "train_loss": NaN, "train_accuracy": 1}]'),
    "history-strings": lambda r: _history(
        r, '[{"epoch": 1, "train_loss": "low", "train_accuracy": 1}]'
    ),
    "history-deep": lambda r: _history(r, "[" * 50_000 + "]" * 50_000),
    "history-huge-int": lambda r: _history(r, '[{"epoch": ' + "1" * 5000 + "}]"),
    "history-not-a-list": lambda r: _history(r, '{"epoch": 1}'),
    "history-unterminated-escapes": lambda r: _history(r, '"' + '\\"' * 200_000),
    "history-a-fifo": lambda r: ["plot", str(_fifo(r / "history.json"))],
    "predict-a-fifo-image": lambda r: ["edges", "--image", str(_fifo(r / "x.png"))],
    "folder-with-a-bmp": lambda r: [
        "train",
        "--dataset",
        str(_bmp_folder(r)),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "folder-of-huge-images-of-two-sizes": lambda r: [
        "train",
        "--dataset",
        str(_two_size_folder(r)),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "edges-6300-pixels": lambda r: ["edges", "--image", str(_blank(r / "big.png", 6300))],
    "edges-6324-pixels-rgb": lambda r: [
        "edges",
        "--image",
        str(_blank(r / "big.png", 6324, "RGB")),
    ],
    "history-1e308": lambda r: _history(
        r,
        '[{"epoch": 1, "train_loss": 1e308, "train_accuracy": -1e308},'
        ' {"epoch": 2, "train_loss": -1e308, "train_accuracy": 1e308}]',
    ),
    "folder-model-does-not-fit-its-images": lambda r: [
        "train",
        "--dataset",
        str(_two_size_folder(r, same=True)),
        "--model",
        "lenet5",
        "--image-size",
        "8,8",
        "--out",
        str(r / "run"),
    ],
    "history-missing-columns": lambda r: _history(r, '[{"epoch": 1}]'),
    "folder-png-chunk-claims-3gb": lambda r: [
        "train",
        "--dataset",
        str(_image_folder(r, ("cat", "dog"), _png_claiming(b"IDAT", 3 << 30))),
        "--model",
        "digits_cnn",
        "--out",
        str(r / "run"),
    ],
    "edges-png-chunk-claims-3gb": lambda r: [
        "edges",
        "--image",
        str(_write(r / "x.png", _png_claiming(b"IDAT", 3 << 30))),
    ],
    "edges-png-text-chunk-claims-2gb": lambda r: [
        "edges",
        "--image",
        str(_write(r / "x.png", _png_claiming(b"zTXt", (2 << 30) - 1))),
    ],
    "edges-png-of-200k-empty-chunks": lambda r: [
        "edges",
        "--image",
        str(_write(r / "x.png", _png_claiming(b"abCd", 0, copies=200_000))),
    ],
}


def _png_claiming(kind: bytes, length: int, copies: int = 1) -> bytes:
    """An 8 x 8 PNG of a hundred bytes with a chunk ``kind`` whose header claims ``length`` bytes
    (``copies`` of it, each empty, where ``length`` is 0).

    Pillow reads a chunk with one read of its declared length: 3 GB asked for.
    """
    import zlib

    def chunk(kind: bytes, data: bytes, claimed: int | None = None) -> bytes:
        size = len(data) if claimed is None else claimed
        return struct.pack(">I", size) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 72)
    if length == 0:
        middle = chunk(kind, b"") * copies + chunk(b"IDAT", pixels)
    else:
        middle = chunk(kind, pixels if kind == b"IDAT" else b"x" * 20, length)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + middle + chunk(b"IEND", b"")


def _bmp_folder(root: Path) -> Path:
    from PIL import Image

    folder = _image_folder(root, ("cat", "dog"))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "dog" / "scan.bmp")
    return folder


def _two_size_folder(root: Path, *, same: bool = False) -> Path:
    # Images of 6300 x 6300 (a few kilobytes each as PNG, 40 MB each decoded); unless ``same``,
    # the first class holds 8 x 8 ones, so a model fits the first image and not the others.
    folder = root / "pictures"
    big = _blank(root / "big.png", 6300).read_bytes()
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for k in range(10):
            if name == "a" and not same:
                _blank(folder / name / f"{k:02}.png", 8)
            else:
                (folder / name / f"{k:02}.png").write_bytes(big)
    return folder


def _blank(path: Path, side: int, mode: str = "L") -> Path:
    from PIL import Image

    Image.new(mode, (side, side)).save(path)
    return path


# What each data refusal must say (a fragment of its one line).
DATA_REFUSALS = {
    "cifar-batch-15x": "150,000 records is over the 10,000-record limit",
    "edges-6300-pixels": "edges works on images of up to 2048 x 2048",
    "edges-6324-pixels-rgb": "edges works on images of up to 2048 x 2048",
    "edges-ico-named-png": "x.png: not a PNG or JPEG image",
    "edges-png-bomb": "over the 40000000-pixel limit",
    "folder-ico-named-png": "hostile.png: not a PNG or JPEG image",
    "folder-model-does-not-fit-its-images": "Conv2D 'conv2': the window does not fit",
    "folder-of-huge-images-of-two-sizes": "size (6300, 6300) differs from",
    "folder-one-class": "a classifier needs at least 2 class folders, found ['cat']",
    "folder-png-bomb": "over the 40000000-pixel limit",
    "folder-with-a-bmp": "scan.bmp: only PNG and JPEG images are read",
    "history-1e308": "history[0].train_loss must be a finite number in [-1e+39, 1e+39]",
    "history-a-fifo": "history.json: not a regular file",
    "history-deep": "JSON nested too deep",
    "history-huge-int": "an integer of 5000 digits",
    "history-missing-columns": "history.json: history rows need",
    "history-nan": "NaN (JSON has no NaN or infinities)",
    "history-not-a-list": "the history must be a list",
    "history-strings": "history[0].train_loss must be a finite number",
    "history-unterminated-escapes": "not valid JSON (Unterminated string",
    "idx-float-labels": "expected integer labels (m,), got float32",
    "idx-gzip-bomb": "unexpected bytes after the 47040000 data bytes",
    "idx-header-2^31-images": "over the 47040000-byte limit",
    "predict-a-fifo-image": "x.png: not a regular file",
    "folder-png-chunk-claims-3gb": "hostile.png: damaged PNG: its 'IDAT' chunk at byte 33 claims"
    " 3,221,225,472 bytes, but the file holds",
    "edges-png-chunk-claims-3gb": "x.png: damaged PNG: its 'IDAT' chunk at byte 33 claims",
    "edges-png-text-chunk-claims-2gb": "its 'zTXt' chunk at byte 33 claims 2,147,483,647 bytes",
    "edges-png-of-200k-empty-chunks": "x.png: a PNG of more than 100,000 chunks",
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- ONNX files
# Each case builds a small hostile .onnx file with onnx.helper (the onnx extra: the tests
# that use these skip without it) and names what its one line must say. Some set the
# environment (a lower parameter or memory limit) so that a file of a few megabytes
# stands for one of hundreds; ``ONNX_ENVIRONMENT`` says which.
OnnxMake = Callable[[], bytes]


def _onnx_model(nodes, shape=("N", 1, 8, 8), initializers=(), output=("N", 10), opset=17) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        list(nodes),
        "hostile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output))],
        list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model.SerializeToString()


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attributes):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=name, **attributes)


def _tensor(name: str, array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(array, name)


def _dense(weights: np.ndarray, *, bias=None, **attributes) -> bytes:
    """x (N, 1, 8, 8) -> Flatten -> Gemm(fc.W, fc.b) -> y: a classifier of 10 classes."""
    inputs = ["f", "fc.W"] + (["fc.b"] if bias is not None else [])
    tensors = [_tensor("fc.W", weights)] + ([_tensor("fc.b", bias)] if bias is not None else [])
    nodes = [
        _node("Flatten", ["x"], ["f"], "flat"),
        _node("Gemm", inputs, ["y"], "fc", **attributes),
    ]
    return _onnx_model(nodes, initializers=tensors)


def _wide_flatten() -> bytes:  # 81 bytes of graph: every example 64 x 1024 x 1024 wide
    return _onnx_model([_node("Flatten", ["x"], ["y"], "flat")], shape=("N", 64, 1024, 1024))


def _doubling_concats() -> bytes:
    nodes, previous = [], "x"
    for k in range(30):
        nodes.append(_node("Concat", [previous, previous], [f"c{k}"], f"join{k}", axis=1))
        previous = f"c{k}"
    nodes.append(_node("Flatten", [previous], ["y"], "flat"))
    return _onnx_model(nodes, shape=("N", 1, 1, 1))


def _thirty_thousand_classes() -> bytes:
    return _dense(np.zeros((30_000, 64), np.float32), transB=1)


def _wide_convolution() -> bytes:  # 11x11x64 -> 64 on 512x512: 7.6 GiB of im2col a picture
    nodes = [
        _node("Conv", ["x", "c.W"], ["z"], "conv", pads=[5, 5, 5, 5]),
        _node("GlobalAveragePool", ["z"], ["p"], "pool"),
        _node("Flatten", ["p"], ["y"], "flat"),
    ]
    weight = _tensor("c.W", np.zeros((64, 64, 11, 11), np.float32))
    return _onnx_model(nodes, shape=("N", 64, 512, 512), initializers=[weight], output=("N", 64))


def _leaky(alpha: float) -> bytes:
    nodes = [
        _node("Flatten", ["x"], ["f"], "flat"),
        _node("Gemm", ["f", "fc.W"], ["z"], "fc", transB=1),
        _node("LeakyRelu", ["z"], ["y"], "leaky", alpha=alpha),
    ]
    return _onnx_model(nodes, initializers=[_tensor("fc.W", np.ones((10, 64), np.float32))])


def _batch_norm(epsilon: float, gamma: float = 1.0, var: float = 1.0) -> bytes:
    names = ["s", "b", "m", "v"]
    values = {"s": gamma, "b": 0.0, "m": 0.0, "v": var}
    tensors = [_tensor(n, np.full(1, values[n], np.float32)) for n in names]
    nodes = [
        _node("BatchNormalization", ["x", *names], ["z"], "bn", epsilon=epsilon),
        _node("GlobalAveragePool", ["z"], ["p"], "pool"),
        _node("Flatten", ["p"], ["y"], "flat"),
    ]
    return _onnx_model(nodes, initializers=tensors, output=("N", 1))


def _unused_int64_initializers() -> bytes:  # with a parameter limit of 100,000
    from onnx import TensorProto

    junk = TensorProto(name="junk", data_type=TensorProto.INT64, dims=[6_000_000])
    junk.int64_data.extend(np.zeros(6_000_000, np.int64))
    return _onnx_model(
        [_node("Flatten", ["x"], ["y"], "flat")], initializers=[junk], output=("N", 64)
    )


def _long_attribute() -> bytes:  # a list of 100,000 integers where a Transpose takes 4
    nodes = [
        _node("Transpose", ["x"], ["t"], "turn", perm=[0] * 100_000),
        _node("Flatten", ["t"], ["y"], "flat"),
    ]
    return _onnx_model(nodes, output=("N", 64))


def _empty_nodes() -> bytes:  # two bytes each, and protobuf would make a message of each
    from onnx import NodeProto

    nodes = [_node("Flatten", ["x"], ["y"], "flat")] + [NodeProto() for _ in range(150_000)]
    return _onnx_model(nodes, output=("N", 64))


def _folded(nodes: list, tensors=()) -> bytes:
    """Shape arithmetic beside a classifier: the importer folds it before it meets the Gemm."""
    classifier = [
        _node("Flatten", ["x"], ["f"], "flat"),
        _node("Gemm", ["f", "fc.W"], ["y"], "fc", transB=1),
    ]
    weight = _tensor("fc.W", np.ones((10, 64), np.float32))
    return _onnx_model([*nodes, *classifier], initializers=[weight, *tensors])


def _integers(name: str, *values: int):
    return _tensor(name, np.array(values, np.int64))


def _huge_constant_of_shape() -> bytes:  # 2^40 zeros asked for by a 16-byte shape
    nodes = [_node("ConstantOfShape", ["s"], ["z"], "zeros")]
    return _folded(nodes, [_integers("s", 1 << 20, 1 << 20)])


def _doubling_folded_concats() -> bytes:  # 2 Mi zeros, doubled thirty times at import
    nodes, previous = [_node("ConstantOfShape", ["s"], ["c"], "zeros")], "c"
    for k in range(30):
        nodes.append(_node("Concat", [previous, previous], [f"c{k}"], f"join{k}", axis=0))
        previous = f"c{k}"
    return _folded(nodes, [_integers("s", 1 << 21)])


def _scalars(**values: int) -> list:
    return [_tensor(name, np.array(value, np.int64)) for name, value in values.items()]


def _many_folded_constants() -> bytes:  # 4 Mi int64 a node, 200 nodes: 6.7 GB if all were made
    nodes = [_node("Range", ["zero", "n", "one"], [f"r{k}"], f"range{k}") for k in range(200)]
    return _folded(nodes, _scalars(zero=0, n=1 << 22, one=1))


def _huge_range() -> bytes:
    nodes = [_node("Range", ["zero", "n", "one"], ["r"], "range")]
    return _folded(nodes, _scalars(zero=0, n=1 << 60, one=1))


def _batch_arithmetic() -> bytes:  # N * 2: a size convmath would have to know in advance
    nodes = [
        _node("Shape", ["x"], ["shape"], "shape"),
        _node("Gather", ["shape", "zero"], ["n"], "batch", axis=0),
        _node("Mul", ["n", "two"], ["twice"], "twice"),
    ]
    return _folded(nodes, _scalars(zero=0, two=2))


def _folded_overflow() -> bytes:
    nodes = [_node("Mul", ["big", "big"], ["square"], "square")]
    return _folded(nodes, [_integers("big", 1 << 40)])


ONNX_CASES: dict[str, tuple[OnnxMake, str]] = {
    "flatten-64x1024x1024": (
        _wide_flatten,
        r"node 'flat' \(Flatten\) gives the graph's output 'y' \('N', 67108864\): 67,108,864"
        r" values, over the limit of 10,000 classes",
    ),
    "thirty-doubling-concats": (
        _doubling_concats,
        r"node 'join\d+' \(Concat\) gives .*one example would need about .* over the .* limit",
    ),
    "30000-classes": (_thirty_thousand_classes, r"node 'fc' \(Gemm\) .* over the limit of 10,000"),
    "conv-workspace-over-the-limit": (
        _wide_convolution,
        r"node 'conv' \(Conv\) gives \('N', 64, 512, 512\): one example would need about",
    ),
    "gemm-alpha-nan": (
        lambda: _dense(np.ones((10, 64), np.float32), transB=1, alpha=float("nan")),
        r"node 'fc' \(Gemm\) has alpha=nan; convmath needs finite numbers",
    ),
    "gemm-beta-inf": (
        lambda: _dense(
            np.ones((10, 64), np.float32), bias=np.ones(10, np.float32), transB=1, beta=float("inf")
        ),
        r"node 'fc' \(Gemm\) has beta=inf",
    ),
    "gemm-alpha-overflows-the-weights": (
        lambda: _dense(np.full((10, 64), 1e30, np.float32), transB=1, alpha=1e20),
        r"node 'fc' \(Gemm\) gives its layer a weight 'W' with NaN or infinite values",
    ),
    "float64-1e300": (
        lambda: _dense(np.full((10, 64), 1e300), transB=1),
        r"tensor 'fc.W' holds NaN or infinite values \(or values beyond float32's range\)",
    ),
    "weights-3e38": (
        lambda: _dense(np.full((10, 64), 3e38, np.float32), transB=1),
        r"node 'fc' \(Gemm\) has weights whose sum reaches .* would overflow float32",
    ),
    "leakyrelu-alpha-nan": (
        lambda: _leaky(float("nan")),
        r"node 'leaky' \(LeakyRelu\) has alpha=nan",
    ),
    "batchnorm-epsilon-inf": (
        lambda: _batch_norm(float("inf")),
        r"node 'bn' \(BatchNormalization\) has epsilon=inf",
    ),
    "batchnorm-scale-overflows": (
        lambda: _batch_norm(1e-30, gamma=1e30, var=0.0),
        r"node 'bn' \(BatchNormalization\) has weights whose sum reaches",
    ),
    "unused-int64-initializers": (
        _unused_int64_initializers,
        r"holds over [\d,]+ numbers in its tensors and attributes",
    ),
    "a-long-list-attribute": (_long_attribute, r"an attribute holds a list of over 4,096 values"),
    "150000-empty-nodes": (_empty_nodes, r"over 100,000 nodes"),
    "constant-of-shape-2^40": (
        _huge_constant_of_shape,
        r"node 'zeros' \(ConstantOfShape\) would make a constant of 1,099,511,627,776 values",
    ),
    "thirty-doubling-folded-concats": (
        _doubling_folded_concats,
        r"node 'join1' \(Concat\) would make a constant of 8,388,608 values",
    ),
    "200-folded-ranges": (
        _many_folded_constants,
        r"node 'range\d+' \(Range\) folds a constant of shape \(4194304,\): one example would"
        r" need about .* over the .* limit",
    ),
    "range-2^60": (_huge_range, r"node 'range' \(Range\) would make a constant of 1,152,9"),
    "batch-size-arithmetic": (
        _batch_arithmetic,
        r"node 'twice' \(Mul\) computes a number from the batch size, which convmath leaves free",
    ),
    "folded-int64-overflow": (
        _folded_overflow,
        r"node 'square' \(Mul\) computes integers of about 1.21e\+24, beyond int64",
    ),
}
ONNX_ENVIRONMENT = {
    "unused-int64-initializers": {"CONVMATH_MAX_PARAMETERS": "100000"},
    "conv-workspace-over-the-limit": {"CONVMATH_MAX_MEMORY": "2G"},
    "200-folded-ranges": {"CONVMATH_MAX_MEMORY": "64M"},
}


def run_measured(argv: list[str]) -> tuple[int, list[str], float, int]:
    """A command run in this process: its status, its error lines, its seconds, its peak bytes.

    It runs twice: timed as a user runs it, then under tracemalloc for the peak (which
    slows Python's own allocations several times over, so it would not time it honestly).
    """
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            again = main(argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert again == status, (argv, status, again)
    return status, err.getvalue().splitlines(), seconds, peak
