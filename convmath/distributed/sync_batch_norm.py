"""Batch norm over the global batch: the same equations, with the sums taken over every rank.

With ``--sync-bn``, the N values of a channel are those of the whole global
batch, spread over the ranks. Forward: each rank sums its n_r values and
their squares; one Allreduce gives mu and var of all N. Backward: the
three-term formula needs the global batch's sums of dZ and dZ * A_hat.
Each rank's upstream dZ is the gradient of its own share's mean loss J_r,
and the global loss is sum_r (n_r / N) J_r (:mod:`.data_parallel` weighs
the shares so), so the global sums are G = sum_r (n_r / N) sum dZ_r, and

    dA_r = (gamma / sqrt(var + eps)) * (dZ_r - (G_beta + A_hat * G_gamma) / n_r),

which is exactly the single-process dA scaled by N / n_r, the factor that
the weighted gradient average undoes. dgamma and dbeta stay the share's own
sums: they are averaged with the other gradients. Inference uses the
running statistics and needs no communication.
"""

from __future__ import annotations

import numpy as np

from convmath.distributed.world import World
from convmath.errors import ShapeError
from convmath.ops.normalization import BatchNorm, update_running


class SyncBatchNorm(BatchNorm):
    """:class:`BatchNorm` whose batch statistics are those of every rank's share together."""

    world: World  # set on the subclass :func:`synced_over` makes

    def forward(
        self,
        a: np.ndarray,
        gamma: np.ndarray | None = None,
        beta: np.ndarray | None = None,
        *,
        running_mean: np.ndarray | None,
        running_var: np.ndarray | None,
        momentum: float,
        eps: float,
        training: bool,
    ) -> np.ndarray:
        if not training:
            return super().forward(
                a, gamma, beta, running_mean=running_mean, running_var=running_var,
                momentum=momentum, eps=eps, training=False,
            )  # fmt: skip
        axes = tuple(range(a.ndim - 1))
        local = a.size // a.shape[-1]
        wide = a.astype(np.float64)
        sums = np.concatenate([wide.sum(axis=axes), (wide * wide).sum(axis=axes), [local]])
        total = self.world.sum(sums)
        n_C, count = a.shape[-1], float(total[-1])
        if count < 2:  # every rank sees the same count, and refuses together
            raise ShapeError(
                f"batch_norm in training needs more than one value per channel over the whole"
                f" batch, got {count:.0f}"
            )
        mu = total[:n_C] / count
        var = np.maximum(total[n_C : 2 * n_C] / count - mu * mu, 0.0)
        update_running(running_mean, mu, momentum)
        update_running(running_var, var * count / (count - 1), momentum)
        inv_std = (1 / np.sqrt(var + eps)).astype(a.dtype)
        a_hat = (a - mu.astype(a.dtype)) * inv_std
        z = a_hat if gamma is None else gamma * a_hat
        if beta is not None:
            z = z + beta
        self.a_hat, self.inv_std, self.gamma = a_hat, inv_std, gamma
        self.axes, self.count, self.training, self.total = axes, local, True, count
        return z

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if not self.training:
            return super().backward(dz)
        a_hat, axes, local = self.a_hat, self.axes, self.count
        dbeta = dz.sum(axis=axes, dtype=np.float64)
        dgamma = (dz * a_hat).sum(axis=axes, dtype=np.float64)
        weighted = self.world.sum(np.concatenate([dbeta, dgamma]) * (local / self.total))
        n_C = dz.shape[-1]
        g_beta, g_gamma = (weighted[:n_C].astype(dz.dtype), weighted[n_C:].astype(dz.dtype))
        scale = self.inv_std if self.gamma is None else self.gamma * self.inv_std
        da = scale * (dz - (g_beta + a_hat * g_gamma) / np.float32(local))
        return (da, dgamma.astype(dz.dtype), dbeta.astype(dz.dtype))[: len(self.needs_grad)]


def synced_over(world: World) -> type[SyncBatchNorm]:
    """The :class:`SyncBatchNorm` of ``world`` (the engine builds ops without arguments)."""
    return type("SyncBatchNorm", (SyncBatchNorm,), {"world": world})
