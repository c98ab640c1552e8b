"""A training run started from the page: a normal ``convmath train`` run, in a thread.

The run trains the served model's architecture, from fresh weights, on the
dataset it was trained on, with the settings of its own run when the served
file has them (:func:`plan_for`); when that cannot be done here (a model of
no known name, or a dataset not on this machine) it trains the default
digits model and says so. The run goes through :func:`convmath.run.run_training`,
the path of ``convmath train`` (the same speed), into its own folder under
``runs/``, and writes its checkpoints as any run does. Between two steps it
waits while paused, and stops when asked (the last finished epoch's
checkpoint stays, so ``convmath train --resume`` can continue it).

:meth:`LiveTraining.status` is what ``GET /api/train/status`` answers: the
plan, the epochs' rows and, from the first steps on, a point of the training
loss every few steps.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data
from convmath.errors import ConvMathError, InvalidArgumentError
from convmath.models import MODELS
from convmath.nn import Conv2D
from convmath.run import TrainConfig, run_training
from convmath.train.checkpoint import TRAINER_COLUMNS
from convmath.train.config import SETTINGS
from convmath.train.outputs import BEST, LAST

DEFAULT_EPOCHS = SETTINGS["epochs"].fit_default  # a short run, as fit's
# the columns of an epoch's row the page draws, from the trainer's own (checkpoint.py)
HISTORY_KEYS = ("epoch", *(k for k in TRAINER_COLUMNS if k.startswith(("train_", "dev_"))))
POINTS_PER_EPOCH = 100  # points of the step curve per epoch, at most
MAX_POINTS = 2000  # past this, every other point is dropped (the curve keeps its shape)


class StopRequestedError(Exception):
    """Raised between two steps when the page asked the run to stop."""


@dataclass(frozen=True)
class Plan:
    """What a live run trains: a ``convmath train`` configuration, and in words why."""

    config: TrainConfig
    same_as_served: bool  # the served model's architecture on its own dataset
    note: str  # why another model is trained, if it is

    def describe(self) -> dict[str, Any]:
        config = self.config
        return {
            "model": config.model or "digits_cnn",
            "dataset": config.dataset,
            "same_as_served": self.same_as_served,
            "note": self.note,
            "settings": config.settings_lines(),
            "label_smoothing": config.label_smoothing,
            "augment": config.augment,
        }


def plan_for(served_config: dict[str, Any], epochs: int = DEFAULT_EPOCHS) -> Plan:
    """The run that trains the served model's architecture on its dataset, or, where that
    cannot be done on this machine, the default digits model, with the reason."""
    model = served_config.get("model")
    name = model.get("name") if isinstance(model, dict) else None
    dataset = served_config.get("dataset")
    training = served_config.get("training")
    if name not in MODELS:  # a model of the user's code, of layers, or of an ONNX file
        what = f"{name!r}" if isinstance(name, str) else "the served model"
        return _digits(epochs, f"{what} names no architecture and dataset to train it on here")
    if isinstance(training, TrainConfig):  # its own run's settings, from fresh weights
        fresh = {"init_from": None, "new_head": False, "freeze_until": None}
        base = dataclasses.replace(training, model=name, epochs=epochs, **fresh)
    elif isinstance(dataset, str) and dataset in data.DATASETS:
        options = model.get("options")
        base = TrainConfig(
            model=name, dataset=dataset, epochs=epochs, model_options=dict(options or {})
        )
    else:
        return _digits(epochs, f"{name!r} names no dataset to train it on here")
    try:
        base = base.checked()
    except ConvMathError as error:
        return _digits(epochs, f"its run's settings do not make a run here ({error})")
    missing = _missing_data(base)
    if missing:
        return _digits(epochs, missing)
    return Plan(base, True, "")


def _digits(epochs: int, why: str) -> Plan:
    instead = f"{why}: training digits_cnn on the embedded digits instead"
    return Plan(TrainConfig(epochs=epochs).checked(), False, instead)


def _missing_data(config: TrainConfig) -> str:
    """Why the run's dataset cannot be read on this machine without a download ("" if it can)."""
    if config.dataset == "digits":
        return ""
    try:
        data.load(config.dataset, "test", config.data_dir, download=False)
    except (ConvMathError, OSError) as error:
        return f"{config.dataset} is not on this machine ({str(error).split(';')[0]})"
    return ""


