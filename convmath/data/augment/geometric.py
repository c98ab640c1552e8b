"""Geometric augmentation: cropping, rotation, zoom, elastic distortion and flipping."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convmath.data.augment.base import Transform, probability, uniform_range
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.schema import Number
from convmath.shapes import pair

# alpha: the warp's gain; sigma: its smoothness in pixels (a tiny sigma would divide by ~0,
# a huge one build a kernel of 8 sigma taps)
ELASTIC_ALPHA = Number(0, 1000)
ELASTIC_SIGMA = Number(0.1, 1000)


class RandomCrop(Transform):
    """Pad each image by p on every side, then cut an n_H x n_W window at a random offset.

    Offsets (dy, dx) are uniform over 0..(n_H_prev + 2p - n_H), independently
    per image. ``padding_mode`` is "constant" (zeros) or "reflect" (mirror
    without repeating the edge). The classic settings: "pad 4, crop 32" for
    CIFAR, "pad 2, crop 28" for MNIST, which shift images by up to p pixels.
    """

    def __init__(
        self, size: int | tuple[int, int], padding: int = 0, padding_mode: str = "constant"
    ):
        self.size = pair(size, "crop size")
        self.padding = pair(padding, "padding", minimum=0)[0]
        if padding_mode not in ("constant", "reflect"):
            raise InvalidArgumentError(
                f"padding_mode must be 'constant' or 'reflect', got {padding_mode!r}"
            )
        self.padding_mode = padding_mode

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.padding
        if p:
            widths = ((0, 0), (p, p), (p, p), (0, 0))
            batch = np.pad(batch, widths, mode=self.padding_mode)
        m, n_H_pad, n_W_pad, _ = batch.shape
        n_H, n_W = self.size
        if n_H > n_H_pad or n_W > n_W_pad:
            raise ShapeError(
                f"RandomCrop: a {n_H} x {n_W} crop does not fit a padded"
                f" {n_H_pad} x {n_W_pad} image"
            )
        dy = rng.integers(0, n_H_pad - n_H + 1, m)
        dx = rng.integers(0, n_W_pad - n_W + 1, m)
        windows = sliding_window_view(batch, (n_H, n_W), axis=(1, 2))  # (m, ., ., n_C, n_H, n_W)
        return windows[np.arange(m), dy, dx].transpose(0, 2, 3, 1).copy()


class CenterCrop(Transform):
    """Cut the central n_H x n_W window (offset floor((n_H_prev - n_H) / 2))."""

    def __init__(self, size: int | tuple[int, int]):
        self.size = pair(size, "crop size")

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_H, n_W = self.size
        if n_H > batch.shape[1] or n_W > batch.shape[2]:
            raise ShapeError(
                f"CenterCrop: a {n_H} x {n_W} crop does not fit {batch.shape[1:3]} images"
            )
        top = (batch.shape[1] - n_H) // 2
        left = (batch.shape[2] - n_W) // 2
        return batch[:, top : top + n_H, left : left + n_W].copy()


def rotate(batch: np.ndarray, degrees: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Rotate image i by degrees[i] counter-clockwise about its centre, bilinearly.

    For output pixel (y, x) and centre (c_y, c_x) = ((n_H-1)/2, (n_W-1)/2) the
    value is read at
        y' = c_y + cos(t) (y - c_y) + sin(t) (x - c_x)
        x' = c_x - sin(t) (y - c_y) + cos(t) (x - c_x)
    and interpolated from its four neighbours; points outside the image read
    ``fill``. A rotation by 90 degrees equals ``np.rot90`` on square images.
    """
    m, n_H, n_W, _ = batch.shape
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64)).reshape(m, 1, 1)
    c_y, c_x = (n_H - 1) / 2, (n_W - 1) / 2
    y, x = np.meshgrid(np.arange(n_H) - c_y, np.arange(n_W) - c_x, indexing="ij")
    cos, sin = np.cos(theta), np.sin(theta)
    # Rounding removes the 1e-16 noise of cos(90 deg) so right angles land on pixels.
    src_y = np.round(c_y + cos * y + sin * x, 6)
    src_x = np.round(c_x - sin * y + cos * x, 6)
    return _bilinear(batch, src_y, src_x, fill)


