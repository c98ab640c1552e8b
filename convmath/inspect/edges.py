"""The article's first example: edge detection by convolving an image with a filter.

The vertical edge filter VEF responds where intensity changes from left to
right; the horizontal edge filter HEF = VEF^T where it changes from top to
bottom. For a grayscale image of n_H x n_W, each filter gives an edge map of
(n_H + 2p - 3 + 1) x (n_W + 2p - 3 + 1); the two maps combine into the edge
magnitude sqrt(vertical^2 + horizontal^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError, ShapeError
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
