"""Named datasets and the data directory: ``load(name, split)`` -> (images, labels).

Every dataset lives in ``<data dir>/<name>/`` under its official file names.
The data directory is, in order of precedence, the ``data_dir`` argument
(the ``--data-dir`` option), the ``CONVMATH_DATA`` environment variable, or a
per-user cache folder (``$XDG_CACHE_HOME/convmath``, else
``~/.cache/convmath``). Files that are there are used as they are; missing
ones are downloaded from the official mirrors and verified before use.

The embedded ``digits`` set needs no data directory at all.
"""

from __future__ import annotations

import math
import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convmath.data.cifar import CIFAR10_CLASSES, read_cifar10
from convmath.data.digits import DIGITS_MAX_VALUE, load_digits
from convmath.data.download import Digest, RemoteFile, fetch, verify
from convmath.data.folder import class_names, image_files, image_size, read_image_folder
from convmath.data.idx import read_idx
from convmath.data.splits import train_dev_test_split
from convmath.errors import DataError, InvalidArgumentError, did_you_mean
from convmath.schema import shown

SPLITS = ("train", "test")
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0
# An image folder without test/: this stratified share of it, carved with this seed, is the test.
FOLDER_TEST_FRACTION = 0.2
FOLDER_SPLIT_SEED = 0


@dataclass(frozen=True)
class DatasetInfo:
    """What a named dataset holds: classes, image shape, value range, sizes, credit."""

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # (n_H, n_W, n_C)
    max_value: int  # pixel values are integers in 0..max_value
    sizes: dict[str, int] = field(default_factory=dict)
    credit: str = ""


DIGIT_CLASSES = tuple(str(k) for k in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DATASETS = {
    "digits": DatasetInfo(
        "digits",
        DIGIT_CLASSES,
        (8, 8, 1),
        DIGITS_MAX_VALUE,
        {"train": 1438, "test": 359},
        "UCI Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak (1998),"
        " CC BY 4.0; embedded in convmath",
    ),
    "mnist": DatasetInfo(
        "mnist",
        DIGIT_CLASSES,
        (28, 28, 1),
        255,
        {"train": 60000, "test": 10000},
        "MNIST, Y. LeCun, C. Cortes and C. J. C. Burges, CC BY-SA 3.0",
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        FASHION_CLASSES,
        (28, 28, 1),
        255,
        {"train": 60000, "test": 10000},
        "Fashion-MNIST, H. Xiao, K. Rasul and R. Vollgraf (Zalando Research, 2017), MIT license",
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        CIFAR10_CLASSES,
        (32, 32, 3),
        255,
        {"train": 50000, "test": 10000},
        "CIFAR-10, A. Krizhevsky (2009)",
    ),
}

_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)


def _idx_files(
    mirrors: tuple[str, ...], digests: dict[str, tuple[Digest, ...]]
) -> dict[str, RemoteFile]:
    return {
        name: RemoteFile(name, tuple(m + name for m in mirrors), file_digests)
        for name, file_digests in digests.items()
    }


# MNIST: SHA-256 of the official .gz archives and of their decompressed IDX content
# (the copies in shared/datasets were re-compressed, so the content digest is what
# matches them). Fashion-MNIST: the MD5 of the official archives, the checksum its
# authors publish (no SHA-256 is published); it guards against corrupt transfers.
REMOTE_FILES: dict[str, dict[str, RemoteFile]] = {
    "mnist": _idx_files(
        _MNIST_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": (
                Digest(
                    "sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
                ),
                Digest(
                    "sha256",
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    "content",
                ),
            ),
            "train-labels-idx1-ubyte.gz": (
                Digest(
                    "sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
                ),
                Digest(
                    "sha256",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    "content",
                ),
            ),
            "t10k-images-idx3-ubyte.gz": (
                Digest(
                    "sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
                ),
                Digest(
                    "sha256",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    "content",
                ),
            ),
            "t10k-labels-idx1-ubyte.gz": (
                Digest(
                    "sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
                ),
                Digest(
                    "sha256",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                    "content",
                ),
            ),
        },
    ),
    "fashion-mnist": _idx_files(
        _FASHION_MIRRORS,
        {
            "train-images-idx3-ubyte.gz": (Digest("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),),
            "train-labels-idx1-ubyte.gz": (Digest("md5", "25c81989df183df01b3e8a0aad5dffbe"),),
            "t10k-images-idx3-ubyte.gz": (Digest("md5", "bef4ecab320f06d8554ea6380940ec79"),),
            "t10k-labels-idx1-ubyte.gz": (Digest("md5", "bb300cfdad3c16e7a12a480ee83cd310"),),
        },
    ),
    "cifar10": {
        "cifar-10-binary.tar.gz": RemoteFile(
            "cifar-10-binary.tar.gz",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
            (Digest("sha256", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),),
        )
    },
}

_IDX_PREFIX = {"train": "train", "test": "t10k"}
_CIFAR_FOLDER = "cifar-10-batches-bin"
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{k}.bin" for k in range(1, 6)),
    "test": ("test_batch.bin",),
}
_CIFAR_RECORDS = 10000  # each official batch holds exactly this many records
_CIFAR_MAX_BATCH_BYTES = _CIFAR_RECORDS * 3073


