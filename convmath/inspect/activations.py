"""The activations of each CONV and POOL layer of a model for one input."""

from __future__ import annotations

import numpy as np

from convmath.nn import (
    GELU,
    AdaptiveAvgPool2D,
    AvgPool2D,
    Clip,
    Conv2D,
    Flatten,
    GlobalAvgPool2D,
    HardSigmoid,
    HardSwish,
    InceptionModule,
    InvertedResidual,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    ReLU6,
    ResidualBlock,
    Sequential,
    Sigmoid,
    SiLU,
    SpatialMean,
    SqueezeExcitation,
    Tanh,
)
from convmath.tensor import Tensor, no_grad

ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh, ReLU6, Clip, HardSigmoid, HardSwish, SiLU, GELU)
POOLS = (MaxPool2D, AvgPool2D, AdaptiveAvgPool2D)
# their output volumes are shown as one map each
BLOCKS = (ResidualBlock, InceptionModule, SqueezeExcitation, InvertedResidual)


def layer_activations(model: Sequential, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(layer name, volume (n_H, n_W, n_C)) for each CONV layer (after its activation,
    A = psi(Z), when one follows), each POOL layer and each block, for one example
    ``x`` (n_H, n_W, n_C) run in eval mode; stops where the volumes end (flatten).
    """
    was_training = model.training
    model.eval()
    maps: list[tuple[str, np.ndarray]] = []
    pending: tuple[str, np.ndarray] | None = None  # a CONV layer waiting for its psi
    try:
        with no_grad():
            a = Tensor(x[None].astype(np.float32))
            for name, layer in model.named_children():
                if isinstance(layer, Flatten | GlobalAvgPool2D | SpatialMean):
                    break
                a = layer(a)
                volume = a.data[0]
                if isinstance(layer, Conv2D):
                    if pending:
                        maps.append(pending)
                    pending = (name, volume)
                elif isinstance(layer, ACTIVATIONS) and pending:
                    maps.append((pending[0], volume))
                    pending = None
                elif isinstance(layer, POOLS + BLOCKS):
                    if pending:
                        maps.append(pending)
                        pending = None
                    maps.append((name, volume))
                elif pending:
                    pending = (pending[0], volume)  # batch norm between CONV and psi
            if pending:
                maps.append(pending)
    finally:
        model.train(was_training)
    return maps


__all__ = ["layer_activations"]
