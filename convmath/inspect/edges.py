"""The article's first example: edge detection by convolving an image with a filter.

The vertical edge filter VEF responds where intensity changes from left to
right; the horizontal edge filter HEF = VEF^T where it changes from top to
bottom. For a grayscale image of n_H_prev x n_W_prev, a 3x3 filter with
padding p and stride s gives a map of n_H x n_W with
n_H = floor((n_H_prev + 2p - 3)/s) + 1; a pair of edge filters combines into
the edge magnitude sqrt(vertical^2 + horizontal^2). Sobel's filters weight
the centre row (or column) twice; any other 3x3 filter can be given too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.schema import shown
from convmath.tensor import Tensor, no_grad

VERTICAL_EDGE_FILTER = np.array([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]])
HORIZONTAL_EDGE_FILTER = VERTICAL_EDGE_FILTER.T.copy()
SOBEL_VERTICAL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_HORIZONTAL = SOBEL_VERTICAL.T.copy()

# name -> the filters it applies, each with the name its map is shown under
FILTER_SETS: dict[str, tuple[tuple[str, np.ndarray], ...]] = {
    "edges": (("VEF", VERTICAL_EDGE_FILTER), ("HEF", HORIZONTAL_EDGE_FILTER)),
    "vertical": (("VEF", VERTICAL_EDGE_FILTER),),
    "horizontal": (("HEF", HORIZONTAL_EDGE_FILTER),),
    "sobel": (("Sobel vertical", SOBEL_VERTICAL), ("Sobel horizontal", SOBEL_HORIZONTAL)),
}


@dataclass(frozen=True)
class EdgeMaps:
    """The image, the filters applied to it, and their maps image * filter."""

    image: np.ndarray  # (n_H_prev, n_W_prev)
    names: tuple[str, ...]
    filters: tuple[np.ndarray, ...]  # each (3, 3)
    maps: tuple[np.ndarray, ...]  # each (n_H, n_W)
    padding: int
    stride: int

    @property
    def magnitude(self) -> np.ndarray | None:
        """sqrt(V^2 + H^2) for a vertical and horizontal pair; None for one filter."""
        return np.hypot(*self.maps) if len(self.maps) == 2 else None

    def map(self, name: str) -> np.ndarray:
        return self.maps[self.names.index(name)]


def custom_filter(text: str) -> np.ndarray:
    """Nine comma-separated numbers, row by row, as a 3x3 filter."""
    parts = text.split(",")
    if len(parts) != 9 or not all(_NUMBER.fullmatch(part.strip()) for part in parts):
        raise InvalidArgumentError(
            f"a filter is 'edges', 'vertical', 'horizontal', 'sobel' or nine comma-separated"
            f" numbers, row by row (3x3), got {shown(text)}"
        )
    values = np.array([float(part) for part in parts])
    if not np.isfinite(values).all() or np.abs(values).max() > MAX_WEIGHT:
        raise InvalidArgumentError(
            f"a filter's numbers must be finite and at most {MAX_WEIGHT:g} in size, got"
            f" {shown(text)}"
        )
    return values.reshape(3, 3)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
MAX_WEIGHT = 1e6  # pixel values times nine weights stay far from overflow


def detect_edges(
    image: np.ndarray,
    padding: int = 0,
    stride: int = 1,
    filters: str | Sequence[tuple[str, np.ndarray]] = "edges",
) -> EdgeMaps:
    """Convolve a grayscale image (n_H, n_W) with 3x3 filters in one conv2d call.

    ``filters`` names a set of FILTER_SETS or lists (name, 3x3 array) pairs.
    The image becomes a volume (1, n_H, n_W, 1) and the k filters one weight
    tensor (3, 3, 1, k), so Z[0, :, :, j] is the map of filter j.
    """
    if isinstance(filters, str) and filters not in FILTER_SETS:
        raise InvalidArgumentError(
            f"unknown filter set {shown(filters)}; expected one of {sorted(FILTER_SETS)}"
        )
    chosen = FILTER_SETS[filters] if isinstance(filters, str) else tuple(filters)
    if not chosen or any(np.shape(f) != (3, 3) for _, f in chosen):
        raise ShapeError("detect_edges applies one or more 3x3 filters")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ShapeError(
            f"edge detection expects a grayscale image (n_H, n_W), got shape {image.shape}"
        )
    if not np.isfinite(image).all():
        raise InvalidArgumentError("the image contains NaN or infinite pixels")
    weights = np.stack([f for _, f in chosen], axis=-1)[:, :, None, :]
    with no_grad():
        volume = Tensor(image[None, :, :, None])
        z = F.conv2d(volume, Tensor(weights), padding=padding, stride=stride).data[0]
    if not np.isfinite(z).all():
        raise InvalidArgumentError("the filtered image overflows: use smaller pixels or weights")
    return EdgeMaps(
        image,
        tuple(name for name, _ in chosen),
        tuple(f for _, f in chosen),
        tuple(z[:, :, j] for j in range(len(chosen))),
        padding,
        stride,
    )


def format_grid(values: np.ndarray, decimals: int = 0) -> str:
    """A 2-D array as right-aligned text columns, one row per line (large values as 1.2e+07)."""
    large = np.abs(np.asarray(values)).max(initial=0) >= 1e7
    cells = [[f"{v:.3g}" if large else f"{v:.{decimals}f}" for v in row] for row in values]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)
