"""Data augmentation, the article's five families, each a seeded transform of a whole batch.

cropping (RandomCrop, CenterCrop), rotation (RandomRotation) and scaling
(RandomZoom), elastic distortion (RandomElastic), flipping
(RandomFlip), noise injection (GaussianNoise, SaltAndPepper) and colour-space
transformation (ColorJitter, Grayscale); combine them with Compose or take a
named preset.
"""

from __future__ import annotations

from convmath.data.augment.base import Compose, Transform
from convmath.data.augment.color import (
    ColorJitter,
    Grayscale,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    hsv_to_rgb,
    rgb_to_hsv,
    to_grayscale,
)
from convmath.data.augment.geometric import (
    CenterCrop,
    RandomCrop,
    RandomElastic,
    RandomFlip,
    RandomRotation,
    RandomZoom,
    displace,
    gaussian_smoothing,
    rotate,
    zoom,
)
from convmath.data.augment.noise import GaussianNoise, SaltAndPepper
from convmath.errors import InvalidArgumentError

PRESETS = ("none", "standard", "strong")


def preset(name: str, image_shape: tuple[int, int, int]) -> Compose:
    """A named augmentation for images of shape (n_H, n_W, n_C).

    - ``none``: nothing.
    - ``standard``: for grayscale (digits-like) images a random shift by
      cropping with padding max(1, n_H // 14) (2 pixels on 28x28, "pad 2,
      crop 28"); for colour images "pad 4, crop 32" with reflection (scaled to
      the size) and a horizontal flip with probability 0.5.
    - ``strong``: standard plus rotation within +-10 degrees, and for colour
      images a colour jitter (brightness, contrast, saturation 0.2; hue 0.02).
    """
    n_H, n_W, n_C = image_shape
    if name not in PRESETS:
        raise InvalidArgumentError(
            f"unknown augmentation preset {name!r}; expected one of {PRESETS}"
        )
    if name == "none":
        return Compose([])
    transforms: list[Transform]
    if n_C == 1:
        transforms = [RandomCrop((n_H, n_W), padding=max(1, n_H // 14))]
    else:
        transforms = [
            RandomCrop((n_H, n_W), padding=max(1, n_H // 8), padding_mode="reflect"),
            RandomFlip(horizontal=0.5),
        ]
    if name == "strong":
        transforms.append(RandomRotation(10))
        if n_C == 3:
            transforms.append(ColorJitter(0.2, 0.2, 0.2, 0.02))
    return Compose(transforms)


__all__ = [
    "PRESETS",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "GaussianNoise",
    "Grayscale",
    "RandomCrop",
    "RandomElastic",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "SaltAndPepper",
    "Transform",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "displace",
    "gaussian_smoothing",
    "hsv_to_rgb",
    "preset",
    "rgb_to_hsv",
    "rotate",
    "to_grayscale",
    "zoom",
]
