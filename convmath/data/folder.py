"""Reader of image folders, ``root/<class name>/*.png|jpg``: train on your own pictures.

Classes are the sub-folder names sorted alphabetically; label k is the k-th
class. Images are converted to grayscale ("L", n_C = 1) or colour ("RGB",
n_C = 3) and, if a size is given, resized with bilinear interpolation.
Needs Pillow (the ``images`` extra).

Only PNG and JPEG files are opened, as PNG or JPEG whatever their name says,
and their pixel count is checked from the header before anything is
decoded. A folder is refused before it is read if its images, at the size
asked for, would pass the memory limit (:mod:`convmath.limits`), and while
it is read once the images read so far do.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from convmath import limits
from convmath.errors import DataError, InvalidArgumentError, MissingDependencyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding them
CHANNELS = {"L": 1, "RGB": 3}


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "reading image files needs Pillow: pip install 'convmath[images]'"
        ) from None
    return Image


def read_image(
    path: str | os.PathLike[str], *, mode: str = "L", size: tuple[int, int] | None = None
) -> np.ndarray:
    """One image file as uint8 (n_H, n_W, n_C); ``size`` is (n_H, n_W) to resize to."""
    if mode not in CHANNELS:
        raise InvalidArgumentError(f"mode must be 'L' (grayscale) or 'RGB', got {mode!r}")
    Image = _pillow()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as picture:
                width, height = picture.size
                if width * height > MAX_PIXELS:
                    raise DataError(
                        f"{path}: {width} x {height} pixels is over the {MAX_PIXELS}-pixel limit"
                        f" (a decompression bomb or a far too large image)"
                    )
                picture = picture.convert(mode)
                if size is not None and (height, width) != tuple(size):
                    picture = picture.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(picture, dtype=np.uint8)
    except DataError:
        raise
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not a PNG or JPEG image") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: refused as a decompression bomb ({error})") from None
    except Image.DecompressionBombWarning as error:
        raise DataError(f"{path}: refused as a decompression bomb ({error})") from None
    except (OSError, ValueError, SyntaxError) as error:
        if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
            raise DataError(f"{path}: cannot open ({error.strerror})") from None
        raise DataError(f"{path}: truncated or corrupt image ({error})") from None
    return array.reshape(array.shape[0], array.shape[1], CHANNELS[mode])


def read_image_folder(
    root: str | os.PathLike[str],
    *,
    mode: str = "L",
    size: tuple[int, int] | None = None,
    classes: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read ``root/<class>/<image>`` into images (m, n_H, n_W, n_C) uint8, labels (m,) int64.

    ``classes`` fixes the class list (e.g. the training folder's, when
    reading a test folder); otherwise it is the sorted sub-folder names.
    Without ``size`` all images must already share one size.
    Returns (images, labels, classes).
    """
    root = Path(root)
    found = class_names(root)
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(
            f"{root}: class folders {unknown} are not among the classes {list(classes)}"
        )
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        folder = root / name
        if folder.is_dir():
            files += [
                (p, label)
                for p in sorted(folder.iterdir())
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ]
    if not files:
        raise DataError(
            f"{root}: no images found; expected {root}/<class name>/*.png (or .jpg, .jpeg)"
        )
    if size is not None:
        limits.check_memory(
            len(files) * size[0] * size[1] * CHANNELS[mode],
            f"{root}: {len(files):,} images of {size[0]} x {size[1]}",
        )
    images = []
    total = 0
    for path, _ in files:
        image = read_image(path, mode=mode, size=size)
        total += image.nbytes
        limits.check_memory(total, f"{root}: the images read up to {path.name}")
        if images and image.shape != images[0].shape:
            raise DataError(
                f"{path}: size {image.shape[:2]} differs from {files[0][0]}'s"
                f" {images[0].shape[:2]};"
                f" give a size to resize every image to"
            )
        images.append(image)
    labels = np.array([label for _, label in files], dtype=np.int64)
    return np.stack(images), labels, tuple(classes)


def class_names(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """The class sub-folders of ``root``, sorted (hidden folders are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class sub-folders")
    return tuple(
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    )
