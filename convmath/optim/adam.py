"""Adam and AdamW."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from convmath.nn.module import Parameter
from convmath.optim.optimizer import Optimizer
from convmath.shapes import number_in


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with weight decay added to the gradient (L2, coupled).

    At the t-th update of W (counted per parameter, as PyTorch), with g = dJ/dW + lambda W:

        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g^2
        W = W - alpha (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """

    slot_names = ("m", "v")
    decoupled = False
    default_weight_decay = 0.0

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,  # None: 0 for Adam, 0.01 for AdamW
    ) -> None:
        super().__init__(params, lr)
        if weight_decay is None:
            weight_decay = self.default_weight_decay
        self.beta1 = number_in(betas[0], "beta1", 0.0, 1.0)
        self.beta2 = number_in(betas[1], "beta2", 0.0, 1.0)
        self.eps = number_in(eps, "eps", 0.0, low_open=True)
        self.weight_decay = number_in(weight_decay, "weight_decay", 0.0)

    def update(self, index: int, w: np.ndarray, g: np.ndarray) -> None:
        cast = w.dtype.type  # constants in the parameter's dtype: no float64 upcasts
        if self.weight_decay:
            if self.decoupled:
                w *= cast(1 - self.lr * self.weight_decay)
            else:
                g = g + cast(self.weight_decay) * w
        m = self.slot("m", index, w)
        v = self.slot("v", index, w)
        m *= cast(self.beta1)
        m += cast(1 - self.beta1) * g
        v *= cast(self.beta2)
        v += cast(1 - self.beta2) * (g * g)
        t = self.param_steps[index]
        correction1 = 1 - self.beta1**t
        correction2 = 1 - self.beta2**t
        denominator = np.sqrt(v) / cast(np.sqrt(correction2))
        denominator += cast(self.eps)
        w -= cast(self.lr / correction1) * m / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    The decay shrinks the weights directly instead of entering the gradient:
    W = W (1 - alpha lambda), then the Adam step on g = dJ/dW.
    Default weight decay 0.01, as PyTorch.
    """

    decoupled = True
    default_weight_decay = 0.01
