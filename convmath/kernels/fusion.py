"""Fusion as a rewrite: the planner that runs CONV -> BN -> ReLU runs of layers as one op.

Layers and blocks only compose functional ops (``nn/`` knows nothing of
fusion). While kernels are on, ``Module.__call__`` asks :func:`plan` for a
faster way to run a module; for a :class:`~convmath.nn.Sequential` (which
is what residual blocks, Inception branches and the named models are made
of) the planner cuts the layers into steps:

- CONV [+ BN in eval mode] [+ ReLU] -> one convolution: the batch norm is
  folded into W and b (:func:`fold_batch_norm`), the ReLU applied to each
  chunk in cache (:class:`~convmath.kernels.conv.Conv2DReLU`);
- BN + ReLU -> one batch norm with the ReLU applied part by part in cache
  (:class:`~convmath.kernels.normalization.BatchNormReLU`);
- any other layer -> the layer itself.

A step computes exactly what its layers compute in turn (within float
rounding); a layer whose class (or the layer itself) replaces ``forward``
or ``__call__`` computes something else and is never fused. A plan is a
list of :class:`Step`: the unit that a recorded training step (buffers
reused from one step to the next) or another backend would replace, without
touching ``ops/`` or ``nn/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.kernels.conv import conv2d_relu
from convmath.kernels.normalization import batch_norm_relu
from convmath.nn.activation import ReLU
from convmath.nn.conv import Conv2D
from convmath.nn.module import Module, Sequential
from convmath.nn.normalization import BatchNorm2D
from convmath.tensor import Tensor


@dataclass(frozen=True)
class Step:
    """Some consecutive layers of a Sequential, and one function that computes them all."""

    layers: tuple[Module, ...]
    run: Callable[[Tensor], Tensor]

    @property
    def fused(self) -> bool:
        return len(self.layers) > 1


def plan(module: Module) -> Callable[[Tensor], Tensor] | None:
    """How to run ``module`` faster, or None to run its own forward."""
    if not _plain(module, Sequential):
        return None
    steps = plan_layers(list(module))
    if not any(step.fused for step in steps):
        return None

    def run(x: Tensor) -> Tensor:
        for step in steps:
            x = step.run(x)
        return x

    return run


def plan_layers(layers: Sequence[Module]) -> list[Step]:
    """The steps that run ``layers`` one after another, consecutive CONV/BN/ReLU runs fused."""
    steps: list[Step] = []
    index = 0
    while index < len(layers):
        step = _fused_step(layers[index:])
        steps.append(step or Step((layers[index],), layers[index]))
        index += len(steps[-1].layers)
    return steps


def _fused_step(layers: Sequence[Module]) -> Step | None:
    first, rest = layers[0], layers[1:]
    if _plain(first, Conv2D):
        bn = rest[0] if rest and _plain(rest[0], BatchNorm2D) else None
        if bn is not None and (bn.training or bn.n_C != first.n_C):
            bn = None  # training batch statistics cannot be folded into W and b
        after = rest[int(bn is not None) :]
        relu = bool(after) and _plain(after[0], ReLU)
        if bn is None and not relu:
            return None
        chosen = (first,) + ((bn,) if bn is not None else ()) + ((after[0],) if relu else ())
        return Step(chosen, _conv_step(first, bn, relu))
    if _plain(first, BatchNorm2D) and rest and _plain(rest[0], ReLU):
        return Step((first, rest[0]), _batch_norm_relu_step(first))
    return None


def _plain(layer: Module, kind: type[Module]) -> bool:
    """``layer`` is a ``kind`` that computes what ``kind`` computes.

    Neither its class nor the layer itself replaces ``forward`` or ``__call__``.
    """
    return (
        isinstance(layer, kind)
        and type(layer).forward is kind.forward
        and type(layer).__call__ is Module.__call__
        and "forward" not in vars(layer)
    )


def _conv_step(conv: Conv2D, bn: BatchNorm2D | None, relu: bool) -> Callable[[Tensor], Tensor]:
    convolve = conv2d_relu if relu else F.conv2d

    def run(x: Tensor) -> Tensor:
        conv.check_input(x)
        w, b = (conv.W, conv.b) if bn is None else fold_batch_norm(bn, conv.W, conv.b)
        return convolve(
            x,
            w,
            b,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
        )

    return run


def _batch_norm_relu_step(bn: BatchNorm2D) -> Callable[[Tensor], Tensor]:
    def run(x: Tensor) -> Tensor:
        return batch_norm_relu(
            x,
            bn.gamma,
            bn.beta,
            bn.running_mean,
            bn.running_var,
            training=bn.training,
            momentum=bn.momentum,
            eps=bn.eps,
        )

    return run


def fold_batch_norm(bn: BatchNorm2D, w: Tensor, b: Tensor | None) -> tuple[Tensor, Tensor]:
    """W and b of a CONV layer with the eval-mode batch norm after it folded in.

    With the running statistics fixed, gamma (Z - mu) / sqrt(var + eps) + beta
    is affine in Z, per channel: scale = gamma / sqrt(var + eps), and
        W' = W * scale,   b' = beta + (b - mu) * scale
    give the same output from one convolution. Written with tensor ops, so
    gradients still reach W, b, gamma and beta.
    """
    dtype = w.dtype
    inv_std = Tensor((1.0 / np.sqrt(bn.running_var.astype(dtype) + bn.eps)).astype(dtype))
    scale = bn.gamma * inv_std
    mean = bn.running_mean.astype(dtype)
    shift = Tensor(-mean) if b is None else b - mean
    return w * scale, bn.beta + shift * scale
