"""The article's first example: edge detection by convolving an image with a filter.

The vertical edge filter VEF responds where intensity changes from left to
right; the horizontal edge filter HEF = VEF^T where it changes from top to
bottom. For a grayscale image of n_H x n_W, each filter gives an edge map of
(n_H + 2p - 3 + 1) x (n_W + 2p - 3 + 1); the two maps combine into the edge
magnitude sqrt(vertical^2 + horizontal^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError, MissingDependencyError, ShapeError
from convmath.tensor import Tensor, no_grad

VERTICAL_EDGE_FILTER = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
HORIZONTAL_EDGE_FILTER = VERTICAL_EDGE_FILTER.T.copy()


@dataclass(frozen=True)
class EdgeMaps:
    image: np.ndarray  # (n_H_prev, n_W_prev)
    vertical: np.ndarray  # (n_H, n_W): image * VEF
    horizontal: np.ndarray  # (n_H, n_W): image * HEF
    magnitude: np.ndarray  # (n_H, n_W): sqrt(vertical^2 + horizontal^2)


def detect_edges(image: np.ndarray, padding: int = 0) -> EdgeMaps:
    """Convolve a grayscale image (n_H, n_W) with VEF and HEF in one conv2d call.

    The image becomes a volume (1, n_H, n_W, 1) and the two filters one weight
    tensor (3, 3, 1, 2), so Z[0, :, :, 0] is the vertical and Z[0, :, :, 1]
    the horizontal edge map.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ShapeError(
            f"edge detection expects a grayscale image (n_H, n_W), got shape {image.shape}"
        )
    if not np.isfinite(image).all():
        raise InvalidArgumentError("the image contains NaN or infinite pixels")
    filters = np.stack([VERTICAL_EDGE_FILTER, HORIZONTAL_EDGE_FILTER], axis=-1)[:, :, None, :]
    with no_grad():
        z = F.conv2d(Tensor(image[None, :, :, None]), Tensor(filters), padding=padding).data[0]
    vertical, horizontal = z[:, :, 0], z[:, :, 1]
    return EdgeMaps(image, vertical, horizontal, np.hypot(vertical, horizontal))


def format_grid(values: np.ndarray, decimals: int = 0) -> str:
    """A 2-D array as right-aligned text columns, one row per line."""
    cells = [[f"{v:.{decimals}f}" for v in row] for row in np.asarray(values)]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def _to_gray_levels(values: np.ndarray, signed: bool) -> np.ndarray:
    """Map to 0..255: signed maps put 0 at mid-gray, unsigned ones stretch min..max."""
    if signed:
        scale = np.abs(values).max() or 1.0
        levels = 127.5 + 127.5 * values / scale
    else:
        low, high = values.min(), values.max()
        levels = 255.0 * (values - low) / ((high - low) or 1.0)
    return np.clip(np.rint(levels), 0, 255).astype(np.uint8)


def save_edge_panels(maps: EdgeMaps, path: str | Path, min_height: int = 160) -> tuple[int, int]:
    """Save image | vertical | horizontal | magnitude side by side as a PNG (needs Pillow).

    Edge maps are shown with 0 as mid-gray, positive responses light and
    negative dark. Small images are enlarged without smoothing so each pixel
    stays visible. Returns the (width, height) written.
    """
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "saving a PNG needs Pillow: pip install 'convmath[images]'"
        ) from None
    panels = [
        _to_gray_levels(maps.image, signed=False),
        _to_gray_levels(maps.vertical, signed=True),
        _to_gray_levels(maps.horizontal, signed=True),
        _to_gray_levels(maps.magnitude, signed=False),
    ]
    tallest = max(p.shape[0] for p in panels)  # padded maps can be taller than the image
    scale = max(1, -(-min_height // tallest))
    gap = 4 * scale
    height = tallest * scale
    width = sum(p.shape[1] * scale for p in panels) + gap * (len(panels) - 1)
    canvas = np.full((height, width), 255, dtype=np.uint8)
    left = 0
    for panel in panels:
        big = np.repeat(np.repeat(panel, scale, axis=0), scale, axis=1)
        top = (height - big.shape[0]) // 2  # centre panels of different heights
        canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
        left += big.shape[1] + gap
    Image.fromarray(canvas).save(path, format="PNG")
    return width, height


def load_grayscale_image(path: str | Path) -> np.ndarray:
    """Read an image file as grayscale float64 in 0..255 (needs Pillow)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingDependencyError(
            "reading an image file needs Pillow: pip install 'convmath[images]'"
        ) from None
    try:
        with Image.open(path) as picture:
            return np.asarray(picture.convert("L"), dtype=np.float64)
    except UnidentifiedImageError:
        raise InvalidArgumentError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise InvalidArgumentError(f"{path}: refused, too many pixels ({error})") from None
    except OSError as error:
        if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
            raise
        raise InvalidArgumentError(f"{path}: truncated or corrupt image ({error})") from None
