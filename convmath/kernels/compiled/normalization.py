"""Batch norm and BN+ReLU on compiled loops: each pass reads its rows once, part by part.

The NumPy kernel (:mod:`convmath.kernels.normalization`) makes a temporary per
operation (A - mu, then * scale, + beta, max(0, .)); here each pass is one
loop over the channels-last rows (N, n_C) of a part, so a part is read once
and written once. Sums are kept in float64 per part and added in batch order
(the same bits on any number of workers). NaN propagates as in the
equations: a NaN in A makes its channel's mean NaN, max(0, NaN) is NaN, and
dZ = dA * [Z > 0] multiplies (NaN * 0 is NaN).
"""

from __future__ import annotations

import numpy as np

from convmath.kernels.compiled.loops import compiled_loop
from convmath.kernels.normalization import BatchNormKernel, BatchNormReLU
from convmath.kernels.parallel import for_each_part, map_parts, sum_over_parts
from convmath.ops.normalization import update_running


@compiled_loop
def _part_moments(rows, sums, squares):
    """Per channel: the sum of a part's rows, then the sum of squared deviations from its mean."""
    count, n_C = rows.shape
    for c in range(n_C):
        sums[c] = 0.0
        squares[c] = 0.0
    for r in range(count):
        for c in range(n_C):
            sums[c] += rows[r, c]
    mean = sums / count
    for r in range(count):
        for c in range(n_C):
            deviation = rows[r, c] - mean[c]
            squares[c] += deviation * deviation


@compiled_loop
def _normalize(rows, mean, scale, beta, relu, out):
    """Z = (A - mu) * scale + beta, and max(0, Z) where ``relu`` (NaN stays NaN)."""
    count, n_C = rows.shape
    for r in range(count):
        for c in range(n_C):
            z = (rows[r, c] - mean[c]) * scale[c] + beta[c]
            if relu and z < 0:
                out[r, c] = 0
            else:
                out[r, c] = z


@compiled_loop
def _gradient_sums(grad, activated, relu, rows, mean, inv_std, totals):
    """totals[0] = sum of dZ, totals[1] = sum of dZ * A_hat, dZ = dA * [Z > 0] where ``relu``."""
    count, n_C = grad.shape
    for c in range(n_C):
        totals[0, c] = 0.0
        totals[1, c] = 0.0
    for r in range(count):
        for c in range(n_C):
            dz = grad[r, c]
            if relu:
                dz = dz * (activated[r, c] > 0)
            a_hat = (rows[r, c] - mean[c]) * inv_std[c]
            totals[0, c] += dz
            totals[1, c] += dz * a_hat


@compiled_loop
def _input_gradient(grad, activated, relu, rows, mean, inv_std, scale, slope, shift, training, out):
    """dA = A_hat * slope + dZ * scale - shift (training), or dZ * scale (running statistics)."""
    count, n_C = grad.shape
    for r in range(count):
        for c in range(n_C):
            dz = grad[r, c]
            if relu:
                dz = dz * (activated[r, c] > 0)
            if training:
                a_hat = (rows[r, c] - mean[c]) * inv_std[c]
                out[r, c] = a_hat * slope[c] + dz * scale[c] - shift[c]
            else:
                out[r, c] = dz * scale[c]


class CompiledBatchNorm(BatchNormKernel):
    """Computes :class:`convmath.ops.normalization.BatchNorm` with compiled passes, part by part.

    Forward: the moments (one compiled pass per part, merged in batch order
    as in :func:`convmath.kernels.normalization._moments`), then Z in one
    pass. Backward: dbeta and dgamma in one pass, dA_prev in one more,
    A_hat recomputed from the kept A in both.
    """

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
        n_C = a.shape[-1]
        rows = np.ascontiguousarray(a).reshape(-1, n_C)
        count, row_bytes = rows.shape[0], n_C * a.itemsize
        if training:
            mean, var = _moments(rows)
            update_running(running_mean, mean, momentum)
            update_running(running_var, var * count / (count - 1), momentum)
        else:
            mean, var = running_mean.astype(a.dtype), running_var.astype(a.dtype)
        inv_std = (1.0 / np.sqrt(var + eps)).astype(a.dtype)
        scale = inv_std if gamma is None else gamma * inv_std
        shift = np.zeros(n_C, a.dtype) if beta is None else beta
        z = np.empty_like(rows)
        relu = self.relu
        for_each_part(
            count,
            2 * row_bytes,
            lambda part: _normalize(rows[part], mean, scale, shift, relu, z[part]),
        )
        self.rows = rows if any(self.needs_grad) else None
        self.activated = z if relu else rows  # (an array of the right type where unused)
        self.mean, self.inv_std, self.gamma = mean, inv_std, gamma
        self.training, self.shape = training, a.shape
        return z.reshape(a.shape)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        rows, activated, relu = self.rows, self.activated, self.relu
        mean, inv_std = self.mean, self.inv_std
        grad_rows = np.ascontiguousarray(grad).reshape(rows.shape)
        count, n_C = rows.shape
        row_bytes = n_C * rows.itemsize
        scale = inv_std if self.gamma is None else self.gamma * inv_std
        dbeta = dgamma = da = None
        if self.training or len(self.needs_grad) > 1:

            def sums(part: slice) -> np.ndarray:
                totals = np.empty((2, n_C))
                _gradient_sums(grad_rows[part], activated[part], relu, rows[part], mean,
                               inv_std, totals)  # fmt: skip
                return totals

            totals = sum_over_parts(count, 3 * row_bytes, sums).astype(rows.dtype)
            dbeta, dgamma = totals[0], totals[1]
        if self.needs_grad[0]:
            da = np.empty_like(rows)
            slope = shift = scale  # (unused in inference)
            if self.training:
                slope = -dgamma * scale / count
                shift = dbeta * scale / count
            training = self.training

            def input_gradient(part: slice) -> None:
                _input_gradient(grad_rows[part], activated[part], relu, rows[part], mean,
                                inv_std, scale, slope, shift, training, da[part])  # fmt: skip

            for_each_part(count, 4 * row_bytes, input_gradient)
            da = da.reshape(self.shape)
        grads: list[np.ndarray | None] = [da]
        if len(self.needs_grad) > 1:
            grads.append(dgamma if self.needs_grad[1] else None)
        if len(self.needs_grad) > 2:
            grads.append(dbeta if self.needs_grad[2] else None)
        return tuple(grads)


def _moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance of rows (N, n_C): parts merged exactly (Chan et al.).

    mu = sum_j n_j mu_j / N,   M2 = sum_j (M2_j + n_j (mu_j - mu)^2),   var = M2 / N.
    """
    n_C = rows.shape[1]

    def part_moments(part: slice) -> tuple[int, np.ndarray, np.ndarray]:
        sums, squares = np.empty(n_C), np.empty(n_C)
        _part_moments(rows[part], sums, squares)
        size = part.stop - part.start
        return size, sums / size, squares

    parts = map_parts(len(rows), n_C * rows.itemsize, part_moments)
    count = sum(size for size, _, _ in parts)
    mean = sum(size * part_mean for size, part_mean, _ in parts) / count
    m2 = sum(part_m2 + size * (part_mean - mean) ** 2 for size, part_mean, part_m2 in parts)
    return mean.astype(rows.dtype), (m2 / count).astype(rows.dtype)


class CompiledBatchNormReLU(CompiledBatchNorm, BatchNormReLU):
    """Computes relu(batch_norm(A, gamma, beta)) with compiled passes (see BatchNormReLU)."""

    relu = True
