"""The embedded default dataset: UCI optical handwritten digits (8x8, 0-16, 1,797 images).

Shipped inside the package (CC BY 4.0, E. Alpaydin and C. Kaynak; see
``files/README.md``) so that convmath runs offline on real images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convmath.data.idx import read_idx
from convmath.errors import DataError

FILES = Path(__file__).parent / "files"
DIGITS_IMAGES = FILES / "digits-images-idx3-ubyte.gz"
DIGITS_LABELS = FILES / "digits-labels-idx1-ubyte.gz"
DIGITS_MAX_VALUE = 16


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return images (1797, 8, 8) uint8 in 0..16 and labels (1797,) int64 in 0..9."""
    images = read_idx(DIGITS_IMAGES)
    labels = read_idx(DIGITS_LABELS)
    if images.ndim != 3 or labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{DIGITS_IMAGES.name}/{DIGITS_LABELS.name}: expected images (m, 8, 8) and labels (m,),"
            f" got {images.shape} and {labels.dtype} {labels.shape}"
        )
    return images, labels.astype(np.int64)
