"""Train / dev / test splits over indices: disjoint, covering the data exactly, seeded."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from convmath.errors import InvalidArgumentError


class Split(NamedTuple):
    """Sorted index arrays of the three parts."""

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


def _part_size(value: float | int, total: int, name: str) -> int:
    """A fraction in [0, 1) of ``total`` (rounded), or a count."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be a fraction or a count, got {value!r}")
    if isinstance(value, int | np.integer):
        count = int(value)
    else:
        if not 0.0 <= value < 1.0:
            raise InvalidArgumentError(
                f"{name} as a fraction must be in [0, 1), got {value!r} (give an int for a count)"
            )
        count = round(float(value) * total)
    if count < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, got {value!r}")
    return count


def _share_out(total: int, class_sizes: np.ndarray) -> np.ndarray:
    """Split ``total`` (<= the sum of sizes) among classes in proportion to their sizes.

    Largest-remainder rounding, so the counts add up to ``total`` exactly and
    no class gives more than it has.
    """
    exact = total * class_sizes / max(int(class_sizes.sum()), 1)
    counts = np.minimum(np.floor(exact).astype(np.int64), class_sizes)
    order = np.argsort(-(exact - counts), kind="stable")
    deficit = total - int(counts.sum())
    while deficit > 0:
        for k in order:
            if deficit and counts[k] < class_sizes[k]:
                counts[k] += 1
                deficit -= 1
    return counts


def train_dev_test_split(
    labels_or_count: np.ndarray | int,
    *,
    dev: float | int = 0.1,
    test: float | int = 0.0,
    rng: np.random.Generator,
    stratify: bool = False,
) -> Split:
    """Split indices 0..m-1 into train, dev and test parts.

    ``dev`` and ``test`` are fractions in [0, 1) of m or counts; the train
    part is the rest. The parts are disjoint and together cover 0..m-1. With
    ``stratify=True`` (labels required) every class is split in the same
    proportions, the counts shared out by largest remainder so the totals are
    exact. For a named dataset keep its official test split and carve only
    the dev part from the training split (``test=0``).
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError("train_dev_test_split needs rng=np.random.default_rng(seed)")
    if isinstance(labels_or_count, int | np.integer):
        m = int(labels_or_count)
        labels = None
    else:
        labels = np.asarray(labels_or_count)
        if labels.ndim != 1:
            raise InvalidArgumentError(f"labels must be 1-D (m,), got shape {labels.shape}")
        m = len(labels)
    n_dev = _part_size(dev, m, "dev")
    n_test = _part_size(test, m, "test")
    if n_dev + n_test > m:
        raise InvalidArgumentError(
            f"dev ({n_dev}) + test ({n_test}) is more than the {m} examples available"
        )
    if stratify:
        if labels is None:
            raise InvalidArgumentError("stratify=True needs the labels, not a count")
        classes, inverse = np.unique(labels, return_inverse=True)
        members = [np.flatnonzero(inverse == k) for k in range(len(classes))]
        sizes = np.array([len(g) for g in members])
        dev_counts = _share_out(n_dev, sizes)
        test_counts = _share_out(n_test, sizes - dev_counts)
        parts: list[list[np.ndarray]] = [[], [], []]
        for group, n_d, n_t in zip(members, dev_counts, test_counts, strict=True):
            shuffled = rng.permutation(group)
            parts[1].append(shuffled[:n_d])
            parts[2].append(shuffled[n_d : n_d + n_t])
            parts[0].append(shuffled[n_d + n_t :])
        train, dev_idx, test_idx = (np.sort(np.concatenate(p)) for p in parts)
    else:
        order = rng.permutation(m)
        dev_idx = np.sort(order[:n_dev])
        test_idx = np.sort(order[n_dev : n_dev + n_test])
        train = np.sort(order[n_dev + n_test :])
    return Split(train, dev_idx, test_idx)
