"""Data parallelism: N replicas of one model, each on its share of every global mini-batch.

Every rank holds the same weights (broadcast from rank 0 at the start and
after a resume) and draws the same global mini-batch (the same seeded
shuffle), of which it computes its contiguous share b_r. The gradient of
the global batch's mean loss is the weighted mean of the shares' gradients,

    dJ/dW = sum_r (b_r / B) dJ_r/dW,   B = sum_r b_r,

summed with one Allreduce over a flat float32 buffer that also carries the
shares' loss sums, correct counts and sizes; then every rank takes the same
optimizer step, so the replicas stay identical. Batch norm uses each
share's own statistics (as PyTorch's DDP does); its running statistics are
averaged over the ranks before every evaluation and checkpoint. With
``sync_batch_norm`` the batch statistics are the global batch's instead
(:mod:`.sync_batch_norm`), and N ranks train as one process would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from convmath.dispatch import compute_across
from convmath.distributed.sync_batch_norm import synced_over
from convmath.distributed.world import World
from convmath.nn.module import Module, Parameter
from convmath.ops.normalization import BatchNorm
from convmath.train.metrics import Evaluation, confusion_matrix, evaluate
from convmath.train.replicas import OneProcess


class DataParallel(OneProcess):
    """The collectives a :class:`convmath.train.Trainer` needs to train on ``world``.

    The trainer's seam (:class:`convmath.train.replicas.OneProcess`), over MPI.
    """

    def __init__(self, world: World, seed: int, *, sync_batch_norm: bool = False) -> None:
        self.world = world
        self.seed = seed
        self.sync_batch_norm = sync_batch_norm and world.size > 1

    @contextlib.contextmanager
    def synchronized(self) -> Iterator[None]:
        """Within this block, batch norm in training uses the global batch's statistics."""
        if not self.sync_batch_norm:
            yield
            return
        with compute_across({BatchNorm: synced_over(self.world)}):
            yield

    def finite_before_backward(self, loss: float) -> bool:
        """With synced batch norm back propagation talks, so every rank steps or none does."""
        return self.all_finite(loss) if self.sync_batch_norm else bool(np.isfinite(loss))

    def all_finite(self, value: float) -> bool:
        """Whether the loss is finite on every rank (before a back propagation that talks)."""
        return not self.world.sum(np.array([0.0 if np.isfinite(value) else 1.0]))[0]

    @property
    def active(self) -> bool:
        return self.world.size > 1

    # ------------------------------------------------------------ replicas alike
    def broadcast_state(self, model: Module, optimizer: Any) -> None:
        """Rank 0's weights, buffers and optimizer slots on every rank."""
        for _, p in model.named_parameters():
            self.world.broadcast(p.data)
        for _, buffer in model.named_buffers():
            self.world.broadcast(buffer)
        state = optimizer.state_dict()
        for value in state.values():
            self.world.broadcast(value)
        optimizer.load_state_dict(state)

    def per_rank_generators(self, generators: dict[str, np.random.Generator], epoch: int) -> None:
        """Augmentation and dropout draw from streams of their own on each rank.

        Derived from (seed, rank, epoch), so a run resumed at an epoch's end
        draws exactly what it would have drawn uninterrupted.
        """
        for k, (_, rng) in enumerate(sorted(generators.items())):
            fresh = np.random.SeedSequence(self.seed, spawn_key=(self.world.rank, epoch, k))
            rng.bit_generator.state = np.random.default_rng(fresh).bit_generator.state

    # ------------------------------------------------------------ one step
    def average_gradients(
        self, parameters: list[Parameter], loss: float, correct: int, count: int
    ) -> tuple[float, int, int]:
        """Replace each gradient by the global batch's; returns (mean loss, correct, B)."""
        sizes = [p.size for p in parameters]
        had = [p.grad is not None for p in parameters]  # the same on every rank (one model)
        flat = np.empty(sum(sizes) + 3, dtype=np.float32)
        offset = 0
        for p, size in zip(parameters, sizes, strict=True):
            part = flat[offset : offset + size]
            if p.grad is None or not np.isfinite(loss):
                part[...] = 0  # no gradient here (or a failed share): the loss carries the news
            else:
                np.multiply(p.grad.reshape(-1), np.float32(count), out=part)
            offset += size
        flat[offset:] = (loss * count, correct, count)
        total = self.world.sum(flat)
        global_count = float(total[-1])
        offset = 0
        for p, size, held in zip(parameters, sizes, had, strict=True):
            grad = (total[offset : offset + size] / np.float32(global_count)).reshape(p.shape)
            p.grad = (
                grad.astype(p.data.dtype, copy=False) if held or not np.isfinite(loss) else None
            )
            offset += size
        return float(total[-3]) / global_count, round(float(total[-2])), int(global_count)

    def average_running_statistics(self, model: Module) -> None:
        for _, buffer in model.named_buffers():
            if buffer.dtype.kind == "f":
                buffer[...] = self.world.sum(buffer.astype(np.float64)) / self.world.size

    # ------------------------------------------------------------ evaluation
    def evaluate(
        self,
        model: Module,
        images: np.ndarray,
        labels: np.ndarray,
        prepare: Any,
        num_classes: int,
        batch_size: int,
    ) -> Evaluation:
        """``evaluate`` on this rank's share; loss and counts summed, rows gathered."""
        share = self.world.share(len(labels))
        local_images, local_labels = images[share], labels[share]
        if len(local_labels):
            local = evaluate(model, local_images, local_labels, prepare, num_classes, batch_size)
            loss_sum, probabilities = local.loss * len(local_labels), local.probabilities
        else:
            loss_sum, probabilities = 0.0, np.zeros((0, num_classes), dtype=np.float32)
        loss = float(self.world.sum(np.array([loss_sum]))[0]) / max(len(labels), 1)
        probabilities = self.world.gather_rows(probabilities.astype(np.float32))
        predictions = probabilities.argmax(axis=1)
        return Evaluation(
            loss=loss,
            accuracy=float((predictions == labels).mean()),
            predictions=predictions,
            probabilities=probabilities,
            confusion=confusion_matrix(labels, predictions, num_classes),
        )