def default_data_dir() -> Path:
    """``$CONVMATH_DATA``, else ``$XDG_CACHE_HOME/convmath``, else ``~/.cache/convmath``."""
    if os.environ.get("CONVMATH_DATA"):
        return Path(os.environ["CONVMATH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "convmath"


def dataset_name(name: str, *, folders: bool = True) -> str:
    """The dataset ``name`` means: a named one in any case (``MNIST`` is ``mnist``) or a folder.

    An existing folder of that exact name wins over a name that differs only in case.
    ``folders=False`` accepts named datasets only. An unknown name is refused with the
    closest known one: ``unknown dataset 'mnsit' ...; did you mean 'mnist'?``.
    """
    if name in DATASETS or (folders and Path(name).is_dir()):
        return name
    if isinstance(name, str) and name.lower() in DATASETS:
        return name.lower()
    folder = " or a folder of images (root/<class>/*.png)" if folders else ""
    raise InvalidArgumentError(
        f"unknown dataset {shown(name)}; expected one of {sorted(DATASETS)}{folder}"
        f"{did_you_mean(name, DATASETS)}"
    )


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a named dataset (in any case: ``MNIST`` is ``mnist``)."""
    return DATASETS[dataset_name(name, folders=False)]


Fetcher = Callable[[RemoteFile, Path], Path]


def load(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    fetcher: Fetcher | None = None,
    mode: str = "L",
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (m, n_H, n_W, n_C) uint8 and labels (m,) int64 of a dataset split.

    ``name`` is one of ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``
    (in any case), or the path of an image folder (``root/<class>/*.png``, or with
    ``train/`` and ``test/`` sub-folders holding such class folders).
    ``split`` is ``"train"`` or ``"test"``: the official test split (for
    digits, a fixed stratified 20% carved with seed 0). Carve a dev set from
    the training split with :func:`convmath.data.train_dev_test_split`.
    Missing files are downloaded (unless ``download=False``) and verified.
    ``mode`` ("L" or "RGB") and ``size`` (n_H, n_W) apply to image folders.
    """
    if split not in SPLITS:
        raise InvalidArgumentError(f"split must be 'train' or 'test', got {split!r}")
    name = dataset_name(name)
    if name not in DATASETS:
        images, labels, _ = load_folder(name, split, mode=mode, size=size)
        return images, labels
    if name == "digits":
        return _load_digits(split)
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder = folder / name
    get = fetcher or (lambda remote, where: fetch(remote, where))
    if name == "cifar10":
        images, labels = _load_cifar10(folder, split, download, get)
    else:
        images, labels = _load_idx_pair(name, folder, split, download, get)
    _check_pair(name, split, images, labels)
    return images, labels


def load_folder(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    mode: str = "L",
    size: tuple[int, int] | None = None,
):
    """An image folder's split: ``root/train`` and ``root/test`` if present, else ``root`` cut.

    Without ``train/`` and ``test/`` sub-folders, ``root/<class>/*`` is
    split into a stratified 80% training and 20% test part with seed 0
    (:func:`carved_test_note` says so in words). A classifier needs at least
    two classes. Returns (images, labels, classes).
    """
    root = Path(root)
    classes = folder_classes(root)
    if len(classes) < 2:
        raise DataError(
            f"{root}: a classifier needs at least 2 class folders, found {list(classes)}"
        )
    if (root / "train").is_dir():
        if split == "train":
            return read_image_folder(root / "train", mode=mode, size=size, classes=classes)
        if not (root / "test").is_dir():
            raise DataError(f"{root}: has train/ but no test/ folder")
        return read_image_folder(root / "test", mode=mode, size=size, classes=classes)
    images, labels, classes = read_image_folder(root, mode=mode, size=size, classes=classes)
    index = _carved_part(labels, split, FOLDER_TEST_FRACTION, FOLDER_SPLIT_SEED)
    return images[index], labels[index], classes


def _carved_part(labels: np.ndarray, split: str, fraction: float, seed: int) -> np.ndarray:
    """The indices of ``split`` when a stratified ``fraction`` is carved out as the test split."""
    parts = train_dev_test_split(
        labels, dev=0, test=fraction, rng=np.random.default_rng(seed), stratify=True
    )
    return parts.train if split == "train" else parts.test


def input_shape(
    name: str, *, mode: str = "L", size: tuple[int, int] | None = None
) -> tuple[int, int, int]:
    """(n_H, n_W, n_C) of the examples ``load`` will return, found before any image is decoded.

    For an image folder without ``size``, the first image's header gives it.
    """
    if name in DATASETS:
        return DATASETS[name].image_shape
    n_C = 3 if mode == "RGB" else 1
    if size is not None:
        return (*size, n_C)
    root = Path(name)
    files, _ = image_files(root / "train" if (root / "train").is_dir() else root)
    return (*image_size(files[0][0]), n_C)


def folder_classes(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """The classes of an image folder (``root/train``'s if it has one); reads no image."""
    root = Path(root)
    return class_names(root / "train" if (root / "train").is_dir() else root)


def carved_test_note(dataset: str) -> str:
    """How the test split of an image folder without ``test/`` was made ("" for the others)."""
    if dataset in DATASETS or (Path(dataset) / "train").is_dir():
        return ""
    return (
        f"no test/ folder: a stratified {FOLDER_TEST_FRACTION:.0%} of the images, seed"
        f" {FOLDER_SPLIT_SEED}, is the test split"
    )


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_digits()
    index = _carved_part(labels, split, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return images[index][..., None], labels[index]


def _missing_files_error(name: str, folder: Path, missing: list[str], why: str) -> DataError:
    return DataError(
        f"{name}: {', '.join(missing)} not found in {folder} ({why}). Put the official files"
        f" there, or point --data-dir / the CONVMATH_DATA environment variable at a folder that"
        f" holds {name}/<files>"
    )


def _local_or_fetched(
    name: str, folder: Path, file_name: str, download: bool, get: Fetcher
) -> Path:
    """The local copy of ``file_name`` (gzipped or not), downloading it if allowed."""
    for candidate in (folder / file_name, folder / file_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    if not download:
        raise _missing_files_error(name, folder, [file_name], "downloads are off")
    try:
        return get(REMOTE_FILES[name][file_name], folder)
    except DataError as error:
        raise _missing_files_error(name, folder, [file_name], f"download failed: {error}") from None


def _load_idx_pair(
    name: str, folder: Path, split: str, download: bool, get: Fetcher
) -> tuple[np.ndarray, np.ndarray]:
    prefix = _IDX_PREFIX[split]
    image_path = _local_or_fetched(name, folder, f"{prefix}-images-idx3-ubyte.gz", download, get)
    label_path = _local_or_fetched(name, folder, f"{prefix}-labels-idx1-ubyte.gz", download, get)
    expected = DATASETS[name]
    count = expected.sizes[split]
    # The official files hold exactly this much; a header announcing more is refused unread.
    images = read_idx(image_path, max_bytes=count * math.prod(expected.image_shape))
    labels = read_idx(label_path, max_bytes=count * 8)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{image_path}: expected uint8 images (m, n_H, n_W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"{label_path}: expected integer labels (m,), got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path.name} holds {len(images)} images but {label_path.name} holds"
            f" {len(labels)} labels"
        )
    return images[..., None], labels.astype(np.int64)


def _load_cifar10(
    folder: Path, split: str, download: bool, get: Fetcher
) -> tuple[np.ndarray, np.ndarray]:
    batches_folder = folder / _CIFAR_FOLDER
    paths = [batches_folder / b for b in _CIFAR_BATCHES[split]]
    if not all(p.is_file() for p in paths):
        archive = _local_or_fetched("cifar10", folder, "cifar-10-binary.tar.gz", download, get)
        _extract_cifar10(archive, folder)
    parts = [read_cifar10(p, max_records=_CIFAR_RECORDS) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _extract_cifar10(archive: Path, folder: Path) -> None:
    """Extract only the six expected batch files, as regular files of the expected size."""
    remote = REMOTE_FILES["cifar10"]["cifar-10-binary.tar.gz"]
    if not verify(archive, remote.digests):
        raise DataError(f"{archive}: checksum mismatch; delete it to download it again")
    target = folder / _CIFAR_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for batch in _CIFAR_BATCHES["train"] + _CIFAR_BATCHES["test"]:
                member = tar.getmember(f"{_CIFAR_FOLDER}/{batch}")
                if (
                    not member.isfile()
                    or not 0 < member.size <= _CIFAR_MAX_BATCH_BYTES
                    or member.size % 3073
                ):
                    raise DataError(
                        f"{archive}: {member.name} is not a regular file of whole 3073-byte"
                        f" records (at most {_CIFAR_MAX_BATCH_BYTES} bytes)"
                    )
                source = tar.extractfile(member)
                handle, temporary = tempfile.mkstemp(dir=target, suffix=".part")
                try:
                    with os.fdopen(handle, "wb") as out:
                        while chunk := source.read(1 << 20):
                            out.write(chunk)
                    os.replace(temporary, target / batch)
                finally:
                    if os.path.exists(temporary):
                        os.unlink(temporary)
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise DataError(f"{archive}: cannot extract the CIFAR-10 batches ({error})") from None


def _check_pair(name: str, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    expected = DATASETS[name]
    if images.shape[1:] != expected.image_shape:
        raise DataError(
            f"{name} {split}: images have shape {images.shape[1:]}, expected {expected.image_shape}"
        )
    bad = (labels < 0) | (labels >= len(expected.classes))
    if bad.any():
        raise DataError(
            f"{name} {split}: {int(bad.sum())} labels outside 0..{len(expected.classes) - 1},"
            f" e.g. {labels[bad][:3].tolist()}"
        )
