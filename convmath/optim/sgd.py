"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from convmath.nn.module import Parameter
from convmath.optim.optimizer import Optimizer
from convmath.shapes import number_in


class SGD(Optimizer):
    """Gradient descent, in PyTorch's formulation.

    With weight decay lambda, momentum mu and learning rate alpha, at each step:

        g = dJ/dW + lambda W
        v = mu v + g                       (v = g at the first step)
        W = W - alpha (g + mu v)           with Nesterov momentum
        W = W - alpha v                    otherwise (mu = 0: plain W = W - alpha g)
    """

    slot_names = ("velocity",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = number_in(momentum, "momentum", 0.0, 1.0)
        self.weight_decay = number_in(weight_decay, "weight_decay", 0.0)
        self.nesterov = nesterov

    def update(self, index: int, w: np.ndarray, g: np.ndarray) -> None:
        cast = w.dtype.type  # constants in the parameter's dtype: no float64 upcasts
        if self.weight_decay:
            g = g + cast(self.weight_decay) * w
        if self.momentum:
            first = self.slots["velocity"][index] is None
            v = self.slot("velocity", index, w)
            if first:
                v[...] = g
            else:
                v *= cast(self.momentum)
                v += g
            g = g + cast(self.momentum) * v if self.nesterov else v
        w -= cast(self.lr) * g
