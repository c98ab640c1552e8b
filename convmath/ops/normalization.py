"""Batch normalisation over every axis but the channels (the last)."""

from __future__ import annotations

import numpy as np

from convmath.checks import number_in
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class BatchNorm(Function):
    """Normalise each channel c over the N = m*n_H*n_W values it takes in a batch.

    Shapes: A (m, n_H, n_W, n_C) or (m, n_C); gamma, beta (n_C,).

    Forward (training), per channel:
        mu = (1/N) sum A,   var = (1/N) sum (A - mu)^2,
        A_hat = (A - mu) / sqrt(var + eps),   Z = gamma * A_hat + beta.
    In inference, mu and var are the running statistics instead, which are
    constants for back propagation.

    Backward (training), with dA_hat = dZ * gamma and sums over the N values:
        dbeta  = sum dZ,    dgamma = sum dZ * A_hat,
        dA = (1 / (N sqrt(var + eps))) * (N dA_hat - sum dA_hat - A_hat * sum dA_hat * A_hat).
    Backward (inference): dA = dZ * gamma / sqrt(var + eps).
    """

    def forward(
        self,
        a: np.ndarray,
        gamma: np.ndarray | None = None,
        beta: np.ndarray | None = None,
        *,
        mean: np.ndarray,
        var: np.ndarray,
        eps: float,
        batch_statistics: bool,
    ) -> np.ndarray:
        self.axes = tuple(range(a.ndim - 1))
        self.inv_std = (1.0 / np.sqrt(var + eps)).astype(a.dtype)
        self.a_hat = (a - mean) * self.inv_std
        self.gamma = gamma
        self.batch_statistics = batch_statistics
        z = self.a_hat if gamma is None else self.a_hat * gamma
        return z if beta is None else z + beta

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        da_hat = grad if self.gamma is None else grad * self.gamma
        da = None
        if self.needs_grad[0]:
            if self.batch_statistics:
                mean_da_hat = da_hat.mean(axis=self.axes)
                mean_da_hat_a_hat = (da_hat * self.a_hat).mean(axis=self.axes)
                da = (da_hat - mean_da_hat - self.a_hat * mean_da_hat_a_hat) * self.inv_std
            else:
                da = da_hat * self.inv_std
        grads: list[np.ndarray | None] = [da]
        if len(self.needs_grad) > 1:
            grads.append((grad * self.a_hat).sum(axis=self.axes) if self.needs_grad[1] else None)
        if len(self.needs_grad) > 2:
            grads.append(grad.sum(axis=self.axes) if self.needs_grad[2] else None)
        return tuple(grads)


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
) -> Tensor:
    """Batch normalisation of the channels (last axis) of ``a``.

    training=True: normalise with the batch's mean and (biased) variance; if
    running statistics are given they are updated in place,
        running_mean <- (1 - momentum) running_mean + momentum * mu
        running_var  <- (1 - momentum) running_var  + momentum * var * N / (N - 1)
    (the unbiased variance, as PyTorch does).
    training=False: normalise with ``running_mean`` and ``running_var`` (required).
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
    momentum = number_in(momentum, "batch_norm momentum", 0.0, 1.0)
    eps = number_in(eps, "batch_norm eps", 0.0, low_open=True)
    axes = tuple(range(a.ndim - 1))
    if training:
        count = a.size // n_C
        if count < 2:
            raise ShapeError(
                f"batch_norm in training needs more than one value per channel, got shape {a.shape}"
            )
        mean = a.data.mean(axis=axes)
        var = a.data.var(axis=axes)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise InvalidArgumentError(
                "batch_norm in inference (training=False) needs running_mean and running_var"
            )
        mean = np.asarray(running_mean, dtype=a.dtype)
        var = np.asarray(running_var, dtype=a.dtype)
    return BatchNorm.apply(
        *inputs, mean=mean, var=var, eps=float(eps), batch_statistics=bool(training)
    )
