"""The configuration of a training run, with one checked spec per setting.

:data:`SETTINGS` says what each setting of :class:`TrainConfig` may be. The
command line parses its options with these specs, ``TrainConfig.checked``
validates a configuration made in Python with them, and the checkpoint
reader validates a stored configuration with them: an edited or hostile
checkpoint meets exactly the checks a user's option meets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from convmath import limits
from convmath.errors import InvalidArgumentError
from convmath.models import MODEL_NAME
from convmath.optim.factory import ADAMW_DEFAULT_DECAY, OPTIMIZERS, SCHEDULES
from convmath.schema import (
    AnyOf,
    Flag,
    Integer,
    ListOf,
    MappingOf,
    Number,
    Optional,
    Spec,
    Text,
)

DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
MAX_SEED = 2**64 - 1
MAX_LR = 1e3
MAX_CLIP_NORM = 1e6

MODEL_OPTION = AnyOf(
    (
        Flag(),
        Integer(-(2**31), 2**31),
        Number(-1e6, 1e6),
        Text(64),
        ListOf(Integer(1, limits.MAX_CHANNELS), 8),
    )
)

SETTINGS: dict[str, Spec] = {
    "dataset": Text(limits.MAX_TEXT, min_length=1),
    "model": Optional(MODEL_NAME),
    "model_options": MappingOf(MODEL_OPTION, 16),
    "data_dir": Optional(Text(limits.MAX_TEXT, min_length=1)),
    "epochs": Integer(1, limits.MAX_EPOCHS),
    "batch_size": Integer(1, limits.MAX_BATCH),
    "optimizer": Text(16, OPTIMIZERS),
    "lr": Optional(Number(0, MAX_LR)),
    "momentum": Number(0, 1),
    "nesterov": Flag(),
    "weight_decay": Optional(Number(0, 100)),
    "schedule": Text(16, SCHEDULES),
    "gamma": Number(0, 10),
    "step_epochs": Integer(1, limits.MAX_EPOCHS),
    "warmup_epochs": Number(0, limits.MAX_EPOCHS),
    "augment": Text(limits.MAX_TEXT),
    "dev_fraction": Number(0, 1, high_open=True),
    "seed": Integer(0, MAX_SEED),
    "patience": Optional(Integer(1, limits.MAX_EPOCHS)),
    "label_smoothing": Number(0, 1),
    "clip_norm": Optional(Number(0, MAX_CLIP_NORM, low_open=True)),
    "train_limit": Optional(Integer(1, 10**9)),
    "image_size": Optional(ListOf(Integer(1, limits.MAX_SIDE), 2, 2, as_tuple=True)),
    "color": Flag(),
    "eval_batch_size": Integer(1, limits.MAX_BATCH),
    "init_from": Optional(Text(limits.MAX_TEXT, min_length=1)),
    "sync_bn": Flag(),
}


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints and metrics.

    The defaults are the recipe for the embedded digits, chosen on its dev
    split (mean dev accuracy over 5 seeds with 30% held out): Adam 1e-3 with a
    cosine schedule, 30 epochs of batch 32, random shifts of 1 pixel, label
    smoothing 0.1.
    """

    dataset: str = "digits"
    model: str | None = None  # None: digits_cnn for digits, lenet5 (1 channel) or resnet (3)
    model_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None  # None: 0.05 for SGD, 1e-3 for Adam and AdamW
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None  # None: 0, or 0.01 for AdamW
    schedule: str = "cosine"
    gamma: float = 0.7  # "step": lr x gamma every step_epochs epochs
    step_epochs: int = 1
    warmup_epochs: float = 0.0  # "cosine": linear warm-up
    augment: str = "crop:1"
    dev_fraction: float = 0.1
    seed: int = 0
    patience: int | None = None
    label_smoothing: float = 0.1
    clip_norm: float | None = None
    train_limit: int | None = None
    image_size: tuple[int, int] | None = None  # image folders: resize to (n_H, n_W)
    color: bool = False  # image folders: read RGB instead of grayscale
    eval_batch_size: int = 256
    init_from: str | None = None  # a checkpoint whose weights the model starts from (fine-tuning)
    sync_bn: bool = False  # under MPI: batch norm's statistics over the global batch

    def checked(self, *, dataset_must_exist: bool = True) -> TrainConfig:
        """This configuration, every setting checked against :data:`SETTINGS`.

        ``dataset_must_exist`` also requires the dataset to be a named one (in
        any case, stored in lower case) or an existing image folder (a stored
        configuration read only to rebuild its model may name a folder on
        another machine).
        """
        from convmath import data

        for name, spec in SETTINGS.items():
            setattr(self, name, spec.check(getattr(self, name), f"training setting {name}"))
        if not dataset_must_exist:
            return self
        self.dataset = data.dataset_name(self.dataset)  # "MNIST" is mnist; a typo is told
        if self.dataset in data.DATASETS and (self.image_size is not None or self.color):
            shape = data.DATASETS[self.dataset].image_shape
            raise InvalidArgumentError(
                f"image_size and color apply to image folders; {self.dataset} images are"
                f" {shape[0]}x{shape[1]}x{shape[2]} as they are"
            )
        return self

    def lr_or_default(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def weight_decay_or_default(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return ADAMW_DEFAULT_DECAY if self.optimizer == "adamw" else 0.0

    def settings_lines(self) -> list[str]:
        """Every setting that shapes the numbers a run prints, in words (the start banner)."""
        optimizer = f"{self.optimizer}, lr {self.lr_or_default():g}"
        if self.optimizer == "sgd":
            optimizer += f", momentum {self.momentum:g}" + (" (Nesterov)" if self.nesterov else "")
        optimizer += f", weight decay {self.weight_decay_or_default():g}"
        schedule = {
            "constant": "constant",
            "step": f"step (x{self.gamma:g} every {plural(self.step_epochs, 'epoch')})",
            "cosine": f"cosine (warm-up {plural(self.warmup_epochs, 'epoch')})",
            "onecycle": "one-cycle",
        }[self.schedule]
        options = ", ".join(f"{k}={v}" for k, v in self.model_options.items()) or "none"
        clip = "off" if self.clip_norm is None else f"gradient norm at most {self.clip_norm:g}"
        stop = "off" if self.patience is None else f"after {plural(self.patience, 'epoch')}"
        loss = loss_label(self.label_smoothing)
        if self.label_smoothing:
            loss += " (dev and test losses without it)"
        return [
            f"optimizer: {optimizer}; schedule: {schedule}",
            f"loss: {loss}; clipping: {clip}; early stopping: {stop}",
            f"augmentation: {self.augment!r}; model options (dropout, width...): {options}",
        ]

    @classmethod
    def from_dict(cls, values: Any, *, dataset_must_exist: bool = True) -> TrainConfig:
        """A configuration from stored values, checked; unknown names are refused, missing
        ones take their defaults."""
        if not isinstance(values, dict):
            raise InvalidArgumentError(f"training settings must be a mapping, got {values!r:.60}")
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InvalidArgumentError(f"unknown training settings {unknown[:5]}")
        return cls(**values).checked(dataset_must_exist=dataset_must_exist)


def loss_label(label_smoothing: float) -> str:
    """What the printed loss is: J, the softmax cross-entropy, with its label smoothing."""
    smoothing = f" with label smoothing {label_smoothing:g}" if label_smoothing else ""
    return f"J = softmax cross-entropy{smoothing}"


def plural(count: float, noun: str) -> str:
    """``1 epoch``, ``2 epochs``, ``0.5 epochs``."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")
