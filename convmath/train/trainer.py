"""The training loop: epochs of mini-batch gradient descent, evaluation, checkpoints.

Each step: forward propagation, J = softmax cross-entropy, back propagation,
a finiteness check of J and of every gradient, optional clipping, the
optimizer's update with the scheduled learning rate, and a finiteness check
of every weight and buffer after it (a finite loss can still come with an
update that overflows). A checkpoint is checked finite again before it is
written, so none on disk ever holds a NaN or an infinity. After each epoch: the
dev set is evaluated, the history grows by one row, ``last.safetensors`` is
written (atomically) and ``best.safetensors`` too when the dev accuracy
improved; training stops early after ``patience`` epochs without
improvement. Everything a resumed run needs to continue bit for bit is in
the checkpoint: weights, buffers, optimizer slots, the step, the random
generators' states and the early-stopping state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import convmath.functional as F
from convmath.data.batches import Batches
from convmath.data.prefetch import prefetched
from convmath.errors import CheckpointError, InvalidArgumentError, NonFiniteError, ShapeError
from convmath.kernels.parallel import single_threaded_blas
from convmath.kernels.runtime import tune_allocator
from convmath.nn.module import Module
from convmath.optim import Constant, Optimizer, Schedule, clip_grad_norm
from convmath.switchboard import current_settings
from convmath.tensor import Tensor
from convmath.train.checkpoint import (
    STATE,
    STEP_POINTS,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from convmath.train.inference import EVAL_BATCH
from convmath.train.outputs import BEST, LAST
from convmath.train.progress import Progress
from convmath.train.replicas import OneProcess

HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "lr", "seconds", "images_per_second")
StepCallback = Callable[["Trainer", int, int], None]
EpochCallback = Callable[["Trainer", dict[str, Any]], None]


@dataclass(frozen=True)
class StepFigures:
    """The step just done, for ``on_step`` callbacks: its loss J (as trained: with label
    smoothing, on augmented images), how many of its ``count`` examples it got right, and
    the epoch so far (``seen`` examples in ``seconds``)."""

    loss: float
    correct: int
    count: int
    seen: int
    seconds: float


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps done
    best_accuracy: float | None = None
    best_loss: float | None = None  # breaks ties of accuracy on small dev sets
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``train`` batches, evaluating ``dev`` each epoch.

    Every argument but the model is given by name. ``dev`` is (raw images,
    labels) and ``prepare`` turns raw images into normalised float32 batches
    (by default the training batches' own scaling and normalisation, without
    augmentation). ``schedule`` gives the learning rate of each step (by
    default the optimizer's, constant: the rate is given once). ``loss(logits,
    labels)`` is J (by default the softmax cross-entropy, with
    ``label_smoothing``). ``config`` is stored in every checkpoint.
    ``on_step`` callbacks run after each optimizer step with (trainer, epoch,
    step_in_epoch); ``on_epoch`` callbacks after each epoch's evaluation with
    (trainer, history row), and may add to the row. ``replicas`` are the
    processes that train together (:class:`OneProcess` by default; under MPI,
    :class:`convmath.distributed.DataParallel`).
    """

    def __init__(
        self,
        model: Module,
        *,
        optimizer: Optimizer,
        train: Batches,
        num_classes: int,
        epochs: int,
        dev: tuple[np.ndarray, np.ndarray] | None = None,
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
        schedule: Schedule | None = None,
        loss: Callable[[Tensor, np.ndarray], Tensor] | None = None,
        out_dir: Path | None = None,
        patience: int | None = None,
        label_smoothing: float = 0.0,
        clip_norm: float | None = None,
        config: dict[str, Any] | None = None,
        on_step: Sequence[StepCallback] = (),
        on_epoch: Sequence[EpochCallback] = (),
        log: Callable[[str], None] = print,
        eval_batch_size: int = EVAL_BATCH,
        replicas: OneProcess | None = None,
    ) -> None:
        if loss is not None and label_smoothing:
            raise InvalidArgumentError(
                "Trainer: give label smoothing to your own loss, not beside it"
            )
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule if schedule is not None else Constant(optimizer.lr)
        self.train = train
        self.dev = dev
        self.prepare = prepare if prepare is not None else train.normalize
        self.loss = loss
        self.num_classes = num_classes
        self.epochs = epochs
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.patience = patience
        self.label_smoothing = label_smoothing
        self.clip_norm = clip_norm
        self.config = config or {}
        self.on_step = list(on_step)
        self.on_epoch = list(on_epoch)
        self.log = log
        self.eval_batch_size = eval_batch_size
        self.replicas = replicas if replicas is not None and replicas.active else OneProcess()
        self.state = TrainState()
        self.last_step: StepFigures | None = None  # the step just done, for on_step callbacks
        self.named_parameters = list(model.named_parameters())
        self.parameters = [p for _, p in self.named_parameters]

    # ------------------------------------------------------------ one step
    def train_step(
        self, X: np.ndarray, y: np.ndarray, epoch: int, step: int
    ) -> tuple[float, int, int]:
        """One gradient-descent step; returns (loss, number correct, number of examples).

        With replicas, (X, y) is this process's share and what is returned
        is the global batch's.
        """
        self.optimizer.lr = self.schedule(self.state.step)
        # NaN and inf are caught below and reported once, so NumPy's warnings are noise here.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logits = self.model(Tensor(X))
            if self.loss is None:
                loss = F.softmax_cross_entropy(logits, y, label_smoothing=self.label_smoothing)
            else:
                loss = self.loss(logits, y)
            value = loss.item()
            if self.replicas.finite_before_backward(value):
                self.optimizer.zero_grad()
                loss.backward()
        correct, count = int((logits.data.argmax(axis=1) == y).sum()), len(y)
        # every replica: the global batch's gradients and figures
        value, correct, count = self.replicas.average_gradients(
            self.parameters, value, correct, count
        )
        if not np.isfinite(value):
            raise NonFiniteError(
                f"training stopped at epoch {epoch}, step {step}: the loss J is {value}"
                f" (learning rate {self.optimizer.lr:g}); the last good checkpoint is untouched"
            )
        for name, p in self.named_parameters:
            if p.grad is not None and not np.isfinite(p.grad).all():
                bad = int(p.grad.size - np.count_nonzero(np.isfinite(p.grad)))
                raise NonFiniteError(
                    f"training stopped at epoch {epoch}, step {step}: the gradient dJ/d{name}"
                    f" has {bad} non-finite value(s); the last good checkpoint is untouched"
                )
        if self.clip_norm:
            clip_grad_norm(self.model.parameters(), self.clip_norm)
        with np.errstate(over="ignore", invalid="ignore"):
            self.optimizer.step()
        self.state.step += 1
        self._check_finite(self._weights_and_buffers(), epoch, step, "the update made")
        return value, correct, count

    # ------------------------------------------------------------ the loop
    def fit(self, progress: Progress | None = None) -> TrainState:
        """Train until ``epochs`` are done (or early stopping); returns the state."""
        tune_allocator()  # what makes the commands fast makes every door fast (runtime.py)
        with single_threaded_blas():  # once for the whole loop, not once per op
            return self._fit(progress)

    def _fit(self, progress: Progress | None) -> TrainState:
        progress = progress or Progress(self.epochs, len(self.train), log=self.log)
        with self.replicas.synchronized():
            self._epochs(progress)
        # Only a best checkpoint this run wrote (or the run it resumes) is ever loaded.
        if self.state.best_epoch is not None and self.out_dir is not None:
            self.restore_weights(load_checkpoint(self.out_dir / BEST))
        # only rank 0 writes (and reads back) the checkpoints
        self.replicas.broadcast_state(self.model, self.optimizer)
        return self.state

    def _epochs(self, progress: Progress) -> None:
        self.model.train()
        while self.state.epoch < self.epochs and not self.state.stopped_early:
            epoch = self.state.epoch + 1
            progress.start_epoch(epoch)
            self.replicas.per_rank_generators(self._rank_generators(), epoch)
            started = time.perf_counter()
            total_loss, total_correct, seen, losses = 0.0, 0, 0, []
            # closed when the loop ends or fails: a prefetching thread stops there
            with contextlib.closing(self._batches()) as batches:
                for step, (X, y) in enumerate(batches, start=1):
                    loss, correct, count = self.train_step(X, y, epoch, step)
                    losses.append(loss)
                    total_loss += loss * count
                    total_correct += correct
                    seen += count
                    elapsed = time.perf_counter() - started
                    speed = seen / max(elapsed, 1e-9)
                    progress.step(total_loss / seen, total_correct / seen, speed)
                    self.last_step = StepFigures(loss, correct, count, seen, elapsed)
                    for callback in self.on_step:
                        callback(self, epoch, step)
            seconds = time.perf_counter() - started
            row = {
                "epoch": epoch,
                "train_loss": total_loss / seen,
                "train_accuracy": total_correct / seen,
                "lr": self.optimizer.lr,
                "seconds": seconds,
                "images_per_second": seen / seconds,
                "step_losses": step_curve(losses),
            }
            self.replicas.average_running_statistics(self.model)
            if self.dev is not None and len(self.dev[1]):
                result = self.replicas.evaluate(
                    self.model, *self.dev, self.prepare, self.num_classes, self.eval_batch_size
                )
                row |= {"dev_loss": result.loss, "dev_accuracy": result.accuracy}
            for callback in self.on_epoch:
                callback(self, row)
            self.state.history.append(row)
            self.state.epoch = epoch
            improved = self._track_best(row)
            self._save(improved)
            progress.end_epoch(format_epoch(row, self.epochs))

    def _batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """This epoch's batches: the next one made (augmented) on a thread while one trains,
        the same bits as made in turn, where the ``prefetch`` setting is on and no layer
        draws from a generator the batches draw from (the two threads' draws would then
        interleave as they happen to run, and a seed would no longer give the same bits)."""
        drawn = {id(g) for g in (self.train.rng, self.train.augment_rng) if g is not None}
        layers = (g for name, g in self._generators().items() if name != "data")
        if current_settings().prefetch and not any(id(g) in drawn for g in layers):
            return prefetched(self.train)
        return iter(self.train)

    def _track_best(self, row: dict[str, Any]) -> bool:
        if "dev_accuracy" not in row:
            return False
        state = self.state
        accuracy, loss = row["dev_accuracy"], row["dev_loss"]
        if (
            state.best_accuracy is None
            or accuracy > state.best_accuracy
            or (accuracy == state.best_accuracy and loss < state.best_loss)
        ):
            state.best_accuracy, state.best_loss = accuracy, loss
            state.best_epoch, state.bad_epochs = row["epoch"], 0
            return True
        state.bad_epochs += 1
        if self.patience is not None and state.bad_epochs >= self.patience:
            state.stopped_early = True
        return False

    # ------------------------------------------------------------ checkpoints
    def _generators(self) -> dict[str, np.random.Generator]:
        generators = {"data": self.train.rng} if self.train.rng is not None else {}
        for path, module in self.model.named_modules():
            rng = getattr(module, "rng", None)
            if isinstance(rng, np.random.Generator):
                generators[f"module:{path}"] = rng
        return generators

    def _rank_generators(self) -> dict[str, np.random.Generator]:
        """The generators each replica draws from on its own: augmentation and dropout."""
        generators = {k: g for k, g in self._generators().items() if k != "data"}
        if self.train.augment_rng is not None:
            generators["augment"] = self.train.augment_rng
        return generators

    def checkpoint(self) -> Checkpoint:
        state = self.state
        return Checkpoint(
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            config=self.config,
            state={
                "epoch": state.epoch,
                "step": state.step,
                "best_accuracy": state.best_accuracy,
                "best_loss": state.best_loss,
                "best_epoch": state.best_epoch,
                "bad_epochs": state.bad_epochs,
                "stopped_early": state.stopped_early,
                "rng": {k: g.bit_generator.state for k, g in self._generators().items()},
            },
            history=state.history,
        )

    def _weights_and_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        yield from ((name, p.data) for name, p in self.named_parameters)
        yield from self.model.named_buffers()

    def _check_finite(
        self, arrays: Iterable[tuple[str, np.ndarray]], epoch: int, step: int, what: str
    ) -> None:
        """Stop the run, naming the tensor, if one of ``arrays`` holds a NaN or an infinity."""
        for name, array in arrays:
            # A float64 sum of float32 values cannot overflow, and is NaN or inf exactly
            # when some value is: one pass, no temporary array.
            if array.dtype.kind != "f":
                continue
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, as wanted
                total = array.sum(dtype=np.float64)
            if not np.isfinite(total):
                bad = int(array.size - np.count_nonzero(np.isfinite(array)))
                raise NonFiniteError(
                    f"training stopped at epoch {epoch}, step {step}: {what} {name} non-finite"
                    f" ({bad} NaN or infinite value(s); learning rate {self.optimizer.lr:g});"
                    f" the last good checkpoint is untouched"
                )

    def _save(self, improved: bool) -> None:
        if self.out_dir is None:
            return
        checkpoint = self.checkpoint()
        tensors = [(f"model/{k}", v) for k, v in checkpoint.model.items()]
        tensors += [(f"optimizer/{k}", v) for k, v in checkpoint.optimizer.items()]
        self._check_finite(tensors, self.state.epoch, self.state.step, "saving would write")
        if improved:
            save_checkpoint(self.out_dir / BEST, checkpoint)
        save_checkpoint(self.out_dir / LAST, checkpoint)

    def restore_weights(self, checkpoint: Checkpoint) -> None:
        try:
            self.model.load_state_dict(checkpoint.model)
        except ShapeError as error:
            raise CheckpointError(f"the checkpoint does not fit this model: {error}") from None

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from ``checkpoint``: weights, optimizer, step, generators, history."""
        saved = checkpoint.state
        missing = sorted(set(STATE.fields) - set(saved))
        if missing:
            raise CheckpointError(f"cannot resume: the training state has no {missing}")
        if any(set(HISTORY_KEYS) - set(row) for row in checkpoint.history) or [
            row["epoch"] for row in checkpoint.history
        ] != list(range(1, len(checkpoint.history) + 1)):
            raise CheckpointError(
                f"cannot resume: every history row needs the epochs in order and {HISTORY_KEYS}"
            )
        best = [saved[k] is None for k in ("best_accuracy", "best_loss", "best_epoch")]
        if any(best) != all(best):
            raise CheckpointError(
                "cannot resume: best_accuracy, best_loss and best_epoch must all be set or all"
                " be null"
            )
        if len(checkpoint.history) != saved["epoch"] or not (
            saved["bad_epochs"] <= saved["epoch"] and (saved["best_epoch"] or 0) <= saved["epoch"]
        ):
            raise CheckpointError(
                f"cannot resume: the training state (epoch {saved['epoch']}, best epoch"
                f" {saved['best_epoch']}, {saved['bad_epochs']} epochs without progress) does not"
                f" agree with its history of {len(checkpoint.history)} epochs"
            )
        self.restore_weights(checkpoint)
        try:
            self.optimizer.load_state_dict(checkpoint.optimizer)
            generators = self._generators()
            if set(saved["rng"]) != set(generators):
                raise CheckpointError(
                    f"random generators {sorted(saved['rng'])} in the checkpoint do not match"
                    f" {sorted(generators)}"
                )
            for key, rng in generators.items():
                rng.bit_generator.state = saved["rng"][key]
            self.state = TrainState(
                epoch=int(saved["epoch"]),
                step=int(saved["step"]),
                best_accuracy=saved["best_accuracy"],
                best_loss=saved["best_loss"],
                best_epoch=saved["best_epoch"],
                bad_epochs=int(saved["bad_epochs"]),
                stopped_early=bool(saved["stopped_early"]),
                history=list(checkpoint.history),
            )
        except (KeyError, TypeError, ValueError, ShapeError) as error:
            raise CheckpointError(f"cannot resume from this checkpoint: {error}") from None


def step_curve(losses: Sequence[float]) -> list[float]:
    """The epoch's steps in (at most) STEP_POINTS equal groups: the mean J of each.

    Kept in every history row (to 6 significant digits, so the history stays
    small), so that even a run of one epoch draws a loss curve.
    """
    if not losses:
        return []
    groups = np.array_split(np.asarray(losses, dtype=np.float64), min(STEP_POINTS, len(losses)))
    return [float(f"{group.mean():.6g}") for group in groups]


def format_epoch(row: dict[str, Any], epochs: int) -> str:
    """One log line per epoch."""
    line = (
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f}"
        f" acc {row['train_accuracy']:.4f}"
    )
    if "dev_accuracy" in row:
        line += f" | dev loss {row['dev_loss']:.4f} acc {row['dev_accuracy']:.4f}"
    return line + (
        f" | lr {row['lr']:.2e} | {row['images_per_second']:,.0f} img/s | {row['seconds']:.1f} s"
    )
