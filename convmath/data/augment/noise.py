"""Noise injection: additive Gaussian noise and salt-and-pepper."""

from __future__ import annotations

import numpy as np

from convmath.data.augment.base import Transform, probability
from convmath.errors import InvalidArgumentError


class GaussianNoise(Transform):
    """X' = clip(X + sigma * N(0, 1), 0, 1), independent noise for every value.

    sigma = 0 leaves the batch unchanged.
    """

    def __init__(self, sigma: float):
        if not sigma >= 0:
            raise InvalidArgumentError(f"GaussianNoise: sigma must be >= 0, got {sigma!r}")
        self.sigma = float(sigma)

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal(batch.shape, dtype=batch.dtype)
        return np.clip(batch + batch.dtype.type(self.sigma) * noise, 0.0, 1.0)


class SaltAndPepper(Transform):
    """Set a fraction ``amount`` of pixel positions to white (salt) or black (pepper).

    Each position (all its channels together) becomes 1 with probability
    amount * salt_ratio, 0 with probability amount * (1 - salt_ratio), and is
    kept otherwise.
    """

    def __init__(self, amount: float, salt_ratio: float = 0.5):
        self.amount = probability(amount, "amount")
        self.salt_ratio = probability(salt_ratio, "salt_ratio")

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        draw = rng.random(batch.shape[:3])[..., None]
        salt = self.amount * self.salt_ratio
        out = np.where(draw < salt, batch.dtype.type(1), batch)
        return np.where((draw >= salt) & (draw < self.amount), batch.dtype.type(0), out)
