"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.shapes import number_in
from convmath.tensor import Function, Tensor, equations_from


class Dropout(Function):
    """Z = A * D / (1 - rate), D[k] ~ Bernoulli(1 - rate) drawn from an explicit Generator.

    Dividing by the keep probability keeps E[Z] = A, so inference needs no
    rescaling ("inverted" dropout). Backward: dA = dZ * D / (1 - rate).
    """

    def forward(self, a: np.ndarray, *, rate: float, rng: np.random.Generator) -> np.ndarray:
        keep = 1.0 - rate
        self.scaled_mask = (rng.random(a.shape, dtype=a.dtype) < keep) * a.dtype.type(1.0 / keep)
        return a * self.scaled_mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.scaled_mask


@equations_from(Dropout)
def dropout(a: Tensor, rate: float, rng: np.random.Generator, training: bool = True) -> Tensor:
    """Zero each entry with probability ``rate`` while training; identity otherwise.

    ``rng`` must be a ``numpy.random.Generator`` so that a seed reproduces the
    run. rate = 1 drops everything (the result is all zeros).

    Shapes
    ------
    A: any shape;  Z: the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.ones((2, 50), np.float32))
    >>> Z = F.dropout(A, 0.2, np.random.default_rng(0))
    >>> print(np.unique(Z.data))  # dropped units give 0, kept ones 1/(1 - 0.2)
    [0.   1.25]
    >>> F.dropout(A, 0.2, np.random.default_rng(0), training=False) is A
    True
    """
    rate = number_in(rate, "dropout rate", 0.0, 1.0)
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError(
            f"dropout needs a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng)}"
        )
    if not training or rate == 0.0:
        return a
    if rate == 1.0:
        return a * 0.0
    return Dropout.apply(a, rate=rate, rng=rng)
