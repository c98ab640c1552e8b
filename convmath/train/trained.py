"""A trained model back from its checkpoint: the stored run configuration checked, then rebuilt.

A checkpoint's ``config`` says how to rebuild the run: ``model`` (name,
input shape, classes, options), ``preprocessing``, ``dataset`` and
``training`` (the :class:`TrainConfig`). :func:`check_run_config` checks all
of it, field by field and against each other, before anything is built;
``models.build`` then refuses a model over the parameter limit before
allocating it, and the weights must fit the model exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath import limits, models
from convmath.data.preprocessing import INPUT_SHAPE, Preprocessing
from convmath.errors import CheckpointError, ConvMathError, InvalidArgumentError, ShapeError
from convmath.nn import architecture
from convmath.nn.module import Module
from convmath.schema import Integer, MappingOf, Optional, Record, Spec, Text
from convmath.train.checkpoint import Checkpoint
from convmath.train.config import MODEL_OPTION, MODEL_OPTIONS, TrainConfig

ARCHITECTURE_NAME = "layers"  # the model's name in a file that stores its architecture


class ArchitectureTree(Spec):
    """A stored architecture's root (its entries are checked as the model is rebuilt)."""

    def describe(self) -> str:
        return "an architecture {layer, args, kwargs}"

    def _check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or set(value) != {"layer", "args", "kwargs"}:
            raise self._refuse(value)
        return value


MODEL_CONFIG = Record(
    {
        "name": models.MODEL_NAME,
        "input_shape": INPUT_SHAPE,
        "num_classes": Integer(1, limits.MAX_CLASSES),
        "options": MODEL_OPTIONS,
    }
)
# A model put together from convmath.nn's layers (convmath.save), rebuilt from the tree alone.
STORED_LAYERS_CONFIG = Record(
    {
        "name": Text(16, (ARCHITECTURE_NAME,)),
        "input_shape": INPUT_SHAPE,
        "num_classes": Integer(1, limits.MAX_CLASSES),
        "options": MappingOf(MODEL_OPTION, 0),
        "architecture": ArchitectureTree(),
    }
)


def check_run_config(config: Any, source: str, *, training: bool = False) -> dict[str, Any]:
    """The run configuration of a checkpoint, checked; ``training`` requires its TrainConfig.

    Raises :class:`CheckpointError` naming ``source``, the field and the value.
    """
    try:
        if not isinstance(config, dict):
            raise InvalidArgumentError("the configuration is not a mapping")
        missing = sorted({"model", "preprocessing", "dataset"} - set(config))
        if training and "training" not in config:
            missing.append("training")
        if missing:
            raise InvalidArgumentError(f"the configuration has no {', '.join(missing)}")
        checked = dict(config)
        stores_layers = isinstance(config["model"], dict) and "architecture" in config["model"]
        spec = STORED_LAYERS_CONFIG if stores_layers else MODEL_CONFIG
        checked["model"] = spec.check(config["model"], "model")
        # None: saved from Python without naming a dataset (the commands that need one ask)
        checked["dataset"] = Optional(Text(limits.MAX_TEXT, min_length=1)).check(
            config["dataset"], "dataset"
        )
        preprocessing = Preprocessing.from_dict(config["preprocessing"])
        if "training" in config:
            checked["training"] = TrainConfig.from_dict(
                config["training"], dataset_must_exist=training
            )
    except (InvalidArgumentError, TypeError) as error:
        raise CheckpointError(f"{source}: {error}") from None
    model = checked["model"]
    if len(preprocessing.classes) != model["num_classes"]:
        raise CheckpointError(
            f"{source}: {len(preprocessing.classes)} class names in preprocessing.classes for a"
            f" model with {model['num_classes']} outputs"
        )
    if list(preprocessing.input_shape) != model["input_shape"]:
        raise CheckpointError(
            f"{source}: preprocessing.input_shape {list(preprocessing.input_shape)} differs from"
            f" model.input_shape {model['input_shape']}"
        )
    checked["preprocessing"] = preprocessing
    return checked


def rebuild(
    checkpoint: Checkpoint, source: str, *, trust_code: bool | str = False
) -> tuple[Module, Preprocessing, dict[str, Any]]:
    """The model a checkpoint describes, with its weights, and its preprocessing.

    A model built by the user's own code (an import path) is rebuilt only when
    ``trust_code`` says so (True, or that import path): the checkpoint names the
    code, and importing it runs it.
    """
    config = check_run_config(checkpoint.config, source)
    model_config = config["model"]
    check_trusted(model_config["name"], source, trust_code)
    # the weights must fit exactly: a model larger than the file is refused unbuilt
    stored = sum(array.size for array in checkpoint.model.values())
    try:
        if "architecture" in model_config:
            model = _from_architecture(model_config, stored)
        else:
            model = models.build(
                model_config["name"],
                tuple(model_config["input_shape"]),
                model_config["num_classes"],
                rng=np.random.default_rng(0),
                max_parameters=stored,
                **model_config["options"],
            )
    except ConvMathError as error:
        raise CheckpointError(f"{source}: cannot rebuild the model ({error})") from None
    try:
        model.load_state_dict(checkpoint.model)
    except ConvMathError as error:
        raise CheckpointError(
            f"{source}: the weights do not fit {model_config['name']}: {error}"
        ) from None
    return model, config["preprocessing"], config


def _from_architecture(model_config: dict[str, Any], max_parameters: int) -> Module:
    """A model of convmath.nn's layers rebuilt from its stored tree, checked as build checks."""
    input_shape = tuple(model_config["input_shape"])
    with limits.parameter_budget("the stored architecture", max_parameters):
        model = architecture.rebuild(model_config["architecture"])
    try:
        model.name_modules()
        produced = model.output_shape(input_shape)
    except ConvMathError:
        raise
    except Exception as error:  # layers put together by a hostile file: refused in one line
        raise InvalidArgumentError(
            f"the stored architecture does not run on {input_shape}: {type(error).__name__}"
        ) from None
    if produced != (model_config["num_classes"],):
        raise ShapeError(
            f"the stored architecture produces {produced} per example on {input_shape},"
            f" expected ({model_config['num_classes']},)"
        )
    model.config = dict(model_config)
    return model


def check_trusted(model_name: str, source: str, trust_code: bool | str) -> None:
    """Refuse to import the code a checkpoint names unless the caller trusts it.

    ``trust_code`` is True (any code), or the one import path the caller trusts.
    """
    trusted = trust_code is True or trust_code == model_name
    if models.is_import_path(model_name) and not trusted:
        raise CheckpointError(
            f"{source}: its model is built by the code {model_name}, and rebuilding it imports"
            f" and runs that code; if you trust this checkpoint, pass --trust-code"
            f" (trust_code=True in Python)"
        )
