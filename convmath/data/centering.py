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


def picture_options(
    dataset: str | None, *, invert: bool = False, center: bool | None = None
) -> dict[str, bool]:
    """How a picture is read for a model trained on ``dataset``: :func:`picture_input`'s options.

    The one rule every door follows (``predict``, ``featuremaps``, the page):
    light ink on dark for the datasets drawn so, MNIST's centring for the
    datasets centred so (``center`` True or False overrides it), and
    ``invert`` to invert whatever the picture looks like.
    """
    return {
        "invert": invert,
        "center": dataset in CENTERED if center is None else center,
        "dark_background": dataset in INK_ON_DARK,
    }


def picture_input(
    path: str | os.PathLike[str],
    shape: tuple[int, int, int],
    *,
    invert: bool,
    center: bool,
    dark_background: bool = True,
) -> np.ndarray:
    """One picture file as a model's input (n_H, n_W, n_C) in [0, 1], float32.

    Three channels: fitted (and inverted with ``invert``). One channel: for
    a model trained on a ``dark_background`` (MNIST, the digits) the ink is
    made light on dark as there, inverting a picture whose border is light;
    ``invert`` inverts in any case. Then fitted or, with ``center``, cropped
    to the ink, fitted and centred by mass as MNIST's digits were. Fitted
    means resized keeping the aspect ratio, the rest of the field filled
    with the picture's own background (the median of its border): a picture
    of another shape than the model's input is never squeezed.
    """

    n_H, n_W, n_C = shape
    height, width = image_size(path)
    if n_C == 3:
        fitted = read_image(path, mode="RGB", size=_fitted(height, width, n_H, n_W)) / 255
        unit = _in_field(fitted, n_H, n_W)
        return (1.0 - unit if invert else unit).astype(np.float32)
    if center:
        ratio = min(1.0, MAX_PREDICT_SIDE / max(height, width))
        size = (max(1, round(height * ratio)), max(1, round(width * ratio)))
    else:
        size = _fitted(height, width, n_H, n_W)
    gray = read_image(path, mode="L", size=size)[..., 0] / 255
    if invert or (dark_background and dark_on_light(gray)):
        gray = 1.0 - gray
    unit = center_digit(gray, (n_H, n_W)) if center else _in_field(gray[..., None], n_H, n_W)
    return unit.astype(np.float32).reshape(n_H, n_W, 1)


def _fitted(height: int, width: int, n_H: int, n_W: int) -> tuple[int, int]:
    """The size (n_H', n_W') <= (n_H, n_W) that keeps height:width, one side filling the field."""
    ratio = min(n_H / height, n_W / width)
    return min(n_H, max(1, round(height * ratio))), min(n_W, max(1, round(width * ratio)))


def _in_field(unit: np.ndarray, n_H: int, n_W: int) -> np.ndarray:
    """``unit`` (h, w, C), h <= n_H and w <= n_W, centred in a field of its border's median."""
    h, w, n_C = unit.shape
    if (h, w) == (n_H, n_W):
        return unit
    border = np.concatenate([unit[0], unit[-1], unit[:, 0], unit[:, -1]])  # (pixels, C)
    field = np.empty((n_H, n_W, n_C), unit.dtype)
    field[...] = np.median(border, axis=0)
    top, left = (n_H - h) // 2, (n_W - w) // 2
    field[top : top + h, left : left + w] = unit
    return field
