"""Inverted dropout, a thin :class:`Module` around ``functional.dropout``."""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class Dropout(Module):
    """Inverted dropout with rate p while training (masks drawn from ``rng``); identity in eval.

    Shapes
    ------
    A_prev: any shape;  A: the same shape; no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> drop = nn.Dropout(0.5, rng=np.random.default_rng(0))
    >>> A = Tensor(np.ones((1, 100), np.float32))
    >>> print(np.unique(drop(A).data))  # training: dropped units give 0, kept ones 1/(1 - 0.5)
    [0. 2.]
    >>> print(np.unique(drop.eval()(A).data))  # eval: the identity
    [1.]
    """

    output_symbol = None  # the same A^[l], some values zeroed

    def __init__(self, rate: float, *, rng: np.random.Generator) -> None:
        super().__init__()
        if not isinstance(rng, np.random.Generator):
            raise InvalidArgumentError("Dropout needs rng=np.random.default_rng(seed)")
        self.rate = rate
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.rate, self.rng, self.training)

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"zeroes each value with probability {self.rate} while training; identity at inference"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        if self.rate >= 1:
            return ["dA^[l] before dropout = 0: every unit is dropped"]
        return [
            f"dA^[l] before dropout = dA^[l] after it * mask / (1 - {self.rate}): the units"
            " dropped in forward get 0"
        ]

    def details(self) -> str:
        return f"rate={self.rate}"
