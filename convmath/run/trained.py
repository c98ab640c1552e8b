"""A trained model from a file: a checkpoint, or an ONNX file where the commands take one.

:func:`load_trained` is what every command that reads a model calls. A
checkpoint is checked and rebuilt by :mod:`convmath.train.trained`. A file
convmath exported from a checkpoint carries the checkpoint's model,
preprocessing and dataset in its ``convmath.config`` property, checked here
exactly as a checkpoint's are. A file from elsewhere gets the plain
preprocessing X = raw/255 (no mean or std), classes named 0, 1, ..., and no
dataset: the commands that need one ask for ``--dataset``; unless it was told
its own (:func:`convmath.run.with_preprocessing`, ``convmath export FILE.onnx
--mean M --std S --class-names NAMES``): then its ``convmath.config`` holds them,
with its model named ``ONNX <file name>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.data.preprocessing import Preprocessing
from convmath.errors import CheckpointError, InteropError, InvalidArgumentError
from convmath.interop.onnx.load import read, stored_config
from convmath.nn.module import Module
from convmath.train.checkpoint import load_checkpoint
from convmath.train.trained import check_run_config, rebuild

FROM_ELSEWHERE = "ONNX "  # the model name of a graph from elsewhere: "ONNX resnet18.onnx"


def from_elsewhere(config: Any) -> bool:
    """Whether a run configuration is that of an ONNX graph from elsewhere (its model named
    ``ONNX <file name>``), whose model convmath does not rebuild: only its preprocessing
    and class names are convmath's."""
    model = config.get("model") if isinstance(config, dict) else None
    return (
        isinstance(model, dict)
        and isinstance(model.get("name"), str)
        and model["name"].startswith(FROM_ELSEWHERE)
        and "architecture" not in model
    )


def load_trained(
    path: str | Path, *, trust_code: bool | str = False
) -> tuple[Module, Preprocessing, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint, with its preprocessing, in eval mode.

    Returns (model, preprocessing, the checked run configuration). An ``.onnx``
    file is imported instead (:func:`load_onnx_trained`). A model of the
    user's own code (``package.module:function``) is rebuilt by importing
    that code, only with ``trust_code=True``.
    """
    if Path(path).suffix.lower() == ".onnx":
        return load_onnx_trained(path)
    checkpoint = load_checkpoint(path)
    model, preprocessing, config = rebuild(checkpoint, str(path), trust_code=trust_code)
    model.eval()
    return model, preprocessing, config


load = load_trained  # convmath.load: the reading half of convmath.save's model file


def load_onnx_trained(path: str | Path) -> tuple[Module, Preprocessing, dict[str, Any]]:
    """(model in eval mode, preprocessing, run configuration) of the ONNX file ``path``."""
    source = str(path)
    imported = read(path, max_outputs=limits.MAX_CLASSES)  # one class name per output
    model = imported.model
    model.eval()
    output = model.output_shape(imported.input_shape)
    if len(imported.input_shape) != 3 or len(output) != 1:
        raise InteropError(
            f"{source}: the commands need an image classifier, (N, n_H, n_W, n_C) in and"
            f" (N, classes) out; this graph maps {('N', *imported.input_shape)} to"
            f" {('N', *output)}"
        )
    stored = stored_config(imported, source)
    if stored is not None and not from_elsewhere(stored):
        config = check_run_config(stored, source)
        preprocessing = config["preprocessing"]
        if (
            preprocessing.input_shape != imported.input_shape
            or len(preprocessing.classes) != (output[0])
        ):
            raise InteropError(
                f"{source}: its convmath.config describes {preprocessing.input_shape} inputs and"
                f" {len(preprocessing.classes)} classes, but the graph takes"
                f" {imported.input_shape} and gives {output[0]}"
            )
        return model, preprocessing, config
    n_C = imported.input_shape[2]
    preprocessing = Preprocessing(
        imported.input_shape,
        1 / 255,
        np.zeros(n_C, dtype=np.float32),
        np.ones(n_C, dtype=np.float32),
        tuple(str(k) for k in range(output[0])),
    )
    if stored is not None:  # told its own (with_preprocessing)
        preprocessing = _told(stored, source, preprocessing)
    config = {
        "model": {
            "name": f"{FROM_ELSEWHERE}{Path(path).name}",
            "input_shape": list(imported.input_shape),
            "num_classes": output[0],
            "options": {},
        },
        "preprocessing": preprocessing,
        "dataset": None,
    }
    return model, preprocessing, config


def _told(stored: dict[str, Any], source: str, plain: Preprocessing) -> Preprocessing:
    """The preprocessing a file from elsewhere was told, checked against its graph."""
    try:
        told = Preprocessing.from_dict(stored.get("preprocessing"))
    except (InvalidArgumentError, TypeError) as error:
        raise CheckpointError(f"{source}: its convmath.config: {error}") from None
    if told.input_shape != plain.input_shape or len(told.classes) != len(plain.classes):
        raise InteropError(
            f"{source}: its convmath.config describes {told.input_shape} inputs and"
            f" {len(told.classes)} classes, but the graph takes {plain.input_shape} and gives"
            f" {len(plain.classes)}"
        )
    return told
