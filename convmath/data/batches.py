"""Mini-batches: shuffled, scaled, augmented and normalised float32 batches, channels-last."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.shapes import positive_int

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
STATS_CHUNK = 4096


def channel_stats(images: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``images * scale``.

    Accumulated in float64 over chunks, so no float copy of the whole set is
    made. Compute them on the training split only.
    """
    images = _with_channel_axis(images)
    n_C = images.shape[-1]
    total = np.zeros(n_C)
    total_sq = np.zeros(n_C)
    for start in range(0, len(images), STATS_CHUNK):
        chunk = images[start : start + STATS_CHUNK].reshape(-1, n_C).astype(np.float64) * scale
        total += chunk.sum(axis=0)
        total_sq += (chunk * chunk).sum(axis=0)
    count = images.size // n_C
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def _with_channel_axis(images: np.ndarray) -> np.ndarray:
    if images.ndim == 3:
        return images[..., None]
    if images.ndim != 4:
        raise ShapeError(f"images must be (m, n_H, n_W) or (m, n_H, n_W, n_C), got {images.shape}")
    return images


class Batches:
    """Iterate over (X, y) mini-batches; each ``iter()`` is one epoch.

    X is float32 (b, n_H, n_W, n_C) computed as
    ``(transform(images[idx] * scale) - mean) / std`` and y is int64 (b,).
    With ``shuffle`` the order is a fresh permutation from ``rng`` every
    epoch; ``drop_last`` drops a final batch shorter than ``batch_size``.
    Only the indices of one batch are copied at a time, never the whole set.

    For data-parallel training, ``share(b)`` picks this process's part of
    each batch of b examples (every process draws the same order from its
    ``rng``), and ``augment_rng`` gives the augmentation a stream of its own.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        *,
        rng: np.random.Generator | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        scale: float = 1 / 255,
        transform: Transform | None = None,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        share: Callable[[int], slice] | None = None,
        augment_rng: np.random.Generator | None = None,
    ) -> None:
        self.images = _with_channel_axis(np.asarray(images))
        self.labels = np.asarray(labels)
        if self.labels.shape != (len(self.images),):
            raise ShapeError(
                f"labels must have shape ({len(self.images)},) for {len(self.images)} images,"
                f" got {self.labels.shape}"
            )
        batch_size = positive_int(batch_size, "batch_size")
        if (shuffle or transform is not None) and not isinstance(rng, np.random.Generator):
            raise InvalidArgumentError(
                "shuffling and augmentation need rng=np.random.default_rng(seed)"
            )
        n_C = self.images.shape[-1]
        for label, stat in (("mean", mean), ("std", std)):
            if stat is not None and np.shape(stat) not in ((), (n_C,)):
                raise ShapeError(
                    f"{label} must be a scalar or have shape ({n_C},), got {np.shape(stat)}"
                )
        if std is not None and np.any(np.asarray(std) <= 0):
            raise InvalidArgumentError(f"std must be > 0, got {std!r}")
        self.batch_size = batch_size
        self.rng = rng
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.scale = np.float32(scale)
        self.transform = transform
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.std = None if std is None else np.asarray(std, dtype=np.float32)
        self.share = share
        self.augment_rng = augment_rng

    def __len__(self) -> int:
        m = len(self.images)
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        m = len(self.images)
        order = self.rng.permutation(m) if self.shuffle else None
        for k in range(len(self)):
            start = k * self.batch_size
            if order is None:
                index: slice | np.ndarray = slice(start, start + self.batch_size)
            else:
                index = np.sort(order[start : start + self.batch_size])  # sorted: faster gather
            if self.share is not None:  # this process's contiguous part of the global batch
                index = np.arange(m)[index] if isinstance(index, slice) else index
                index = index[self.share(len(index))]
            yield self.prepare(self.images[index]), self.labels[index].astype(np.int64)

    def prepare(self, raw: np.ndarray, *, augment: bool = True) -> np.ndarray:
        """Scale, augment (unless ``augment=False``) and normalise one batch of raw images."""
        batch = raw.astype(np.float32) * self.scale
        if augment and self.transform is not None:
            batch = self.transform(batch, self.augment_rng or self.rng)
        # The same float32 operations, in the same order, as Preprocessing.normalize: a
        # training batch and the same images evaluated or predicted are the same bits.
        if self.mean is not None:
            batch -= self.mean
        if self.std is not None:
            batch /= self.std
        return batch

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Scale and normalise raw images as the batches are, without augmentation."""
        return self.prepare(raw, augment=False)
