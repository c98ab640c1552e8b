"""A whole training run from a configuration: data, model, optimizer, trainer, results.

``run_training(TrainConfig(...))`` is what ``convmath train`` calls. The
run is reproducible from its seed: one ``numpy.random.SeedSequence`` gives
independent generators for the dev split, the weight initialisation (and
dropout masks) and the batches (shuffling and augmentation).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data, models
from convmath.data.augment.spec import parse_augment
from convmath.errors import CheckpointError, ConvMathError, InvalidArgumentError
from convmath.nn.module import Module
from convmath.optim import SGD, Adam, AdamW, Constant, OneCycle, Schedule, StepDecay, WarmupCosine
from convmath.optim.optimizer import Optimizer
from convmath.runtime import tune_allocator
from convmath.summary import summary_table
from convmath.train.checkpoint import Checkpoint, atomic_write, load_checkpoint
from convmath.train.metrics import Evaluation, evaluate
from convmath.train.trainer import (
    BEST,
    LAST,
    EpochCallback,
    StepCallback,
    Trainer,
    TrainState,
)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}


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

    def checked(self) -> TrainConfig:
        if self.optimizer not in OPTIMIZERS:
            raise InvalidArgumentError(
                f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.schedule not in SCHEDULES:
            raise InvalidArgumentError(
                f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        self._check_types()
        for name in ("epochs", "batch_size", "step_epochs", "train_limit", "patience"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {value}")
        if self.seed < 0:
            raise InvalidArgumentError(f"seed must be >= 0, got {self.seed}")
        if not 0 <= self.label_smoothing <= 1:
            raise InvalidArgumentError(
                f"label_smoothing must be in [0, 1], got {self.label_smoothing}"
            )
        if self.dataset not in data.DATASETS and not Path(self.dataset).is_dir():
            raise InvalidArgumentError(
                f"unknown dataset {self.dataset!r}; expected one of {sorted(data.DATASETS)} or a"
                f" folder of images (root/<class>/*.png)"
            )
        if not 0 <= self.dev_fraction < 1:
            raise InvalidArgumentError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")
        return self

    def _check_types(self) -> None:
        """Every setting has its type (a checkpoint's configuration may have been edited)."""
        kinds = (
            ("an integer", (int,), False, ("epochs", "batch_size", "step_epochs", "seed")),
            ("an integer", (int,), True, ("patience", "train_limit", "eval_batch_size")),
            ("a number", (int, float), False, ("momentum", "gamma", "warmup_epochs")),
            ("a number", (int, float), False, ("dev_fraction", "label_smoothing")),
            ("a number", (int, float), True, ("lr", "weight_decay", "clip_norm")),
            ("a string", (str,), False, ("dataset", "optimizer", "schedule", "augment")),
            ("a string", (str,), True, ("model", "data_dir")),
            ("true or false", (bool,), False, ("nesterov", "color")),
            ("a mapping", (dict,), False, ("model_options",)),
        )
        for kind, types, optional, names in kinds:
            for name in names:
                value = getattr(self, name)
                if value is None and optional:
                    continue
                if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                    raise InvalidArgumentError(
                        f"training setting {name} must be {kind}, got {value!r}"
                    )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise CheckpointError(f"unknown training settings {unknown}")
        config = cls(**values)
        if config.image_size is not None:
            config.image_size = tuple(config.image_size)
        return config


@dataclass(frozen=True)
class Preprocessing:
    """How raw uint8 images become network inputs: X = (raw * scale - mean) / std."""

    input_shape: tuple[int, int, int]
    scale: float
    mean: np.ndarray
    std: np.ndarray
    classes: tuple[str, ...]

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self.normalize(raw.astype(np.float32) * np.float32(self.scale))

    def normalize(self, unit: np.ndarray) -> np.ndarray:
        """Images already scaled to [0, 1] (e.g. PNG pixels / 255) to network inputs."""
        return (unit.astype(np.float32) - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "scale": self.scale,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        return cls(
            tuple(values["input_shape"]),
            float(values["scale"]),
            np.asarray(values["mean"], dtype=np.float32),
            np.asarray(values["std"], dtype=np.float32),
            tuple(values["classes"]),
        )


@dataclass
class RunResult:
    out_dir: Path
    state: TrainState
    test: Evaluation
    metrics: dict[str, Any]
    model: Module
    preprocessing: Preprocessing


def _load_split(config: TrainConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    mode = "RGB" if config.color else "L"
    return data.load(config.dataset, split, config.data_dir, mode=mode, size=config.image_size)


def _classes(config: TrainConfig) -> tuple[str, ...]:
    if config.dataset in data.DATASETS:
        return data.info(config.dataset).classes
    return data.load_folder(config.dataset, "train", size=(1, 1))[2]


def default_model(config: TrainConfig, n_C: int) -> str:
    if config.model:
        return config.model
    if config.dataset == "digits":
        return "digits_cnn"
    return "lenet5" if n_C == 1 else "resnet"


def make_optimizer(config: TrainConfig, model: Module) -> Optimizer:
    lr = config.lr if config.lr is not None else DEFAULT_LR[config.optimizer]
    if config.optimizer == "sgd":
        decay = config.weight_decay or 0.0
        return SGD(model.parameters(), lr, config.momentum, config.nesterov, decay)
    if config.optimizer == "adam":
        return Adam(model.parameters(), lr, weight_decay=config.weight_decay or 0.0)
    decay = 0.01 if config.weight_decay is None else config.weight_decay
    return AdamW(model.parameters(), lr, weight_decay=decay)


def make_schedule(config: TrainConfig, lr: float, steps_per_epoch: int) -> Schedule:
    total = config.epochs * steps_per_epoch
    if config.schedule == "step":
        return StepDecay(lr, config.step_epochs * steps_per_epoch, config.gamma)
    if config.schedule == "cosine":
        warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
        return WarmupCosine(lr, total, warmup)
    if config.schedule == "onecycle":
        return OneCycle(lr, total)
    return Constant(lr)


def run_training(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    on_step: Sequence[StepCallback] = (),
    on_epoch: Sequence[EpochCallback] = (),
    log: Callable[[str], None] = print,
) -> RunResult:
    """Train as ``config`` says (or continue the run saved in ``resume``) and test the result.

    Writes into ``out_dir``: last.safetensors, best.safetensors, history.json,
    history.csv and metrics.json. Returns the test evaluation and the metrics.
    """
    tune_allocator()
    checkpoint: Checkpoint | None = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        try:
            config = TrainConfig.from_dict(checkpoint.config["training"]).checked()
        except (KeyError, TypeError, InvalidArgumentError) as error:
            raise CheckpointError(f"{resume}: no usable training configuration ({error})") from None
        source = Path(resume).parent
        out_dir = Path(out_dir or source)
        if out_dir.resolve() != source.resolve() and (source / BEST).is_file():
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / BEST, out_dir / BEST)  # the best epoch may be behind us
    config.checked()
    seeds = np.random.SeedSequence(config.seed).spawn(3)
    split_rng, init_rng, data_rng = (np.random.default_rng(s) for s in seeds)

    train_images, train_labels = _load_split(config, "train")
    test_images, test_labels = _load_split(config, "test")
    if config.train_limit:
        train_images = train_images[: config.train_limit]
        train_labels = train_labels[: config.train_limit]
    parts = data.train_dev_test_split(
        train_labels, dev=config.dev_fraction, test=0, rng=split_rng, stratify=True
    )
    fit_images, fit_labels = train_images[parts.train], train_labels[parts.train]
    dev = (train_images[parts.dev], train_labels[parts.dev])
    input_shape = tuple(int(n) for n in fit_images.shape[1:])
    info = data.DATASETS.get(config.dataset)
    scale = 1.0 / (info.max_value if info else 255)
    mean, std = data.channel_stats(fit_images, scale)
    classes = _classes(config)
    preprocessing = Preprocessing(input_shape, scale, mean, np.maximum(std, 1e-6), classes)

    model_name = default_model(config, input_shape[2])
    model = models.build(
        model_name, input_shape, len(classes), rng=init_rng, **config.model_options
    )
    train = data.Batches(
        fit_images,
        fit_labels,
        config.batch_size,
        rng=data_rng,
        scale=scale,
        transform=parse_augment(config.augment, input_shape),
        # a last batch of one example would give batch norm a zero variance: drop it
        drop_last=len(fit_labels) % config.batch_size == 1,
        mean=preprocessing.mean,
        std=preprocessing.std,
    )
    optimizer = make_optimizer(config, model)
    schedule = make_schedule(config, optimizer.lr, len(train))
    log(summary_table(model, input_shape, f"{model_name} on {config.dataset}"))
    log(
        f"\n{len(fit_labels)} training, {len(dev[1])} dev, {len(test_labels)} test images;"
        f" {config.optimizer} lr {optimizer.lr:g}, {config.schedule} schedule,"
        f" augment {config.augment!r}, batch {config.batch_size}, seed {config.seed}\n"
    )
    stored = {
        "training": dataclasses.asdict(config),
        "model": model.config,
        "preprocessing": preprocessing.to_dict(),
        "dataset": config.dataset,
    }
    out_dir = Path(out_dir or Path("runs") / f"{Path(config.dataset).name}-{model_name}")
    trainer = Trainer(
        model,
        optimizer,
        schedule,
        train,
        dev,
        preprocessing,
        num_classes=len(classes),
        epochs=config.epochs,
        out_dir=out_dir,
        patience=config.patience,
        label_smoothing=config.label_smoothing,
        clip_norm=config.clip_norm,
        config=stored,
        on_step=on_step,
        on_epoch=on_epoch,
        log=log,
        eval_batch_size=config.eval_batch_size,
    )
    if checkpoint is not None:
        trainer.restore(checkpoint)
        log(f"resuming {resume} after epoch {trainer.state.epoch} (step {trainer.state.step})")
    started = time.perf_counter()
    state = trainer.fit()
    train_seconds = (
        time.perf_counter()
        - started
        + sum(
            row["seconds"]
            for row in state.history[: (checkpoint.state["epoch"] if checkpoint else 0)]
        )
    )
    test = evaluate(
        model, test_images, test_labels, preprocessing, len(classes), config.eval_batch_size
    )
    metrics = {
        "test_accuracy": test.accuracy,
        "test_loss": test.loss,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "dev_accuracy": state.best_accuracy,
        "stopped_early": state.stopped_early,
        "train_seconds": train_seconds,
        "per_class_accuracy": [None if np.isnan(a) else a for a in test.per_class_accuracy],
        "confusion_matrix": test.confusion.tolist(),
        "parameters": model.num_parameters(),
        "config": stored,
    }
    write_results(out_dir, state, metrics)
    return RunResult(out_dir, state, test, metrics, model, preprocessing)


def write_results(out_dir: Path, state: TrainState, metrics: dict[str, Any]) -> None:
    """history.json, history.csv and metrics.json (atomically, like the checkpoints)."""
    atomic_write(out_dir / "history.json", json.dumps(state.history, indent=2).encode())
    atomic_write(out_dir / "metrics.json", json.dumps(metrics, indent=2).encode())
    if state.history:
        columns = list(dict.fromkeys(k for row in state.history for k in row))
        lines = [",".join(columns)]
        lines += [",".join(str(row.get(c, "")) for c in columns) for row in state.history]
        atomic_write(out_dir / "history.csv", ("\n".join(lines) + "\n").encode())


def load_trained(path: str | Path) -> tuple[Module, Preprocessing, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint, with its preprocessing, in eval mode."""
    checkpoint = load_checkpoint(path)
    try:
        model_config = checkpoint.config["model"]
        preprocessing = Preprocessing.from_dict(checkpoint.config["preprocessing"])
        model = models.build(
            model_config["name"],
            tuple(model_config["input_shape"]),
            int(model_config["num_classes"]),
            rng=np.random.default_rng(0),
            **model_config["options"],
        )
    except (KeyError, TypeError, ValueError, ConvMathError) as error:
        raise CheckpointError(f"{path}: cannot rebuild the model ({error})") from None
    try:
        model.load_state_dict(checkpoint.model)
    except ConvMathError as error:
        raise CheckpointError(
            f"{path}: the weights do not fit {model_config['name']}: {error}"
        ) from None
    model.eval()
    return model, preprocessing, checkpoint.config


__all__ = [
    "LAST",
    "Preprocessing",
    "RunResult",
    "TrainConfig",
    "load_trained",
    "run_training",
    "write_results",
]
