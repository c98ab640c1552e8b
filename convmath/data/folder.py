"""Reader of image folders, ``root/<class name>/*.png|jpg``: train on your own pictures.

Classes are the sub-folder names sorted alphabetically; label k is the k-th
class. Images are converted to grayscale ("L", n_C = 1) or colour ("RGB",
n_C = 3) and, if a size is given, resized with bilinear interpolation.
Needs Pillow (the ``images`` extra).

Only PNG and JPEG files are opened, as PNG or JPEG whatever their name says,
and their pixel count is checked from the header before anything is
decoded; a file of another image format in a class folder is refused, not
skipped. A folder is refused before it is read if its images, at the size
asked for, would pass the memory limit (:mod:`convmath.limits`), and, with
or without a size, while it is read once the images read so far do.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import DataError, InvalidArgumentError, MissingDependencyError
from convmath.files import open_regular
from convmath.schema import printable

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Images in other formats are refused, not skipped, so no class silently loses pictures.
OTHER_IMAGE_SUFFIXES = (".bmp", ".gif", ".tif", ".tiff", ".webp", ".ico", ".ppm", ".pgm")
IMAGE_FORMATS = ("PNG", "JPEG")
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding them
CHANNELS = {"L": 1, "RGB": 3}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_CHUNKS = 100_000  # 40,000,000 pixels in 8 KiB chunks (libpng's) take about 20,000


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "reading image files needs Pillow: pip install 'convmath[images]'"
        ) from None
    return Image


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """``path`` opened by Pillow as PNG or JPEG, its pixel count checked from the header.

    Every way a file can fail to be a readable image becomes a
    :class:`DataError` naming it; nothing is decoded here.
    """
    Image = _pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_regular(path, DataError) as file:
                _check_png_chunks(file, path)  # before Pillow reads a chunk
                with Image.open(file, formats=IMAGE_FORMATS) as picture:
                    width, height = picture.size
                    if width * height > MAX_PIXELS:
                        raise DataError(
                            f"{path}: {width} x {height} pixels is over the {MAX_PIXELS}-pixel"
                            f" limit (a decompression bomb or a far too large image)"
                        )
                    yield picture
    except DataError:
        raise
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not a PNG or JPEG image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"{path}: refused as a decompression bomb ({error})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: truncated or corrupt image ({error})") from None


def _check_png_chunks(file: Any, path: Path) -> None:
    """Refuse a PNG file any of whose chunks claims more bytes than the file holds.

    Pillow reads a chunk's data with one read of its declared length, so a few
    bytes that declare a 3 GB chunk would make it ask for 3 GB. Only the 8-byte
    chunk headers are read here, up to IEND and at most :data:`MAX_PNG_CHUNKS`
    of them (a file of millions of empty chunks would take Pillow seconds); a
    file that is not a PNG is left to Pillow. The file is left at its start.
    """
    size = os.fstat(file.fileno()).st_size
    if file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE:
        position, count = len(PNG_SIGNATURE), 0
        while position + 8 <= size:
            file.seek(position)
            head = file.read(8)
            if len(head) < 8:  # the file shrank meanwhile: Pillow will find it truncated
                break
            count += 1
            if count > MAX_PNG_CHUNKS:
                raise DataError(
                    f"{path}: a PNG of more than {MAX_PNG_CHUNKS:,} chunks (an image within"
                    f" the pixel limit needs far fewer)"
                )
            length, kind = struct.unpack(">I4s", head)
            left = size - position - 12  # after this chunk's length, type and checksum
            if length > left:
                name = printable(kind.decode("latin-1"))
                raise DataError(
                    f"{path}: damaged PNG: its {name!r} chunk at byte {position:,} claims"
                    f" {length:,} bytes, but the file holds {max(left, 0):,} more"
                )
            if kind == b"IEND":
                break
            position += 12 + length
    file.seek(0)


def read_image(
    path: str | os.PathLike[str], *, mode: str = "L", size: tuple[int, int] | None = None
) -> np.ndarray:
    """One image file as uint8 (n_H, n_W, n_C); ``size`` is (n_H, n_W) to resize to."""
    if mode not in CHANNELS:
        raise InvalidArgumentError(f"mode must be 'L' (grayscale) or 'RGB', got {mode!r}")
    Image = _pillow()
    path = Path(path)
    with _opened(path) as picture:
        picture = picture.convert(mode)
        if size is not None and (picture.height, picture.width) != tuple(size):
            picture = picture.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(picture, dtype=np.uint8)
    return array.reshape(array.shape[0], array.shape[1], CHANNELS[mode])


def image_files(
    root: Path, classes: tuple[str, ...] | None = None
) -> tuple[list[tuple[Path, int]], tuple[str, ...]]:
    """The image files of ``root/<class>/`` with their labels, and the classes; reads no image.

    A file of another image format is refused, not skipped, so no class
    silently loses pictures.
    """
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
            for p in sorted(folder.iterdir()):
                suffix = p.suffix.lower()
                if suffix in OTHER_IMAGE_SUFFIXES:
                    raise DataError(
                        f"{p}: only PNG and JPEG images are read; convert it (or move it out"
                        f" of the folder)"
                    )
                if suffix in IMAGE_SUFFIXES and p.is_file():
                    files.append((p, label))
    if not files:
        raise DataError(
            f"{root}: no images found; expected {root}/<class name>/*.png (or .jpg, .jpeg)"
        )
    return files, classes


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(n_H, n_W) of a PNG or JPEG file, read from its header alone."""
    with _opened(Path(path)) as picture:
        return picture.height, picture.width


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
    files, classes = image_files(root, classes)
    if size is None:
        # Every header first (no pixel decoded): the sizes must agree, and their total fit.
        first = image_size(files[0][0])
        for path, _ in files[1:]:
            if image_size(path) != first:
                raise DataError(
                    f"{path}: size {image_size(path)} differs from {files[0][0]}'s {first};"
                    f" give a size to resize every image to"
                )
        size = first
    limits.check_memory(
        2 * len(files) * size[0] * size[1] * CHANNELS[mode],  # the images, and their stack
        f"{root}: {len(files):,} images of {size[0]} x {size[1]}",
    )
    images = [read_image(path, mode=mode, size=size) for path, _ in files]
    labels = np.array([label for _, label in files], dtype=np.int64)
    return np.stack(images), labels, tuple(classes)


def class_names(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """The class sub-folders of ``root``, sorted (hidden folders are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of class sub-folders")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) > limits.MAX_CLASSES:
        raise DataError(
            f"{root}: {len(names):,} class folders, over the {limits.MAX_CLASSES:,} limit"
        )
    for name in names:
        try:
            name.encode("utf-8")  # a name that is not UTF-8 on disk could not be stored
        except UnicodeEncodeError:
            raise DataError(
                f"{root}: the class folder {name!r} is not named in UTF-8; rename it"
            ) from None
        if len(name) > limits.MAX_CLASS_NAME:
            raise DataError(
                f"{root}: the class folder name {name[:40]!r}... is over"
                f" {limits.MAX_CLASS_NAME} characters"
            )
    return tuple(names)
