"""Colour-space transformations: brightness, contrast, saturation, hue, grayscale.

Images are RGB (n_C = 3) or grayscale (n_C = 1) with values in [0, 1].
Hue and saturation are changed in HSV space (H in [0, 1), a full turn of
the colour wheel; S and V in [0, 1]); on grayscale images they do nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convmath.data.augment.base import Transform, uniform_range
from convmath.errors import InvalidArgumentError, ShapeError

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's "L" conversion


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) HSV: V = max, S = (max - min) / max, H by sector."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    chroma = value - rgb.min(axis=-1)
    safe_chroma = np.where(chroma > 0, chroma, 1)
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1), 0)
    hue = np.where(
        value == r,
        (g - b) / safe_chroma,
        np.where(value == g, 2 + (b - r) / safe_chroma, 4 + (r - g) / safe_chroma),
    )
    hue = np.where(chroma > 0, (hue / 6) % 1.0, 0)
    return np.stack([hue, saturation, value], axis=-1).astype(rgb.dtype, copy=False)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = h * 6

    def channel(n: int) -> np.ndarray:
        # the closed form f(n) = V - V S clip(min(k, 4 - k), 0, 1), k = (n + 6H) mod 6
        k = (n + sector) % 6
        return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)

    return np.stack([channel(5), channel(3), channel(1)], axis=-1).astype(hsv.dtype, copy=False)


def to_grayscale(batch: np.ndarray) -> np.ndarray:
    """(m, n_H, n_W, 3) -> (m, n_H, n_W, 1): Y = 0.299 R + 0.587 G + 0.114 B; n_C = 1 unchanged."""
    if batch.shape[-1] == 1:
        return batch
    if batch.shape[-1] != 3:
        raise ShapeError(f"grayscale conversion needs n_C = 3 (RGB), got {batch.shape[-1]}")
    return (batch @ LUMA_WEIGHTS.astype(batch.dtype))[..., None]


def adjust_brightness(batch: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """X' = clip(b X) with one factor b per image (b = 1: unchanged, 0: black)."""
    return np.clip(batch * factor.reshape(-1, 1, 1, 1), 0.0, 1.0)


def adjust_contrast(batch: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """X' = clip(mu + c (X - mu)), mu the image's mean gray level (c = 0: flat gray)."""
    mean = to_grayscale(batch).mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + factor.reshape(-1, 1, 1, 1) * (batch - mean), 0.0, 1.0)


def adjust_saturation(batch: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """S' = clip(s S) in HSV (s = 0: gray, 1: unchanged); grayscale images are returned as is."""
    if batch.shape[-1] == 1:
        return batch
    hsv = rgb_to_hsv(batch)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor.reshape(-1, 1, 1), 0.0, 1.0)
    return hsv_to_rgb(hsv)


def adjust_hue(batch: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """H' = (H + h) mod 1 in HSV (h = 1/3 turns red into green); grayscale is returned as is."""
    if batch.shape[-1] == 1:
        return batch
    hsv = rgb_to_hsv(batch)
    hsv[..., 0] = (hsv[..., 0] + shift.reshape(-1, 1, 1)) % 1.0
    return hsv_to_rgb(hsv)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, drawn per image, applied in that order.

    brightness=b draws a factor from [max(0, 1-b), 1+b], likewise contrast and
    saturation; hue=h draws a shift from [-h, h] (h <= 0.5 turns). Each may
    also be a (low, high) range. 0 switches a component off.
    """

    def __init__(
        self,
        brightness: float | Sequence[float] = 0.0,
        contrast: float | Sequence[float] = 0.0,
        saturation: float | Sequence[float] = 0.0,
        hue: float | Sequence[float] = 0.0,
    ):
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")
        self.hue = uniform_range(hue, "hue", centre=0.0)
        if self.hue[0] < -0.5 or self.hue[1] > 0.5:
            raise InvalidArgumentError(f"hue shifts must lie in [-0.5, 0.5] turns, got {hue!r}")

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = len(batch)
        steps = (
            (self.brightness, adjust_brightness, 1.0),
            (self.contrast, adjust_contrast, 1.0),
            (self.saturation, adjust_saturation, 1.0),
            (self.hue, adjust_hue, 0.0),
        )
        for (low, high), adjust, neutral in steps:
            if low == high == neutral:
                continue
            batch = adjust(batch, rng.uniform(low, high, m).astype(batch.dtype))
        return batch


def _factor_range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    low, high = uniform_range(value, name, centre=1.0)
    return max(low, 0.0), high


class Grayscale(Transform):
    """RGB -> gray Y = 0.299 R + 0.587 G + 0.114 B, kept with n_C channels (1 or 3)."""

    def __init__(self, channels: int | None = None):
        if channels not in (None, 1, 3):
            raise InvalidArgumentError(f"Grayscale: channels must be 1 or 3, got {channels!r}")
        self.channels = channels

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gray = to_grayscale(batch)
        channels = self.channels or batch.shape[-1]
        return np.repeat(gray, channels, axis=-1) if channels > 1 else gray
