"""The batch-norm kernel: wide rows, one-pass moments, part by part on the workers; BN+ReLU."""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.dispatch import computed_across, kernel_for, kernels_enabled
from convmath.kernels.parallel import for_each_part, map_parts, sum_over_parts
from convmath.kernels.products import product
from convmath.kernels.rows import fold, wide_rows
from convmath.ops import normalization as ops
from convmath.ops.normalization import batch_norm_options, update_running
from convmath.tensor import Tensor


class BatchNormKernel(ops.BatchNorm):
    """Computes :class:`convmath.ops.normalization.BatchNorm` on wide rows, part by part.

    The channels-last rows (N, n_C) are seen as wide rows (N/k, k*n_C) so that
    NumPy's loops run long (:func:`convmath.kernels.rows.wide_rows`); the
    moments come from one pass over memory (:func:`_moments`), and every pass
    runs part by part on the workers. Backward rebuilds A_hat part by part
    from A instead of keeping it.
    """

    relu = False  # BatchNormReLU: max(0, Z) applied to each part while it is in cache

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
        relu = self.relu
        n_C = a.shape[-1]
        rows = np.ascontiguousarray(a).reshape(-1, n_C)  # channels-last: a row per position
        count = rows.shape[0]
        wide, k = wide_rows(rows)  # k positions per row, so that NumPy's loops run long
        if training:
            mean, var = _moments(wide, k)
            update_running(running_mean, mean, momentum)
            update_running(running_var, var * count / (count - 1), momentum)
        else:
            mean, var = running_mean.astype(a.dtype), running_var.astype(a.dtype)
        inv_std = (1.0 / np.sqrt(var + eps)).astype(a.dtype)
        scale = inv_std if gamma is None else gamma * inv_std
        mean_k, inv_std_k, scale_k = (np.tile(v, k) for v in (mean, inv_std, scale))
        beta_k = None if beta is None else np.tile(beta, k)
        z = np.empty_like(wide)

        def normalize(part: slice) -> None:  # Z = (A - mu) * gamma / sqrt(var + eps) + beta
            np.subtract(wide[part], mean_k, out=z[part])
            z[part] *= scale_k
            if beta_k is not None:
                z[part] += beta_k
            if relu:
                np.maximum(z[part], 0, out=z[part])

        for_each_part(len(wide), 2 * wide.shape[1] * a.itemsize, normalize)
        # backward rebuilds A_hat part by part from A (kept anyway, or no larger than A_hat)
        self.wide = wide if any(self.needs_grad) else None
        self.activated = z if relu else None
        self.mean_k, self.inv_std_k, self.k = mean_k, inv_std_k, k
        self.inv_std, self.gamma = inv_std, gamma
        self.training, self.shape = training, a.shape
        return z.reshape(a.shape)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        k, activated = self.k, self.activated
        grad_rows = np.ascontiguousarray(grad).reshape(self.wide.shape)

        def a_hat(part: slice) -> np.ndarray:
            normalized = self.wide[part] - self.mean_k
            normalized *= self.inv_std_k
            return normalized

        def rows_of(part: slice) -> np.ndarray:  # dZ, through the ReLU when there is one
            if activated is None:
                return grad_rows[part]
            return grad_rows[part] * (activated[part] > 0)

        rows = grad_rows
        count = rows.size // self.shape[-1]
        row_bytes = rows.shape[1] * rows.itemsize
        scale = self.inv_std if self.gamma is None else self.gamma * self.inv_std
        needs_sums = self.training or len(self.needs_grad) > 1
        dbeta = dgamma = da = None
        if needs_sums:

            def sums(part: slice) -> np.ndarray:
                dz = rows_of(part)
                ones = np.ones(part.stop - part.start, dtype=rows.dtype)
                return np.stack([product(ones, dz), np.einsum("ij,ij->j", dz, a_hat(part))])

            totals = sum_over_parts(len(rows), 2 * row_bytes, sums)
            dbeta, dgamma = fold(totals[0], k), fold(totals[1], k)
        if self.needs_grad[0]:
            da = np.empty_like(rows)
            scale_k = np.tile(scale, k)
            if self.training:
                slope_k = np.tile(-dgamma * scale / count, k)
                shift_k = np.tile(dbeta * scale / count, k)

                def input_gradient(part: slice) -> None:
                    np.multiply(a_hat(part), slope_k, out=da[part])
                    da[part] += rows_of(part) * scale_k
                    da[part] -= shift_k

            else:

                def input_gradient(part: slice) -> None:
                    np.multiply(rows_of(part), scale_k, out=da[part])

            for_each_part(len(rows), 3 * row_bytes, input_gradient)
            da = da.reshape(self.shape)
        grads: list[np.ndarray | None] = [da]
        if len(self.needs_grad) > 1:
            grads.append(dgamma if self.needs_grad[1] else None)
        if len(self.needs_grad) > 2:
            grads.append(dbeta if self.needs_grad[2] else None)
        return tuple(grads)


def _moments(wide: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of wide rows (R, k*n_C), in one pass over memory.

    Each part of n_j values per channel gets its own mean mu_j and sum of
    squared deviations M2_j while it is in cache; the parts then merge exactly
    (Chan et al.):
        mu = sum_j n_j mu_j / N,   M2 = sum_j (M2_j + n_j (mu_j - mu)^2),   var = M2 / N.
    """

    def part_moments(part: slice) -> tuple[int, np.ndarray, np.ndarray]:
        values = wide[part]
        size = len(values) * k
        mean = fold(product(np.ones(len(values), dtype=wide.dtype), values), k) / size
        deviation = values - np.tile(mean, k)
        return size, mean, fold(np.einsum("ij,ij->j", deviation, deviation), k)

    parts = map_parts(len(wide), wide.shape[1] * wide.itemsize, part_moments)
    count = sum(size for size, _, _ in parts)
    mean = sum(size * part_mean for size, part_mean, _ in parts) / count
    m2 = sum(part_m2 + size * (part_mean - mean) ** 2 for size, part_mean, part_m2 in parts)
    return mean.astype(wide.dtype), (m2 / count).astype(wide.dtype)


class BatchNormReLU(BatchNormKernel):
    """Computes relu(batch_norm(A, gamma, beta)): the ReLU applied to each part in cache.

    Backward starts from dZ = dA * [max(0, Z) > 0], part by part.
    """

    relu = True


def batch_norm_relu(
    a: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """relu(batch_norm(...)) in one op (the same values and gradients, one pass fewer).

    With kernels off, or while batch norm is computed across processes (``--sync-bn``),
    the two ops of the equation.
    """
    if not kernels_enabled() or computed_across(ops.BatchNorm):
        statistics = (running_mean, running_var)
        z = F.batch_norm(a, gamma, beta, *statistics, training=training, momentum=momentum, eps=eps)
        return F.relu(z)
    inputs = [t for t in (a, gamma, beta) if t is not None]
    options = batch_norm_options(a, gamma, beta, running_mean, running_var, training, momentum, eps)
    return kernel_for(BatchNormReLU).apply(*inputs, **options)  # or its compiled twin
