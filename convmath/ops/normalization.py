"""Batch normalisation over every axis but the channels (the last); layer normalisation over
the channels of each position."""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.dispatch import computed_across
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.shapes import number_in
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class BatchNorm(Function):
    """Normalise each channel c over the N = m*n_H*n_W values it takes in a batch.

    Its input is a CONV layer's Z^[l] (the argument ``a``), its output Z~^[l]
    ("Z tilde"), on which the activation then acts: A^[l] = psi(Z~^[l]).

    Shapes: Z (m, n_H, n_W, n_C) or (m, n_C); gamma, beta (n_C,); sums and
    means below run over every axis but the channels.

    Forward (training), per channel:
        mu = (1/N) sum Z,   var = (1/N) sum (Z - mu)^2,
        Z_hat = (Z - mu) / sqrt(var + eps),   Z~ = gamma * Z_hat + beta.
    In inference, mu and var are the running statistics instead, which are
    constants for back propagation. Without gamma and beta, Z~ = Z_hat.

    Backward (training), with sums over the N values of each channel:
        dbeta  = sum dZ~,    dgamma = sum dZ~ * Z_hat,
        dZ = (gamma / sqrt(var + eps)) * (dZ~ - dbeta / N - Z_hat * dgamma / N).
    Backward (inference): dZ = dZ~ * gamma / sqrt(var + eps).

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
    ) -> np.ndarray:
        axes = tuple(range(a.ndim - 1))
        count = a.size // a.shape[-1]
        if training:
            mu = a.mean(axis=axes)
            var = ((a - mu) ** 2).mean(axis=axes)
            update_running(running_mean, mu, momentum)
            update_running(running_var, var * count / (count - 1), momentum)
        else:
            mu, var = running_mean.astype(a.dtype), running_var.astype(a.dtype)
        inv_std = (1 / np.sqrt(var + eps)).astype(a.dtype)
        a_hat = (a - mu) * inv_std
        z = a_hat if gamma is None else gamma * a_hat
        if beta is not None:
            z = z + beta
        self.a_hat, self.inv_std, self.gamma = a_hat, inv_std, gamma
        self.axes, self.count, self.training = axes, count, training
        return z

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a_hat, axes, count = self.a_hat, self.axes, self.count
        dbeta = dz.sum(axis=axes)
        dgamma = (dz * a_hat).sum(axis=axes)
        scale = self.inv_std if self.gamma is None else self.gamma * self.inv_std
        # in training mu and var depend on A too (the three-term formula); in inference
        # they are constants and dA is dZ scaled per channel
        da = scale * (dz - dbeta / count - a_hat * dgamma / count) if self.training else dz * scale
        return (da, dgamma, dbeta)[: len(self.needs_grad)]


def update_running(running: np.ndarray | None, batch: np.ndarray, momentum: float) -> None:
    """running <- (1 - momentum) running + momentum batch, in place (nothing if None)."""
    if running is not None:
        running *= 1 - momentum
        running += momentum * batch


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

    Shapes
    ------
    A: (m, n_H, n_W, n_C) or (m, n_C);  gamma, beta, running_mean, running_var: (n_C,)
    Z: the same shape as A

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 10], [3, 30]])  # m = 2, n_C = 2: channel 0 holds 1 and 3
    >>> print(np.round(F.batch_norm(A).data, 3))  # (A - mu)/sqrt(var + eps), per channel
    [[-1. -1.]
     [ 1.  1.]]
    >>> Z = F.batch_norm(A, Tensor([2, 1]), Tensor([0, 5]))  # gamma A_hat + beta
    >>> print(np.round(Z.data, 3))
    [[-2.  4.]
     [ 2.  6.]]
    >>> running_mean, running_var = np.zeros(2, np.float32), np.ones(2, np.float32)
    >>> _ = F.batch_norm(A, running_mean=running_mean, running_var=running_var)
    >>> print(np.round(running_mean, 3), np.round(running_var, 3))
    [0.2 2. ] [ 1.1 20.9]
    """
    inputs = [t for t in (a, gamma, beta) if t is not None]
    options = batch_norm_options(a, gamma, beta, running_mean, running_var, training, momentum, eps)
    return BatchNorm.apply(*inputs, **options)


