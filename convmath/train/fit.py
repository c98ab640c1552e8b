"""Training from Python in one call: ``fit(model, (X, y))``, and ``classify`` to use the result.

The command line's ``convmath train`` is a whole run from a configuration
(datasets by name, splits, checkpoints, results). ``fit`` is the same loop
for arrays already in hand:

    result = fit(model, (X_train, y_train), dev=(X_dev, y_dev), epochs=10)
    classes, probabilities = classify(model, X_test)
    convmath.save(model, "model.safetensors", preprocessing=result.preprocessing)

Images are channels-last (m, n_H, n_W, n_C): uint8 arrays are scaled to
[0, 1] (x / 255), float arrays are used as they are. It runs on every CPU
(as the commands do), prints one line per epoch (``log``), and returns the
history, one dict per epoch, with the preprocessing that ``convmath.save``
stores so that every command reads the model as it was trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

import convmath.functional as F
from convmath import limits, optim, switchboard
from convmath.data.augment.spec import parse_augment
from convmath.data.batches import Batches
from convmath.data.preprocessing import Preprocessing
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.nn import transfer
from convmath.nn.module import Module
from convmath.tensor import Tensor
from convmath.train.config import DEFAULT_LR, FIT_DEFAULTS, SETTINGS, check_settings
from convmath.train.inference import EVAL_BATCH, logits
from convmath.train.trainer import EpochCallback, StepCallback, Trainer


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns: the history (one dict per epoch) and the preprocessing."""

    history: list[dict[str, Any]]
    preprocessing: Preprocessing


def fit(
    model: Module,
    train: tuple[np.ndarray, np.ndarray],
    dev: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    epochs: int = FIT_DEFAULTS["epochs"],
    batch_size: int = FIT_DEFAULTS["batch_size"],
    optimizer: str = FIT_DEFAULTS["optimizer"],
    lr: float | None = FIT_DEFAULTS["lr"],
    schedule: str = FIT_DEFAULTS["schedule"],
    weight_decay: float | None = FIT_DEFAULTS["weight_decay"],
    label_smoothing: float = FIT_DEFAULTS["label_smoothing"],
    augment: str = FIT_DEFAULTS["augment"],
    seed: int = FIT_DEFAULTS["seed"],
    freeze_until: str | None = FIT_DEFAULTS["freeze_until"],
    max_value: float | None = None,
    threads: int | None = None,
    on_step: Sequence[StepCallback] = (),
    on_epoch: Sequence[EpochCallback] = (),
    log: Callable[[str], None] = print,
) -> FitResult:
    """Train ``model`` on ``train`` = (images, labels); returns the history and preprocessing.

    ``optimizer`` is "sgd" (momentum 0.9), "adam" or "adamw" (``lr=None``: the
    command's default for it); ``schedule``
    "constant", "step", "cosine" or "onecycle"; ``augment`` a spec as
    ``convmath train --augment`` takes ("crop:1,flip", or "none"). ``dev``,
    evaluated after every epoch, adds dev_loss and dev_accuracy to each row.
    ``max_value`` is the largest raw pixel value, for X = raw / max_value in
    [0, 1] as pictures are read by the commands (default: 255 for uint8
    images, none for floats, used as they are; 16 for the UCI digits).
    ``freeze_until`` names a layer (as ``convmath summary`` shows it): the
    layers before it are frozen (:func:`convmath.nn.transfer.freeze_until`:
    no gradient, no update, batch norms on their running statistics), for
    fine-tuning a trained model (left out, the model's own freezing stays as
    it is: :func:`convmath.nn.transfer.unfreeze` undoes it); to give it a new classifier first, see
    :func:`convmath.nn.transfer.replace_head`. ``threads``: worker threads
    for this call (default: the process's setting, every CPU unless
    ``convmath.set_threads`` said otherwise). The seed fixes the shuffling
    and augmentation, whatever the thread count. The settings are those of
    ``convmath train`` (:data:`convmath.train.config.SETTINGS`: the same
    checks; the defaults of a quick run, ``FIT_DEFAULTS``).
    """
    settings = check_settings(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": optimizer,
            "lr": lr,
            "schedule": schedule,
            "weight_decay": weight_decay,
            "label_smoothing": label_smoothing,
            "augment": augment,
            "seed": seed,
            "freeze_until": freeze_until,
        },
        "fit: ",
    )
    epochs, batch_size, seed = settings["epochs"], settings["batch_size"], settings["seed"]
    lr = settings["lr"] if settings["lr"] is not None else DEFAULT_LR[optimizer]
    weight_decay, label_smoothing = settings["weight_decay"], settings["label_smoothing"]
    images, labels = _arrays(train, "train")
    scale = _scale(images, max_value)
    shape = images.shape[1:]
    num_classes = _classes(model, shape)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise InvalidArgumentError(
            f"fit: labels must be in 0..{num_classes - 1} for a model of {num_classes} outputs,"
            f" got {labels.min()}..{labels.max()}"
        )
    if dev is not None:
        dev = _arrays(dev, "dev")
    if settings["freeze_until"] is not None:
        transfer.freeze_until(model, shape, settings["freeze_until"])
    name = type(model).__name__  # the same estimate and limit as the command line's
    limits.check_model_memory(model, shape, batch_size, f"fit: training {name}", training=True)
    rng = np.random.default_rng(seed)
    batches = Batches(
        images,
        labels,
        batch_size,
        rng=rng,
        scale=scale,
        transform=parse_augment(augment, shape),
        drop_last=len(images) % batch_size == 1,  # batch norm needs more than one example
    )
    chosen = optim.make_optimizer(
        optimizer,
        transfer.trainable(model.parameters()),
        lr,
        momentum=SETTINGS["momentum"].default,
        weight_decay=weight_decay,
    )
    steps = epochs * len(batches)
    trainer = Trainer(
        model,
        optimizer=chosen,
        schedule=optim.make_schedule(schedule, lr, steps, step_size=len(batches)),
        train=batches,
        dev=dev,
        prepare=lambda raw: raw.astype(np.float32) * np.float32(scale),
        num_classes=num_classes,
        epochs=epochs,
        label_smoothing=label_smoothing,
        on_step=on_step,
        on_epoch=on_epoch,
        log=log,
    )
    # this thread's block alone: a fit in one thread leaves another thread's count as it was
    workers = nullcontext() if threads is None else switchboard.settings(threads=threads)
    with workers:
        history = trainer.fit().history
    n_C = shape[2]
    preprocessing = Preprocessing(
        shape,
        scale,
        np.zeros(n_C, np.float32),
        np.ones(n_C, np.float32),
        tuple(str(k) for k in range(num_classes)),
    )
    return FitResult(history, preprocessing)


