"""Data: readers, named datasets, mini-batches, augmentation and splits. Arrays in, arrays out.

From files (or a dataset name) to shuffled, augmented, normalised float32
mini-batches in channels-last layout::

    from convmath import data
    images, labels = data.load("mnist", "train")          # uint8 (m, 28, 28, 1), int64 (m,)
    parts = data.train_dev_test_split(labels, dev=0.1, rng=rng, stratify=True)
    mean, std = data.channel_stats(images[parts.train], scale=1 / 255)
    train = data.Batches(images[parts.train], labels[parts.train], 64, rng=rng,
                         transform=data.augment.preset("standard", (28, 28, 1)),
                         mean=mean, std=std)
    for X, y in train: ...

Every reader raises :class:`DataError` for missing or bad data, naming the file.
"""

from convmath.data import augment
from convmath.data.batches import Batches, channel_stats
from convmath.data.cifar import read_cifar10
from convmath.data.datasets import (
    DATASETS,
    DatasetInfo,
    carved_test_note,
    dataset_name,
    default_data_dir,
    folder_classes,
    info,
    input_shape,
    load,
    load_folder,
)
from convmath.data.digits import load_digits
from convmath.data.folder import read_image, read_image_folder
from convmath.data.idx import read_idx
from convmath.data.splits import Split, train_dev_test_split
from convmath.errors import DataError

__all__ = [
    "DATASETS",
    "Batches",
    "DataError",
    "DatasetInfo",
    "Split",
    "augment",
    "carved_test_note",
    "channel_stats",
    "dataset_name",
    "default_data_dir",
    "folder_classes",
    "info",
    "input_shape",
    "load",
    "load_digits",
    "load_folder",
    "read_cifar10",
    "read_idx",
    "read_image",
    "read_image_folder",
    "train_dev_test_split",
]
