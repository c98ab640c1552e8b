"""One model file for every door: ``save`` writes what ``convmath train`` writes, ``load`` reads it.

``load`` is :func:`convmath.run.load_trained` (a checkpoint, or an ONNX file),
one layer up; ``convmath.save`` and ``convmath.load`` are the pair.

A model file is a checkpoint without the optimizer: the weights in
safetensors, and in its header how to rebuild the model (a named model, a
builder of the user's own code by import path, or the layers it is made of
with their arguments), the input shape, the class names, the preprocessing
and, when known, the dataset. Every command (``predict``, ``evaluate``,
``summary``, ``explain``, ``featuremaps``, ``export``, ``serve``...) reads a
file saved from Python as it reads a training run's checkpoint; a model
built by code of the user's own is rebuilt only with ``--trust-code``.

    result = fit(model, (X, y), epochs=5)
    convmath.save(model, "cnn.safetensors", preprocessing=result.preprocessing)
    model, preprocessing, config = convmath.load("cnn.safetensors")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data
from convmath.data.preprocessing import Preprocessing
from convmath.errors import CheckpointError, InvalidArgumentError, ShapeError
from convmath.nn import architecture
from convmath.nn.module import Module
from convmath.train.checkpoint import Checkpoint, save_checkpoint
from convmath.train.trained import ARCHITECTURE_NAME, check_run_config


def save(
    model: Module,
    path: str | os.PathLike[str],
    *,
    preprocessing: Preprocessing | None = None,
    input_shape: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
    dataset: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` to ``path`` as a file every command reads; returns the path.

    ``preprocessing`` (from :func:`convmath.train.fit`'s result, or a run's)
    says how raw images become inputs; without it, X = raw / 255 for images of
    ``input_shape`` (n_H, n_W, n_C), with ``classes`` named 0, 1, ... unless
    given. ``dataset`` (e.g. "mnist") lets ``evaluate`` find the test split
    and ``predict`` read pictures as that dataset's were. An existing file is
    replaced only with ``overwrite=True``; the write is atomic.
    """
    target = Path(path)
    if target.suffix.lower() != ".safetensors":
        raise InvalidArgumentError(f"save writes a .safetensors file, got {target}")
    if target.exists() and not overwrite:
        raise InvalidArgumentError(f"{target} exists; pass overwrite=True to replace it")
    preprocessing = _preprocessing(model, preprocessing, input_shape, classes)
    _check_dataset(dataset, preprocessing)
    config = {
        "model": _model_config(model, preprocessing),
        "preprocessing": preprocessing.to_dict(),
        "dataset": dataset,
    }
    try:
        check_run_config(config, str(target))  # never a file the commands would refuse
    except CheckpointError as error:
        raise InvalidArgumentError(f"not saved: {error}") from None
    save_checkpoint(target, Checkpoint(model=model.state_dict(), config=config))
    return target


def _check_dataset(dataset: str | None, preprocessing: Preprocessing) -> None:
    """A named dataset's raw pixels must become the inputs the model was trained on."""
    if dataset is None or dataset not in data.DATASETS:
        return
    max_value = data.info(dataset).max_value
    if not np.isclose(preprocessing.scale, 1 / max_value, rtol=1e-6):
        raise InvalidArgumentError(
            f"save: {dataset}'s pixels go up to {max_value}, but the preprocessing scales raw"
            f" values by {preprocessing.scale:.6g}, not 1/{max_value}: evaluate and predict"
            f" would feed the model other inputs than it was trained on (train with"
            f" fit(..., max_value={max_value}) on the raw images)"
        )


def _preprocessing(
    model: Module,
    given: Preprocessing | None,
    input_shape: Sequence[int] | None,
    classes: Sequence[str] | None,
) -> Preprocessing:
    if given is not None:
        if input_shape is not None or classes is not None:
            raise InvalidArgumentError(
                "save: the preprocessing already says the input shape and the classes; give"
                " either it or input_shape and classes"
            )
        return given
    if input_shape is None:
        input_shape = getattr(model, "config", {}).get("input_shape")
    if input_shape is None:
        raise InvalidArgumentError(
            "save needs the input shape (n_H, n_W, n_C) of one example: pass input_shape=, or"
            " preprocessing= from fit's result"
        )
    shape = tuple(int(n) for n in input_shape)
    if len(shape) != 3:
        raise ShapeError(f"save: input_shape must be (n_H, n_W, n_C), got {tuple(input_shape)}")
    output = model.output_shape(shape)
    if len(output) != 1:
        raise ShapeError(f"save: the model must give class scores (K,), it gives {output}")
    names = tuple(str(k) for k in range(output[0])) if classes is None else tuple(classes)
    n_C = shape[2]
    return Preprocessing(shape, 1 / 255, np.zeros(n_C, np.float32), np.ones(n_C, np.float32), names)


def _model_config(model: Module, preprocessing: Preprocessing) -> dict[str, Any]:
    built = getattr(model, "config", None)  # models.build's record: a name and its options
    if built is not None and "architecture" not in built:
        if list(built["input_shape"]) != list(preprocessing.input_shape):
            raise ShapeError(
                f"save: the model was built for {tuple(built['input_shape'])}, the preprocessing"
                f" says {preprocessing.input_shape}"
            )
        return dict(built)
    output = model.output_shape(preprocessing.input_shape)
    if output != (len(preprocessing.classes),):
        raise ShapeError(
            f"save: the model gives {output} per example, the preprocessing names"
            f" {len(preprocessing.classes)} classes"
        )
    return architecture_config(model, preprocessing.input_shape)


def architecture_config(model: Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """How a file records ``model`` of convmath.nn's layers (a Sequential, an imported Graph...):
    the tree of its layers and their arguments, checked to rebuild the same model."""
    output = model.output_shape(tuple(input_shape))
    tree = architecture.describe(model)
    _check_rebuilds(model, tree)
    return {
        "name": ARCHITECTURE_NAME,
        "input_shape": list(input_shape),
        "num_classes": output[0],
        "options": {},
        "architecture": tree,
    }


def _check_rebuilds(model: Module, tree: dict[str, Any]) -> None:
    """Refuse a model changed after it was built: its recorded arguments would make another."""
    again = architecture.rebuild(tree).name_modules()
    built = [(name, type(m).__name__) for name, m in again.named_modules()]
    live = [(name, type(m).__name__) for name, m in model.named_modules()]
    shapes = {key: value.shape for key, value in again.state_dict().items()}
    if built != live or shapes != {key: v.shape for key, v in model.state_dict().items()}:
        differ = next(
            (f"{a[0] or 'the model'} is a {b[1]}, its arguments build a {a[1]}"
             for a, b in zip(built, live, strict=False) if a != b),
            "its layers were changed after they were built",
        )  # fmt: skip
        raise InvalidArgumentError(
            f"save: the model was changed after it was built ({differ}), so its recorded"
            f" arguments would rebuild another model; build it whole from layers, or save it"
            f" with a builder function (convmath.models.build('package.module:function', ...))"
        )
