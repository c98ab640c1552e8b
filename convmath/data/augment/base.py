"""The transform protocol, composition and named presets.

A transform maps a float batch (m, n_H, n_W, n_C) with values in [0, 1] to
another, drawing any randomness from the ``numpy.random.Generator`` it is
given, so the same seed gives the same batches. Every transform keeps the
dtype and the [0, 1] value range; all but the crops keep the shape.
Transforms work on a whole batch at once: their parameters are drawn per
image as arrays, and no Python loop runs over images or pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convmath.errors import DTypeError, InvalidArgumentError, ShapeError


class Transform:
    """Base class: subclasses implement ``apply(batch, rng)``."""

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            shape = getattr(batch, "shape", None)
            raise ShapeError(
                f"{type(self).__name__} expects a batch (m, n_H, n_W, n_C), got shape {shape}"
            )
        if batch.dtype.kind != "f":
            raise DTypeError(
                f"{type(self).__name__} expects float images in [0, 1], got dtype {batch.dtype};"
                f" scale uint8 images first (Batches does)"
            )
        if not isinstance(rng, np.random.Generator):
            raise InvalidArgumentError(
                f"{type(self).__name__} needs a numpy.random.Generator, got {type(rng).__name__}"
            )
        out = self.apply(batch, rng)
        return out.astype(batch.dtype, copy=False)

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply transforms in order: Compose([t1, t2])(x) = t2(t1(x))."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise InvalidArgumentError(f"Compose takes transforms, got {t!r}")

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for transform in self.transforms:
            batch = transform(batch, rng)
        return batch


def uniform_range(
    value: float | Sequence[float], name: str, *, centre: float
) -> tuple[float, float]:
    """A parameter as a (low, high) range: x means [centre - x, centre + x]."""
    if isinstance(value, Sequence):
        if len(value) != 2 or value[0] > value[1]:
            raise InvalidArgumentError(
                f"{name} range must be (low, high) with low <= high, got {value!r}"
            )
        return float(value[0]), float(value[1])
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {value!r}")
    return centre - float(value), centre + float(value)


def probability(value: float, name: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)
