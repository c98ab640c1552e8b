"""The one seam between the trainer and the processes that train together.

At fixed points of a step and an epoch the trainer asks its replicas to do
what training on several processes needs: agree that a step may back-
propagate, average the gradients, draw per-process random streams, average
batch norm's running statistics, evaluate over shares, hand rank 0's state
to every process. :class:`OneProcess`, the trainer's default, is a single
process, for which each of these is nothing (and evaluation is plain
:func:`evaluate`). :class:`convmath.distributed.DataParallel` is the same
seam over MPI; the trainer knows nothing else of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from convmath.nn.module import Module, Parameter
from convmath.train.metrics import Evaluation, evaluate


class OneProcess:
    """Training on this process alone: every collective is the identity."""

    sync_batch_norm = False

    @property
    def active(self) -> bool:
        """Whether other processes train beside this one."""
        return False

    @contextlib.contextmanager
    def synchronized(self) -> Iterator[None]:
        """The block in which the model trains (batch norm over the global batch, if asked)."""
        yield

    def finite_before_backward(self, loss: float) -> bool:
        """Whether the step may back-propagate: its loss is finite (where it must be)."""
        return bool(np.isfinite(loss))

    def average_gradients(
        self, parameters: list[Parameter], loss: float, correct: int, count: int
    ) -> tuple[float, int, int]:
        """The global batch's gradients in place; returns its (mean loss, correct, size)."""
        return loss, correct, count

    def per_rank_generators(self, generators: dict[str, np.random.Generator], epoch: int) -> None:
        """Give each process its own augmentation and dropout streams for ``epoch``."""

    def average_running_statistics(self, model: Module) -> None:
        """Make batch norm's running statistics the processes' mean."""

    def broadcast_state(self, model: Module, optimizer: Any) -> None:
        """Rank 0's weights, buffers and optimizer slots on every process."""

    def evaluate(
        self,
        model: Module,
        images: np.ndarray,
        labels: np.ndarray,
        prepare: Any,
        num_classes: int,
        batch_size: int,
    ) -> Evaluation:
        """:func:`evaluate`, over the processes' shares of the images."""
        return evaluate(model, images, labels, prepare, num_classes, batch_size)
