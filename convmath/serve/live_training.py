"""A training run started from the page: a normal ``convmath train`` run, in a thread.

The run trains the default model on the embedded digits into its own
folder under ``runs/`` and writes its checkpoints as any run does. Between
two steps it waits while paused, and stops when asked (the last finished
epoch's checkpoint stays, so ``convmath train --resume`` can continue it).
:meth:`LiveTraining.status` is what ``GET /api/train/status`` answers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.nn import Conv2D
from convmath.run import TrainConfig, run_training
from convmath.schema import shown
from convmath.train.outputs import BEST, LAST

MAX_EPOCHS = 100
DEFAULT_EPOCHS = 10
HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "dev_loss", "dev_accuracy")


class StopRequestedError(Exception):
    """Raised between two steps when the page asked the run to stop."""


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
        self.filters: np.ndarray | None = None
        self.error: str | None = None
        self.out_dir: Path | None = None

    def start(self, epochs: Any = DEFAULT_EPOCHS) -> dict[str, Any]:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= MAX_EPOCHS:
            raise InvalidArgumentError(
                f"epochs must be an integer in 1..{MAX_EPOCHS}, got {shown(epochs)}"
            )
        with self._lock:
            if self.state in ("running", "paused", "stopping"):
                raise RunStateError("a training run is going already; stop it first")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.out_dir = self._free_folder(self.runs_dir / f"serve-{stamp}")
            self.state, self.error = "running", None
            self.epoch = self.step = self.steps = 0
            self.epochs = epochs
            self.history, self.filters = [], None
            self._stop.clear()
            self._running.set()
            self._thread = threading.Thread(
                target=self._train,
                args=(epochs, self.out_dir),
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
                "history": list(self.history),
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
    def _train(self, epochs: int, out_dir: Path) -> None:
        try:
            run_training(
                TrainConfig(epochs=epochs),
                out_dir,
                on_step=[self._on_step],
                on_epoch=[self._on_epoch],
                log=_quiet,
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
        with self._lock:
            self.step, self.steps = step, len(trainer.train)
            if self.filters is None:
                self.filters = _first_filters(trainer.model)

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


def _first_filters(model: Any) -> np.ndarray | None:
    for _, module in model.named_modules():
        if isinstance(module, Conv2D):
            return module.W.data.copy()
    return None


def _quiet(_line: str) -> None:
    pass