def classify(
    model: Module,
    images: np.ndarray,
    *,
    max_value: float | None = None,
    batch_size: int = EVAL_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class of each image and the probabilities softmax(model(X)) (m, K).

    ``images`` and ``max_value`` as for :func:`fit` (uint8 scaled by 1/255
    unless ``max_value`` says otherwise); eval mode, no graph, ``batch_size``
    at a time; the model's mode is restored.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ShapeError(f"classify expects images (m, n_H, n_W, n_C), got shape {images.shape}")
    scale = np.float32(_scale(images, max_value))
    probabilities = F.softmax(
        Tensor(logits(model, images, lambda raw: raw.astype(np.float32) * scale, batch_size))
    ).data
    return probabilities.argmax(axis=1), probabilities


def _arrays(pair: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise InvalidArgumentError(f"fit: {name} must be a pair (images, labels)")
    images, labels = np.asarray(pair[0]), np.asarray(pair[1])
    if images.ndim != 4:
        raise ShapeError(
            f"fit: {name} images must be (m, n_H, n_W, n_C), channels-last; got {images.shape}"
        )
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ShapeError(
            f"fit: {name} labels must be {len(images)} integers, got {labels.dtype} {labels.shape}"
        )
    return images, labels


def _classes(model: Module, shape: tuple[int, ...]) -> int:
    out = model.output_shape(shape)
    if len(out) != 1:
        raise ShapeError(f"fit: the model must give class scores (K,), it gives {out}")
    return out[0]


def _scale(images: np.ndarray, max_value: float | None) -> float:
    """X = raw * scale: 1 / max_value, else 1/255 for uint8 images and 1 for floats."""
    if max_value is None:
        return 1 / 255 if images.dtype == np.uint8 else 1.0
    if isinstance(max_value, bool) or not isinstance(max_value, int | float) or max_value < 1:
        raise InvalidArgumentError(f"max_value must be a number >= 1, got {max_value!r}")
    return 1 / max_value
