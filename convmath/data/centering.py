"""A digit prepared the way MNIST's digits were, so that a model trained on MNIST can read it.

MNIST's digits (LeCun, Cortes and Burges) were size-normalised to fit a
20x20 box, keeping their aspect ratio, and then centred in the 28x28 field
by their centre of mass. A photo or a drawing is not: its digit is off
centre, of any size, often dark ink on light paper. :func:`center_digit`
finds the ink, crops to it, fits its longer side to 20/28 of the field and
puts its centre of mass at the field's centre; :func:`dark_on_light` tells
whether the ink must be inverted first.
"""

from __future__ import annotations

import os

import numpy as np

from convmath.data.folder import image_size, read_image
from convmath.errors import MissingDependencyError

MAX_PREDICT_SIDE = 1024  # larger pictures are scaled down first: a digit needs no more
INK = 0.2  # a pixel is ink when above this share of the image's brightest value
BOX = 20 / 28  # the share of the field the longer side of the digit fills, as in MNIST
CENTERED = ("mnist",)  # datasets whose digits were centred by mass (predict does the same)
INK_ON_DARK = ("mnist", "fashion-mnist", "digits")  # light on dark: light pictures are inverted


def dark_on_light(gray: np.ndarray) -> bool:
    """Whether ``gray`` (n_H, n_W) in [0, 1] has a light background (its border is mostly light)."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return bool(np.median(border) > 0.5)


def center_digit(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``gray`` (H, W), light ink on dark in [0, 1], as an MNIST-style digit of ``size`` (n_H, n_W).

    Crop to the pixels above INK times the maximum, resize so that the
    longer side fills BOX of the field (Lanczos, aspect kept), and place the
    result so that its centre of mass falls on the field's centre (moved
    back inside the field if the digit would cross its edge). An image
    without ink comes back black.
    """
    n_H, n_W = size
    field = np.zeros(size, dtype=np.float32)
    peak = float(gray.max(initial=0.0))
    if peak <= 0:
        return field
    rows, columns = np.nonzero(gray > INK * peak)
    crop = gray[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    scale = min(BOX * n_H / crop.shape[0], BOX * n_W / crop.shape[1])
    height = max(1, min(n_H, round(crop.shape[0] * scale)))
    width = max(1, min(n_W, round(crop.shape[1] * scale)))
    digit = np.clip(_resized(crop, height, width), 0.0, 1.0)
    mass = digit.sum()
    if mass <= 0:
        return field
    centre_y = (digit.sum(axis=1) @ np.arange(height)) / mass
    centre_x = (digit.sum(axis=0) @ np.arange(width)) / mass
    top = int(np.clip(round((n_H - 1) / 2 - centre_y), 0, n_H - height))
    left = int(np.clip(round((n_W - 1) / 2 - centre_x), 0, n_W - width))
    field[top : top + height, left : left + width] = digit
    return field


def _resized(values: np.ndarray, height: int, width: int) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "centring a digit needs Pillow: pip install 'convmath[images]'"
        ) from None
    picture = Image.fromarray(values.astype(np.float32))  # mode "F": 32-bit floats
    return np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS), np.float32)


def picture_input(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    invert: bool,
    center: bool,
    dark_background: bool = True,
) -> np.ndarray:
    """One picture file as a model's input (n_H, n_W, n_C) in [0, 1], float32.

    Three channels: resized (and inverted with ``invert``). One channel: for
    a model trained on a ``dark_background`` (MNIST, the digits) the ink is
    made light on dark as there, inverting a picture whose border is light;
    ``invert`` inverts in any case. Then resized or, with ``center``, cropped
    to the ink, fitted and centred by mass as MNIST's digits were.
    """

    n_H, n_W, n_C = shape
    if n_C == 3:
        unit = read_image(path, mode="RGB", size=(n_H, n_W)) / 255
        return (1.0 - unit if invert else unit).astype(np.float32)
    height, width = image_size(path)
    ratio = min(1.0, MAX_PREDICT_SIDE / max(height, width))
    size = (
        (n_H, n_W) if not center else (max(1, round(height * ratio)), max(1, round(width * ratio)))
    )
    gray = read_image(path, mode="L", size=size)[..., 0] / 255
    if invert or (dark_background and dark_on_light(gray)):
        gray = 1.0 - gray
    unit = center_digit(gray, (n_H, n_W)) if center else gray
    return unit.astype(np.float32)[..., None]
