"""Batch normalisation over every axis but the channels (the last)."""

from __future__ import annotations

import numpy as np

from convmath.checks import number_in
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.reduce import fold, wide_rows
from convmath.parallel import for_each_part, map_parts, sum_over_parts
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class BatchNorm(Function):
    """Normalise each channel c over the N = m*n_H*n_W values it takes in a batch.

    Shapes: A (m, n_H, n_W, n_C) or (m, n_C); gamma, beta (n_C,).
    Every pass below runs part by part over the rows on the workers.

    Forward (training), per channel:
        mu = (1/N) sum A,   var = (1/N) sum (A - mu)^2,
        A_hat = (A - mu) / sqrt(var + eps),   Z = gamma * A_hat + beta.
    In inference, mu and var are the running statistics instead, which are
    constants for back propagation.

    Backward (training), with sums over the N values of each channel:
        dbeta  = sum dZ,    dgamma = sum dZ * A_hat,
        dA = (gamma / sqrt(var + eps)) * (dZ - dbeta / N - A_hat * dgamma / N).
    Backward (inference): dA = dZ * gamma / sqrt(var + eps).

    With ``activation="relu"`` (``relu=True`` here) the op is max(0, Z)
    (batch norm with the ReLU that follows it), applied part by part in
    cache; backward then starts from dZ = dA * [max(0, Z) > 0].

    In training, forward also updates the running statistics in place:
    running_mean <- (1 - momentum) running_mean + momentum mu, and the same
    for running_var with the unbiased variance var N / (N - 1).
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
        relu: bool = False,
    ) -> np.ndarray:
        n_C = a.shape[-1]
        rows = np.ascontiguousarray(a).reshape(-1, n_C)  # channels-last: a row per position
        count = rows.shape[0]
        wide, k = wide_rows(rows)  # k positions per row, so that NumPy's loops run long
        if training:
            mean, var = _moments(wide, k)
            for running, batch in ((running_mean, mean), (running_var, var * count / (count - 1))):
                if running is not None:
                    running *= 1 - momentum
                    running += momentum * batch
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
                return np.stack([ones @ dz, np.einsum("ij,ij->j", dz, a_hat(part))])

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
        mean = fold(np.ones(len(values), dtype=wide.dtype) @ values, k) / size
        deviation = values - np.tile(mean, k)
        return size, mean, fold(np.einsum("ij,ij->j", deviation, deviation), k)

    parts = map_parts(len(wide), wide.shape[1] * wide.itemsize, part_moments)
    count = sum(size for size, _, _ in parts)
    mean = sum(size * part_mean for size, part_mean, _ in parts) / count
    m2 = sum(part_m2 + size * (part_mean - mean) ** 2 for size, part_mean, part_m2 in parts)
    return mean.astype(wide.dtype), (m2 / count).astype(wide.dtype)


@equations_from(BatchNorm)
def batch_norm(
    a: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str | None = None,
) -> Tensor:
    """Batch normalisation of the channels (last axis) of ``a``.

    training=True: normalise with the batch's mean and (biased) variance; if
    running statistics are given they are updated in place,
        running_mean <- (1 - momentum) running_mean + momentum * mu
        running_var  <- (1 - momentum) running_var  + momentum * var * N / (N - 1)
    (the unbiased variance, as PyTorch does).
    training=False: normalise with ``running_mean`` and ``running_var`` (required).
    activation: None, or ``"relu"`` for max(0, Z) in the same op.
    """
    inputs = [t for t in (a, gamma, beta) if t is not None]
    same_dtype(inputs, "batch_norm")
    if a.ndim < 2:
        raise ShapeError(f"batch_norm expects (m, ..., n_C), got shape {a.shape}")
    n_C = a.shape[-1]
    for label, param in (("gamma", gamma), ("beta", beta)):
        if param is not None and param.shape != (n_C,):
            raise ShapeError(f"batch_norm: {label} must have shape ({n_C},), got {param.shape}")
    if gamma is None and beta is not None:
        raise InvalidArgumentError("batch_norm: pass gamma too when beta is given")
    for label, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is None:
            continue
        if not isinstance(stat, np.ndarray) or stat.dtype.kind != "f":
            raise InvalidArgumentError(
                f"batch_norm: {label} must be a float NumPy array (updated in place), got"
                f" {type(stat).__name__} {getattr(stat, 'dtype', '')}"
            )
        if stat.shape != (n_C,):
            raise ShapeError(f"batch_norm: {label} must have shape ({n_C},), got {stat.shape}")
        if training and not stat.flags.writeable:
            raise InvalidArgumentError(f"batch_norm: {label} is read-only but training updates it")
    if activation not in (None, "relu"):
        raise InvalidArgumentError(
            f"batch_norm: activation must be None or 'relu', got {activation!r}"
        )
    momentum = number_in(momentum, "batch_norm momentum", 0.0, 1.0)
    eps = number_in(eps, "batch_norm eps", 0.0, low_open=True)
    if training and a.size // n_C < 2:
        raise ShapeError(
            f"batch_norm in training needs more than one value per channel, got shape {a.shape}"
        )
    if not training and (running_mean is None or running_var is None):
        raise InvalidArgumentError(
            "batch_norm in inference (training=False) needs running_mean and running_var"
        )
    return BatchNorm.apply(
        *inputs,
        running_mean=running_mean,
        running_var=running_var,
        momentum=momentum,
        eps=eps,
        training=bool(training),
        relu=activation == "relu",
    )
