"""Weight initialisers. Each takes an explicit ``numpy.random.Generator``.

fan_in is the number of inputs each output sums over: f*f*n_C_prev/groups
for a convolution filter, n_in for a dense layer; fan_out likewise for the
outputs fed by each input (f*f*n_C/groups, n_out).

- He (Kaiming) normal: W ~ N(0, 2 / fan), He et al. 2015, for ReLU networks.
- He uniform: W ~ U(-b, b), b = sqrt(6 / fan) (the same variance).
- Glorot (Xavier) uniform: b = sqrt(6 / (fan_in + fan_out)), Glorot & Bengio 2010.
- torch default: b = 1 / sqrt(fan_in), what PyTorch's Conv2d and Linear use
  (also for their biases), for comparisons with PyTorch.
- zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.limits import reserve_parameters
from convmath.shapes import Shape

Initializer = Callable[..., np.ndarray]


Rng = np.random.Generator


def he_normal(
    shape: Shape, fan_in: int, fan_out: int, rng: Rng, *, mode: str = "fan_in"
) -> np.ndarray:
    fan = fan_in if mode == "fan_in" else fan_out
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan)).astype(np.float32)


def he_uniform(
    shape: Shape, fan_in: int, fan_out: int, rng: Rng, *, mode: str = "fan_in"
) -> np.ndarray:
    fan = fan_in if mode == "fan_in" else fan_out
    bound = np.sqrt(6.0 / fan)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def glorot_uniform(shape: Shape, fan_in: int, fan_out: int, rng: Rng) -> np.ndarray:
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def torch_default(shape: Shape, fan_in: int, fan_out: int, rng: Rng) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def zeros(shape: Shape, fan_in: int, fan_out: int, rng: Rng) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


INITIALIZERS: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_normal_fan_out": partial(he_normal, mode="fan_out"),
    "he_uniform": he_uniform,
    "glorot_uniform": glorot_uniform,
    "torch_default": torch_default,
    "zeros": zeros,
}


def initialize(name: str, shape: Shape, fan_in: int, fan_out: int, rng: Rng) -> np.ndarray:
    """Draw an array of ``shape`` with the named initialiser (float32).

    The tensor is counted against the parameter limit first
    (:func:`convmath.limits.reserve_parameters`), so a layer too large to
    hold is refused before it is allocated.
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError(
            f"initialisation needs rng=np.random.default_rng(seed), got {type(rng).__name__}"
        )
    try:
        initializer = INITIALIZERS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown initialiser {name!r}; expected one of {sorted(INITIALIZERS)}"
        ) from None
    reserve_parameters(shape, f"a weight tensor ({name})")
    return initializer(shape, fan_in, fan_out, rng)