def zoom(batch: np.ndarray, factors: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Scale image i by factors[i] about its centre, bilinearly, keeping its size.

    For output pixel (y, x) and centre (c_y, c_x) = ((n_H-1)/2, (n_W-1)/2) the
    value is read at
        y' = c_y + (y - c_y) / z,   x' = c_x + (x - c_x) / z
    so z > 1 enlarges the content (its border leaves the frame) and z < 1
    shrinks it (the border reads ``fill``). z = 1 is the identity.
    """
    m, n_H, n_W, _ = batch.shape
    inverse = 1.0 / np.asarray(factors, dtype=np.float64).reshape(m, 1, 1)
    c_y, c_x = (n_H - 1) / 2, (n_W - 1) / 2
    y, x = np.meshgrid(np.arange(n_H) - c_y, np.arange(n_W) - c_x, indexing="ij")
    src_y = np.round(c_y + inverse * y, 6)  # as rotate: whole pixels land on pixels
    src_x = np.round(c_x + inverse * x, 6)
    return _bilinear(batch, src_y, src_x, fill)


def _bilinear(batch: np.ndarray, src_y: np.ndarray, src_x: np.ndarray, fill: float) -> np.ndarray:
    """Out[i, y, x] = batch[i] read at (src_y[i, y, x], src_x[i, y, x]) from its four
    neighbours, bilinearly; positions outside the image read ``fill``."""
    m, n_H, n_W, _ = batch.shape
    y0 = np.floor(src_y).astype(np.int64)
    x0 = np.floor(src_x).astype(np.int64)
    wy = (src_y - y0)[..., None].astype(batch.dtype)
    wx = (src_x - x0)[..., None].astype(batch.dtype)
    image = np.arange(m).reshape(m, 1, 1)

    def read(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        inside = (rows >= 0) & (rows < n_H) & (cols >= 0) & (cols < n_W)
        values = batch[image, np.clip(rows, 0, n_H - 1), np.clip(cols, 0, n_W - 1)]
        return np.where(inside[..., None], values, batch.dtype.type(fill))

    top = read(y0, x0) * (1 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1 - wx) + read(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


class RandomRotation(Transform):
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees] or (low, high).

    Bilinear interpolation about the image centre; corners that come from
    outside the image are filled with ``fill`` (0, black). See :func:`rotate`.
    """

    def __init__(self, degrees: float | Sequence[float], fill: float = 0.0):
        self.degrees = uniform_range(degrees, "degrees", centre=0.0)
        self.fill = float(fill)

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angles = rng.uniform(*self.degrees, size=len(batch))
        return np.clip(rotate(batch, angles, self.fill), 0.0, 1.0)


class RandomZoom(Transform):
    """Scale each image about its centre by a factor drawn uniformly from [1 - z, 1 + z] or
    (low, high), keeping its size: "zoom 10%" for MNIST is z = 0.1.

    Bilinear interpolation; what comes from outside the image is ``fill`` (0,
    black). See :func:`zoom`.
    """

    def __init__(self, factor: float | Sequence[float], fill: float = 0.0):
        self.factors = uniform_range(factor, "zoom", centre=1.0)
        if self.factors[0] <= 0:
            raise InvalidArgumentError(
                f"zoom factors must be above 0 (a zoom below 1 - 1 = 0 is none), got {factor!r}"
            )
        self.fill = float(fill)

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        factors = rng.uniform(*self.factors, size=len(batch))
        return np.clip(zoom(batch, factors, self.fill), 0.0, 1.0)


def gaussian_smoothing(n: int, sigma: float) -> np.ndarray:
    """The n x n matrix G that smooths a length-n signal with a Gaussian of std ``sigma``.

    G[i, j] = g(i - j) / sum_k g(k), g(k) = exp(-k^2 / (2 sigma^2)) for |k| <= 4 sigma
    (0 beyond), with the full kernel's sum as divisor: what lies outside the
    signal counts as 0, as ``scipy.ndimage.gaussian_filter(mode="constant")``.
    A field F (n_H x n_W) is smoothed along both axes as G_H F G_W^T.
    """
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(n)[:, None] - np.arange(n)[None, :]
    g = np.exp(-(offsets.astype(np.float64) ** 2) / (2.0 * sigma**2))
    g[np.abs(offsets) > radius] = 0.0
    k = np.arange(-radius, radius + 1)
    return g / np.exp(-(k.astype(np.float64) ** 2) / (2.0 * sigma**2)).sum()


@functools.lru_cache(maxsize=16)
def _smoothing(n: int, sigma: float) -> np.ndarray:
    """:func:`gaussian_smoothing`, made once per size and sigma (read-only: it is shared)."""
    matrix = gaussian_smoothing(n, sigma)
    matrix.setflags(write=False)
    return matrix


def displace(batch: np.ndarray, d_y: np.ndarray, d_x: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Out[i, y, x] = batch[i] read at (y + d_y[i, y, x], x + d_x[i, y, x]), bilinearly.

    Displacements are in pixels, one field (m, n_H, n_W) per axis; positions
    outside the image read ``fill``. Zero fields give the batch back, and
    d_x = 1 everywhere moves the content one pixel to the left.
    """
    _, n_H, n_W, _ = batch.shape
    y, x = np.meshgrid(np.arange(n_H), np.arange(n_W), indexing="ij")
    return _bilinear(batch, y + np.asarray(d_y), x + np.asarray(d_x), fill)


class RandomElastic(Transform):
    """Elastic distortion (Simard, Steinkraus and Platt, 2003): a smooth random warp.

    For each image two fields of uniform noise U(-1, 1), one per axis, are
    smoothed by a Gaussian of std ``sigma`` pixels (:func:`gaussian_smoothing`)
    and scaled by ``alpha``; each pixel is then read at its displaced position
    (:func:`displace`). Simard's values for 28x28 digits are sigma = 4 and
    alpha = 34: displacements of about 1.3 pixels (std) that vary smoothly
    over a few pixels, like the wobble of a hand. alpha = 0 changes nothing.
    """

    def __init__(self, alpha: float = 34.0, sigma: float = 4.0, fill: float = 0.0):
        self.alpha = ELASTIC_ALPHA.check(alpha, "elastic alpha")
        self.sigma = ELASTIC_SIGMA.check(sigma, "elastic sigma")
        self.fill = float(fill)

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m, n_H, n_W, _ = batch.shape
        noise = rng.uniform(-1.0, 1.0, size=(2, m, n_H, n_W))
        smooth_H = _smoothing(n_H, self.sigma)
        smooth_W = _smoothing(n_W, self.sigma)
        d_y, d_x = self.alpha * (smooth_H @ noise @ smooth_W.T)
        return np.clip(displace(batch, d_y, d_x, self.fill), 0.0, 1.0)


class RandomFlip(Transform):
    """Mirror each image left-right with probability ``horizontal``, upside-down with ``vertical``.

    A horizontal flip maps column x to n_W - 1 - x; a vertical flip maps row y
    to n_H - 1 - y. Digits are not symmetric, so MNIST presets leave flips off.
    """

    def __init__(self, horizontal: float = 0.5, vertical: float = 0.0):
        self.horizontal = probability(horizontal, "horizontal")
        self.vertical = probability(vertical, "vertical")

    def apply(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = len(batch)
        flip_h = (rng.random(m) < self.horizontal).reshape(m, 1, 1, 1)
        flip_v = (rng.random(m) < self.vertical).reshape(m, 1, 1, 1)
        batch = np.where(flip_h, batch[:, :, ::-1], batch)
        return np.where(flip_v, batch[:, ::-1], batch)