class LiveTraining:
    """One run at a time: start, pause, resume, stop, and its status."""

    def __init__(self, runs_dir: str | Path = "runs") -> None:
        self.runs_dir = Path(runs_dir)
        self._lock = threading.Lock()
        self._running = threading.Event()  # set: steps go on; clear: paused
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "idle"
        self.epoch = self.step = self.steps = self.epochs = 0
        self.history: list[dict[str, float]] = []
        self.points: list[dict[str, float]] = []  # the step curve: epochs done, loss, accuracy
        self.images_per_second: float | None = None
        self.plan: Plan | None = None
        self.filters: np.ndarray | None = None
        self.error: str | None = None
        self.out_dir: Path | None = None
        self._chunk: list[tuple[float, int, int]] = []

    def start(
        self, epochs: Any = DEFAULT_EPOCHS, served_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        epochs = SETTINGS["epochs"].spec.check(epochs, "epochs")
        with self._lock:
            if self.state in ("running", "paused", "stopping"):
                raise RunStateError("a training run is going already; stop it first")
        plan = plan_for(served_config or {}, epochs)  # may read the test split: outside the lock
        with self._lock:
            if self.state in ("running", "paused", "stopping"):
                raise RunStateError("a training run is going already; stop it first")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.out_dir = self._free_folder(self.runs_dir / f"serve-{stamp}")
            self.state, self.error, self.plan = "running", None, plan
            self.epoch = self.step = self.steps = 0
            self.epochs = epochs
            self.history, self.points, self.filters = [], [], None
            self.images_per_second, self._chunk = None, []
            self._stop.clear()
            self._running.set()
            self._thread = threading.Thread(
                target=self._train,
                args=(plan.config, self.out_dir),
                name="convmath-live-training",
                daemon=True,
            )
            self._thread.start()
        return self.status()

    def pause(self) -> dict[str, Any]:
        with self._lock:
            if self.state == "running":
                self._running.clear()
                self.state = "paused"
        return self.status()

    def resume(self) -> dict[str, Any]:
        with self._lock:
            if self.state == "paused":
                self.state = "running"
                self._running.set()
        return self.status()

    def stop(self) -> dict[str, Any]:
        with self._lock:
            if self.state in ("running", "paused"):
                self.state = "stopping"
                self._stop.set()
                self._running.set()  # a paused run wakes up to stop
        return self.status()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the run's thread to end (tests, and the server's shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "epoch": self.epoch,
                "epochs": self.epochs,
                "step": self.step,
                "steps": self.steps,
                "out_dir": None if self.out_dir is None else str(self.out_dir),
                "plan": None if self.plan is None else self.plan.describe(),
                "history": list(self.history),
                "points": list(self.points),
                "images_per_second": self.images_per_second,
                "filters": self.filters,
                "error": self.error,
            }

    def best_checkpoint(self) -> Path:
        """The finished (or stopped) run's best weights, for serving in place of the model."""
        with self._lock:
            if self.state not in ("finished", "stopped") or self.out_dir is None:
                raise RunStateError(f"no finished run to serve (the training is {self.state})")
            for name in (BEST, LAST):
                if (self.out_dir / name).is_file():
                    return self.out_dir / name
        raise RunStateError(f"the run in {self.out_dir} saved no checkpoint")

    # ------------------------------------------------------------ the run
    def _train(self, config: TrainConfig, out_dir: Path) -> None:
        try:
            run_training(
                config, out_dir, on_step=[self._on_step], on_epoch=[self._on_epoch], log=_quiet
            )
            final = "finished"
        except StopRequestedError:
            final = "stopped"
        except Exception as error:  # the page shows why; the server goes on
            with self._lock:
                self.error = f"{type(error).__name__}: {error}"
            final = "failed"
        with self._lock:
            self.state = final

    def _on_step(self, trainer: Any, epoch: int, step: int) -> None:
        self._running.wait()
        if self._stop.is_set():
            raise StopRequestedError
        figures = trainer.last_step
        steps = len(trainer.train)
        self._chunk.append((figures.loss * figures.count, figures.correct, figures.count))
        every = max(1, steps // POINTS_PER_EPOCH)
        with self._lock:
            self.step, self.steps = step, steps
            self.images_per_second = figures.seen / max(figures.seconds, 1e-9)
            if self.filters is None:
                self.filters = _first_filters(trainer.model)
            if len(self._chunk) >= every or step == steps:
                self.points.append(_point(self._chunk, epoch - 1 + step / steps))
                self._chunk = []
                if len(self.points) > MAX_POINTS:
                    self.points = self.points[::2]

    def _on_epoch(self, trainer: Any, row: dict[str, Any]) -> None:
        with self._lock:
            self.epoch = int(row["epoch"])
            self.history.append({k: float(row[k]) for k in HISTORY_KEYS if row.get(k) is not None})
            self.filters = _first_filters(trainer.model)

    @staticmethod
    def _free_folder(base: Path) -> Path:
        folder, k = base, 1
        while folder.exists():
            k += 1
            folder = base.with_name(f"{base.name}-{k}")
        return folder


class RunStateError(InvalidArgumentError):
    """A training request that the run's state does not allow (HTTP 409): a start while a
    run goes, a serve before one has finished."""


def _point(chunk: list[tuple[float, int, int]], epochs_done: float) -> dict[str, float]:
    """One point of the step curve: the mean loss and accuracy of the steps since the last."""
    total = sum(count for _, _, count in chunk)
    return {
        "epoch": epochs_done,
        "train_loss": sum(loss for loss, _, _ in chunk) / total,
        "train_accuracy": sum(correct for _, correct, _ in chunk) / total,
    }


def _first_filters(model: Any) -> np.ndarray | None:
    for _, module in model.named_modules():
        if isinstance(module, Conv2D):
            return module.W.data.copy()
    return None


def _quiet(_line: str) -> None:
    pass