def batch_norm_options(
    a: Tensor,
    gamma: Tensor | None,
    beta: Tensor | None,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    training: bool,
    momentum: float,
    eps: float,
) -> dict[str, Any]:
    """The checked options of :class:`BatchNorm`."""
    same_dtype([t for t in (a, gamma, beta) if t is not None], "batch_norm")
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
    # Across processes the N values are the global batch's: the op counts them itself.
    if training and a.size // n_C < 2 and not computed_across(BatchNorm):
        raise ShapeError(
            f"batch_norm in training needs more than one value per channel, got shape {a.shape}"
        )
    if not training and (running_mean is None or running_var is None):
        raise InvalidArgumentError(
            "batch_norm in inference (training=False) needs running_mean and running_var"
        )
    return {
        "running_mean": running_mean,
        "running_var": running_var,
        "momentum": momentum,
        "eps": eps,
        "training": bool(training),
    }


class LayerNorm(Function):
    """Normalise each position's n_C channels (the last axis) by their own mean and variance.

    Shapes: A (m, n_H, n_W, n_C) or (m, n_C); gamma, beta (n_C,); means run over
    the channels of one position only (ConvNeXt's LayerNorm2d, channels-last),
    so no batch statistics and no running ones: training and inference agree.

    Forward, at each position, over its n_C values:
        mu = (1/n_C) sum_c A,   var = (1/n_C) sum_c (A - mu)^2,
        A_hat = (A - mu) / sqrt(var + eps),   Z = gamma * A_hat + beta.

    Backward, with G = dZ * gamma and the means over the channels of a position:
        dA = (G - mean_c G - A_hat * mean_c (G * A_hat)) / sqrt(var + eps),
        dgamma = sum over m, n_H, n_W of dZ * A_hat,   dbeta = sum over m, n_H, n_W of dZ.
    """

    def forward(
        self, a: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, eps: float
    ) -> np.ndarray:
        mu = a.mean(axis=-1, keepdims=True)
        centred = a - mu
        var = (centred * centred).mean(axis=-1, keepdims=True)
        self.inv_std = (1 / np.sqrt(var + a.dtype.type(eps))).astype(a.dtype)
        self.a_hat, self.gamma = centred * self.inv_std, gamma
        return self.a_hat * gamma + beta

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a_hat, axes = self.a_hat, tuple(range(dz.ndim - 1))
        g = dz * self.gamma
        mean_g = g.mean(axis=-1, keepdims=True)
        mean_g_a_hat = (g * a_hat).mean(axis=-1, keepdims=True)
        da = (g - mean_g - a_hat * mean_g_a_hat) * self.inv_std
        return da, (dz * a_hat).sum(axis=axes), dz.sum(axis=axes)


@equations_from(LayerNorm)
def layer_norm(a: Tensor, gamma: Tensor, beta: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the channels (last axis) of each position.

    torch.nn.functional.layer_norm over the last axis; on channels-last
    volumes it is torchvision's LayerNorm2d (ConvNeXt), which normalises
    the channels of NCHW maps.

    Shapes
    ------
    A: (m, n_H, n_W, n_C) or (m, n_C);  gamma, beta: (n_C,);  Z: the same shape as A

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1.0, 3.0], [10.0, 30.0]])  # each row normalised on its own
    >>> print(np.round(F.layer_norm(A, Tensor([1.0, 1.0]), Tensor([0.0, 0.0])).data, 3))
    [[-1.  1.]
     [-1.  1.]]
    """
    same_dtype([a, gamma, beta], "layer_norm")
    if a.ndim < 2:
        raise ShapeError(f"layer_norm expects (m, ..., n_C), got shape {a.shape}")
    n_C = a.shape[-1]
    for label, param in (("gamma", gamma), ("beta", beta)):
        if param.shape != (n_C,):
            raise ShapeError(f"layer_norm: {label} must have shape ({n_C},), got {param.shape}")
    return LayerNorm.apply(a, gamma, beta, eps=number_in(eps, "layer_norm eps", 0.0, low_open=True))
