"""How raw images become network inputs: X = (raw * scale - mean) / std, per channel.

Training computes it once from its training split and stores it in every
checkpoint; evaluation, prediction and the pictures apply the same one, so
an image is normalised exactly as the network saw its training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import InvalidArgumentError
from convmath.schema import Integer, ListOf, Number, Record, Text

MIN_STD = 1e-6  # a constant channel has std 0: divide by this instead

INPUT_SHAPE = ListOf(Integer(1, limits.MAX_SIDE), 3, 3)
SPEC = Record(
    {
        "input_shape": INPUT_SHAPE,
        "scale": Number(0, 1, low_open=True),
        "mean": ListOf(Number(-1e6, 1e6), limits.MAX_CHANNELS, 1),
        "std": ListOf(Number(MIN_STD, 1e6), limits.MAX_CHANNELS, 1),
        "classes": ListOf(Text(limits.MAX_CLASS_NAME, min_length=1), limits.MAX_CLASSES, 1),
    }
)


@dataclass(frozen=True)
class Preprocessing:
    """X = (raw * scale - mean) / std for raw images (m, n_H, n_W, n_C) of ``input_shape``."""

    input_shape: tuple[int, int, int]
    scale: float
    mean: np.ndarray
    std: np.ndarray
    classes: tuple[str, ...]

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return self.normalize(raw.astype(np.float32) * np.float32(self.scale))

    def normalize(self, unit: np.ndarray) -> np.ndarray:
        """Images already scaled to [0, 1] (e.g. PNG pixels / 255) to network inputs."""
        return (unit.astype(np.float32) - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "scale": self.scale,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, values: Any) -> Preprocessing:
        """The stored form, checked: finite numbers, std >= 1e-6, one mean and std per channel."""
        values = SPEC.check(values, "preprocessing")
        n_C = values["input_shape"][2]
        for key in ("mean", "std"):
            if len(values[key]) != n_C:
                raise InvalidArgumentError(
                    f"preprocessing.{key} has {len(values[key])} values for {n_C} channels"
                )
        return cls(
            tuple(values["input_shape"]),
            values["scale"],
            np.asarray(values["mean"], dtype=np.float32),
            np.asarray(values["std"], dtype=np.float32),
            tuple(values["classes"]),
        )
