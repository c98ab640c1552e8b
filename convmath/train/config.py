"""The training settings, each declared once: what it may be, its default, what it is for.

Every field of :class:`TrainConfig` is declared with :func:`setting`: its
spec (type and range or choices), its default and its help. From that one
declaration come

- :class:`TrainConfig` itself (the fields and their defaults),
- the options of ``convmath train`` (``--name-with-dashes``, the spec as
  the option's type or choices, the help with its default stated),
- the keyword defaults and checks of :func:`convmath.train.fit` (``fit=``:
  its own default where it differs),
- the options of ``convmath lr-find``, the settings that shape a step
  (``range_test=False`` for those of a run's length and schedule), and
- the checkpoint schema: the stored configuration of a run is checked with
  the same specs (:data:`SETTINGS`), so an edited or hostile checkpoint
  meets exactly the checks a user's option meets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from convmath import data, limits
from convmath.data.augment import PRESETS
from convmath.errors import InvalidArgumentError
from convmath.models import MODEL_NAME, MODELS, OPTION_NAME
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
    shown,
)
from convmath.train.inference import EVAL_BATCH

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
MODEL_OPTIONS = MappingOf(MODEL_OPTION, 16, key=OPTION_NAME)
"""A model's options by name (never one of build's own arguments, such as ``rng``)."""


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SAME = _Marker("SAME")  # fit takes the setting, with TrainConfig's default
ABSENT = _Marker("ABSENT")  # fit does not take it: a whole run's setting


@dataclass(frozen=True)
class Setting:
    """One training setting. ``name`` is filled in from the field it declares."""

    spec: Spec
    default: Any
    help: str = ""  # what it is for ("" where the name says it all)
    default_text: str | None = None  # the default in words, where its value does not say it
    option: bool = True  # convmath train takes it as --name-with-dashes
    fit: Any = ABSENT  # fit's keyword default: SAME, a default of its own, or ABSENT
    range_test: bool = True  # convmath lr-find takes it (False: the run's length, schedule)
    name: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def stated_default(self) -> str:
        """``default 30``, ``default off``, or the words given for it."""
        if self.default_text is not None:
            return self.default_text
        if self.default is False:
            return "default off"
        value = self.default
        return f"default {value:g}" if isinstance(value, float) else f"default {value}"

    def option_help(self) -> str:
        """The help of the setting's command-line option, its default stated."""
        if not self.help:
            return self.stated_default()
        return f"{self.help} ({self.stated_default()})"

    @property
    def fit_default(self) -> Any:
        return self.default if self.fit is SAME else self.fit


