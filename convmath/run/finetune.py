"""Fine-tuning: a run's model taken from the checkpoint or ONNX file that ``--init-from`` names.

The run trains the model of that file, layers and weights, on its own
dataset (transfer learning):

- a file of a named model (or of a builder of the user's own, trusted as
  every command trusts one) gives that model, built for the run's classes,
  with the file's weights; ``--model`` names another model the weights must
  fit;
- any other model (an ONNX graph from elsewhere, a model saved from Python
  with ``convmath.save``) is the run's model itself, and its checkpoints
  record its layers as data (:func:`convmath.train.model_file.architecture_config`),
  so that every command reads them without the file it started from.

The classifier must give one output per class of the run's dataset:
``--new-head`` replaces it by a fresh one (:func:`convmath.nn.transfer.replace_head`),
and a class count that differs without it is refused, naming the option.
Freezing (``--freeze-until``) is applied by the run, to a new and to a
resumed run alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convmath import data, models
from convmath.data.preprocessing import Preprocessing
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.nn import BatchNorm2D, transfer
from convmath.nn.module import Module
from convmath.run.trained import load_trained
from convmath.train.config import TrainConfig
from convmath.train.model_file import architecture_config


@dataclass
class Start:
    """The model a fine-tuning run starts from, how the banner names it, what was done, and
    the preprocessing it was trained with (the run keeps its mean and std)."""

    model: Module
    name: str
    lines: list[str]
    preprocessing: Preprocessing


def start_from(
    config: TrainConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    rng: np.random.Generator,
    *,
    trust_code: bool | str = False,
) -> Start:
    """The model of ``config.init_from`` for images of ``input_shape`` and ``num_classes``
    classes (a fresh head, drawn from ``rng``, where ``config.new_head`` says so)."""
    path = str(config.init_from)
    where = f"--init-from {path}"
    trusted = trust_code if trust_code is True else (config.model or trust_code)
    source, preprocessing, stored = load_trained(path, trust_code=trusted)
    shape = tuple(preprocessing.input_shape)
    if shape != tuple(input_shape):
        raise ShapeError(
            f"{where}: its model takes images of {_sized(shape)}, and {config.dataset}"
            f" images are {_sized(input_shape)}{_resize_hint(config, shape)}"
        )
    had = stored["model"]["num_classes"]
    lines = []
    if config.new_head:
        source, said = transfer.replace_head(source, shape, num_classes, rng=rng)
        lines.append(f"new head: {said}")
    elif had != num_classes:
        raise InvalidArgumentError(
            f"{where}: its model gives {had} class scores and {config.dataset} has"
            f" {num_classes} classes; pass --new-head to replace its classifier by a fresh one"
            f" with {num_classes} outputs (new_head=True in Python)"
        )
    lines.insert(0, f"fine-tuning {path}: {_described(stored['model'])}")
    lines.append(
        "inputs normalised as the model was trained: mean "
        + ", ".join(f"{v:.4g}" for v in preprocessing.mean)
        + ", std "
        + ", ".join(f"{v:.4g}" for v in preprocessing.std)
        + " (after scaling the pixels to [0, 1])"
    )
    source.train()
    name = config.model or stored["model"]["name"]
    if config.model is None and not _rebuilt_by_name(name):
        source.config = architecture_config(source, shape)
        return Start(source, f"{Path(path).name}, fine-tuned", lines, preprocessing)
    options = config.model_options if config.model else stored["model"]["options"]
    model = models.build(name, shape, num_classes, rng=rng, **options)
    try:
        model.load_state_dict(source.state_dict())
    except ShapeError as error:
        if config.model is None:  # its own builder makes another head: keep its layers
            source.config = architecture_config(source, shape)
            return Start(source, f"{Path(path).name}, fine-tuned", lines, preprocessing)
        raise InvalidArgumentError(
            f"{where}: its model does not fit --model {name} ({error}); fine-tune the same"
            f" model, or leave --model out to train the file's own"
        ) from None
    return Start(model, name, lines, preprocessing)


def _rebuilt_by_name(name: str) -> bool:
    """Whether a checkpoint of a model of this name rebuilds it by name (not as data)."""
    return name in models.MODELS or models.is_import_path(name)


def _described(model: dict[str, object]) -> str:
    name = model["name"]
    kind = "its layers as stored" if name == "layers" else name
    return f"{kind}, {model['num_classes']} classes"


def _sized(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def _resize_hint(config: TrainConfig, shape: tuple[int, ...]) -> str:
    """How the data could be made to fit a model made for ``shape`` (or why it cannot)."""
    if config.dataset in data.DATASETS:
        return (
            f"; a named dataset is read at its own size: fine-tune a model made for it, or"
            f" give a folder of images (--image-size {shape[0]},{shape[1]}"
            + (" --color" if shape[2] == 3 else "")
            + ")"
        )
    return f"; pass --image-size {shape[0]},{shape[1]}" + (" --color" if shape[2] == 3 else "")


def describe_frozen(model: Module, layer: str, frozen: int) -> str:
    """The banner's line about freezing: what is frozen, and how many parameters train."""
    total = model.num_parameters()
    norms = any(m.frozen and isinstance(m, BatchNorm2D) for _, m in model.named_modules())
    return (
        f"frozen: the layers before {layer!r} ({frozen:,} parameters"
        + (", their batch norms on their running statistics" if norms else "")
        + f"); {total - frozen:,} of {total:,} parameters train"
    )


__all__ = ["Start", "describe_frozen", "start_from"]