def setting(
    spec: Spec,
    default: Any,
    help: str = "",
    *,
    default_text: str | None = None,
    option: bool = True,
    fit: Any = ABSENT,
    range_test: bool = True,
) -> Any:
    """Declare a field of :class:`TrainConfig`: the field, and its :class:`Setting` beside it."""
    declared = Setting(spec, default, help, default_text, option, fit, range_test)
    metadata = {"setting": declared}
    if isinstance(default, dict | list):
        factory = type(default)
        return dataclasses.field(default_factory=lambda: factory(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints and metrics.

    The defaults are the recipe for the embedded digits, chosen on its dev
    split (mean dev accuracy over 5 seeds with 30% held out): Adam 1e-3 with a
    cosine schedule, 30 epochs of batch 32, random shifts of 1 pixel, label
    smoothing 0.1. Each field is one :class:`Setting` (see :data:`SETTINGS`).
    """

    model: str | None = setting(
        Optional(MODEL_NAME),
        None,
        f"one of {', '.join(sorted(MODELS))}, or your own builder as package.module:function",
        default_text="default: digits_cnn for digits, lenet5 for one channel, resnet for three",
    )
    # the model's own options (depth, width, dropout...): --depth and --width on the command line
    model_options: dict[str, Any] = setting(  # noqa: RUF009 (a field: a fresh dict per config)
        MODEL_OPTIONS, {}, option=False
    )
    dataset: str = setting(
        Text(limits.MAX_TEXT, min_length=1),
        "digits",
        "digits, mnist, fashion-mnist, cifar10 or a folder of images",
    )
    data_dir: str | None = setting(
        Optional(Text(limits.MAX_TEXT, min_length=1)),
        None,
        "where datasets live",
        default_text="default: $CONVMATH_DATA or ~/.cache/convmath",
    )
    epochs: int = setting(Integer(1, limits.MAX_EPOCHS), 30, fit=10, range_test=False)
    batch_size: int = setting(Integer(1, limits.MAX_BATCH), 32, fit=SAME)
    optimizer: str = setting(Text(16, OPTIMIZERS), "adam", fit=SAME)
    lr: float | None = setting(
        Optional(Number(0, MAX_LR)),
        None,  # None: DEFAULT_LR[optimizer]
        "learning rate",
        default_text="default "
        + ", ".join(f"{lr:g} for {name}" for name, lr in DEFAULT_LR.items()),
        fit=1e-3,
        range_test=False,
    )
    momentum: float = setting(Number(0, 1), 0.9, "SGD momentum")
    nesterov: bool = setting(Flag(), False, "SGD: Nesterov momentum")
    weight_decay: float | None = setting(
        Optional(Number(0, 100)),
        None,  # None: 0, or ADAMW_DEFAULT_DECAY for AdamW
        "weight decay",
        default_text=f"default 0; {ADAMW_DEFAULT_DECAY:g} for adamw, decoupled",
        fit=SAME,
    )
    schedule: str = setting(Text(16, SCHEDULES), "cosine", fit="constant", range_test=False)
    gamma: float = setting(
        Number(0, 10), 0.7, "step schedule: lr factor per step", range_test=False
    )
    step_epochs: int = setting(
        Integer(1, limits.MAX_EPOCHS), 1, "step schedule: epochs per step", range_test=False
    )
    warmup_epochs: float = setting(
        Number(0, limits.MAX_EPOCHS), 0.0, "cosine schedule: warm-up epochs", range_test=False
    )
    augment: str = setting(
        Text(limits.MAX_TEXT),
        "crop:1",
        f"a preset {PRESETS} or a list like crop:2,rotate:10,hflip:0.5,noise:0.05,"
        "brightness:0.2,hue:0.05",
        fit="none",
    )
    dev_fraction: float = setting(Number(0, 1, high_open=True), 0.1)
    seed: int = setting(Integer(0, MAX_SEED), 0, fit=SAME)
    patience: int | None = setting(
        Optional(Integer(1, limits.MAX_EPOCHS)),
        None,
        "early stopping after N epochs without progress on the dev set",
        default_text="default off",
        range_test=False,
    )
    label_smoothing: float = setting(Number(0, 1), 0.1, fit=0.0)
    clip_norm: float | None = setting(
        Optional(Number(0, MAX_CLIP_NORM, low_open=True)),
        None,
        "clip gradients to this global norm",
        default_text="default off",
    )
    train_limit: int | None = setting(
        Optional(Integer(1, 10**9)),
        None,
        "use only the first N training images",
        default_text="default all",
    )
    image_size: tuple[int, int] | None = setting(
        Optional(ListOf(Integer(1, limits.MAX_SIDE), 2, 2, as_tuple=True)),
        None,
        "image folders: resize to H,W",
        default_text="default: the size of the first image",
    )
    color: bool = setting(
        Flag(), False, "image folders: read RGB", default_text="default grayscale"
    )
    sync_bn: bool = setting(
        Flag(),
        False,
        "under mpiexec: batch norm's statistics over the whole global batch, so that N"
        " processes train as one",
        default_text="default: each process's share, as PyTorch's DDP",
        range_test=False,
    )
    init_from: str | None = setting(
        Optional(Text(limits.MAX_TEXT, min_length=1)),
        None,
        "fine-tune the model of this checkpoint or ONNX file (its layers and weights; a new"
        " optimizer and schedule; with --model, that model, which its weights must fit)",
        default_text="default: fresh weights from --seed",
    )
    new_head: bool = setting(
        Flag(),
        False,
        "with --init-from: replace the classifier (the last Dense or 1x1 convolution) by a"
        " fresh one with one output per class of the dataset",
        default_text="default: keep it; the class counts must agree",
    )
    freeze_until: str | None = setting(
        Optional(Text(limits.MAX_TEXT, min_length=1)),
        None,
        "freeze the layers before this one (as convmath summary names them): their weights do"
        " not change, and their batch norms use their running statistics",
        default_text="default: every layer trains",
        fit=SAME,
    )
    eval_batch_size: int = setting(Integer(1, limits.MAX_BATCH), EVAL_BATCH, option=False)

    def checked(self, *, dataset_must_exist: bool = True) -> TrainConfig:
        """This configuration, every setting checked against :data:`SETTINGS`.

        ``dataset_must_exist`` also requires the dataset to be a named one (in
        any case, stored in lower case) or an existing image folder (a stored
        configuration read only to rebuild its model may name a folder on
        another machine).
        """
        for name, declared in SETTINGS.items():
            value = declared.spec.check(getattr(self, name), f"training setting {name}")
            setattr(self, name, value)
        if self.new_head and self.init_from is None:
            raise InvalidArgumentError(
                "new_head replaces the classifier of the model that init_from names; give both"
                " (--new-head with --init-from)"
            )
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

    def optimizer_text(self, *, lr: bool = True) -> str:
        """The optimizer in words: ``adam, lr 0.001, weight decay 0`` (``lr=False``: no rate)."""
        text = self.optimizer + (f", lr {self.lr_or_default():g}" if lr else "")
        if self.optimizer == "sgd":
            text += f", momentum {self.momentum:g}" + (" (Nesterov)" if self.nesterov else "")
        return text + f", weight decay {self.weight_decay_or_default():g}"

    def settings_lines(self) -> list[str]:
        """Every setting that shapes the numbers a run prints, in words (the start banner)."""
        optimizer = self.optimizer_text()
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


SETTINGS: dict[str, Setting] = {
    f.name: dataclasses.replace(f.metadata["setting"], name=f.name)
    for f in dataclasses.fields(TrainConfig)
}
"""Every training setting by name, in the order of the command's options."""

FIT_DEFAULTS: dict[str, Any] = {
    name: declared.fit_default for name, declared in SETTINGS.items() if declared.fit is not ABSENT
}
"""The settings :func:`convmath.train.fit` takes, with its defaults (a quick run on arrays)."""


def check_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` (settings by name) checked with their specs, as a run's are."""
    return {
        name: SETTINGS[name].spec.check(value, f"{where}{name}") for name, value in values.items()
    }


@dataclass(frozen=True)
class Recipe:
    """A named set of training settings: ``convmath train --recipe NAME``.

    Settings given beside it (options, or keywords of :func:`recipe_config`)
    override its values; ``model_options`` are merged name by name.
    """

    about: str  # what it is for and where its values come from
    settings: dict[str, Any]


RECIPES: dict[str, Recipe] = {
    "mnist-best": Recipe(
        "the single-model MNIST recipe aiming at 99.7% test accuracy: wide_cnn of width 32 with"
        " batch norm and dropout 0.4 (0.2 before the classifier's hidden layer), random shifts"
        " of up to 2 pixels, rotations within 10 degrees and zooms within 10%, Adam 2e-3 with a"
        " 1-epoch warm-up and cosine decay over 30 epochs of batch 128, label smoothing 0.1,"
        " the epoch chosen on a 10% dev split (docs/TRAINING.md)",
        {
            "dataset": "mnist",
            "model": "wide_cnn",
            "model_options": {"width": 32, "dropout": 0.4},
            "epochs": 30,
            "batch_size": 128,
            "optimizer": "adam",
            "lr": 2e-3,
            "schedule": "cosine",
            "warmup_epochs": 1.0,
            "augment": "crop:2,rotate:10,zoom:0.1",
            "label_smoothing": 0.1,
            "dev_fraction": 0.1,
        },
    ),
}
"""The named recipes; each one's values are settings of :data:`SETTINGS`, checked by them."""


def recipe_config(name: str | None = None, **given: Any) -> TrainConfig:
    """The configuration of the recipe ``name`` (None: the defaults) with ``given`` over it.

    ``model_options`` given are merged into the recipe's, name by name, so that
    ``--width 16`` keeps the recipe's dropout.
    """
    if name is None:
        return TrainConfig(**given)
    if name not in RECIPES:
        raise InvalidArgumentError(
            f"unknown recipe {shown(name)}; expected one of {sorted(RECIPES)}"
        )
    values = dict(RECIPES[name].settings)
    options = dict(values.get("model_options", {})) | dict(given.pop("model_options", {}))
    values |= given
    values["model_options"] = options
    return TrainConfig(**values)
