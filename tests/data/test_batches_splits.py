"""Mini-batches and train/dev/test splits."""

import numpy as np
import pytest

import convmath as cm
from convmath import data


def toy_set(m=10, side=4, channels=None):
    shape = (m, side, side) if channels is None else (m, side, side, channels)
    images = (np.arange(m * side * side * (channels or 1)) % 256).astype(np.uint8).reshape(shape)
    return images, np.arange(m) % 3


def test_batches_cover_every_example_once_per_epoch():
    images, labels = toy_set(10)
    batches = data.Batches(images, labels, 4, rng=np.random.default_rng(0))
    assert len(batches) == 3
    seen = []
    for X, y in batches:
        assert X.dtype == np.float32
        assert X.shape[1:] == (4, 4, 1)
        assert y.dtype == np.int64
        seen += [int(x[0, 0, 0] * 255 + 0.5) for x in X]
    assert sorted(seen) == sorted(images[:, 0, 0].tolist())
    assert [len(y) for _, y in batches] == [4, 4, 2]


def test_each_epoch_reshuffles_and_a_seed_repeats_the_run():
    images, labels = toy_set(40)

    def epochs(seed):
        batches = data.Batches(images, labels, 8, rng=np.random.default_rng(seed))
        return [np.concatenate([y for _, y in batches]) for _ in range(2)]

    first, second = epochs(1)
    assert not np.array_equal(first, second)
    for a, b in zip(epochs(1), epochs(1), strict=True):
        np.testing.assert_array_equal(a, b)


def test_drop_last_and_no_shuffle():
    images, labels = toy_set(10)
    batches = data.Batches(images, labels, 4, shuffle=False, drop_last=True)
    assert len(batches) == 2
    ys = [y for _, y in batches]
    np.testing.assert_array_equal(np.concatenate(ys), labels[:8])


def test_normalisation_and_scale():
    images, labels = toy_set(6, channels=3)
    mean, std = data.channel_stats(images, 1 / 255)
    batches = data.Batches(images, labels, 6, shuffle=False, mean=mean, std=std)
    X, _ = next(iter(batches))
    np.testing.assert_allclose(X.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=(0, 1, 2)), 1, atol=1e-4)
    digits = data.Batches(images, labels, 6, shuffle=False, scale=1 / 16)
    np.testing.assert_allclose(next(iter(digits))[0], images.astype(np.float32) / 16)


def test_batches_keep_a_view_not_a_copy():
    images, labels = toy_set(10)
    batches = data.Batches(images, labels, 4, rng=np.random.default_rng(0))
    assert np.shares_memory(batches.images, images)


def test_batches_apply_the_transform_with_the_same_rng():
    images, labels = toy_set(8)
    flip = data.augment.RandomFlip(horizontal=1.0)
    X, _ = next(
        iter(
            data.Batches(
                images, labels, 8, shuffle=False, transform=flip, rng=np.random.default_rng(0)
            )
        )
    )
    np.testing.assert_allclose(X, images[..., None][:, :, ::-1].astype(np.float32) / 255)


def test_batches_errors():
    images, labels = toy_set(10)
    with pytest.raises(cm.ShapeError, match=r"labels must have shape \(10,\)"):
        data.Batches(images, labels[:5], 4, rng=np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="batch_size"):
        data.Batches(images, labels, 0, rng=np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="rng"):
        data.Batches(images, labels, 4)
    with pytest.raises(cm.InvalidArgumentError, match="std must be > 0"):
        data.Batches(images, labels, 4, shuffle=False, std=0.0)


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize(("dev", "test"), [(0.1, 0.2), (7, 13), (0, 0.25), (0.0, 0)])
def test_split_is_disjoint_complete_and_sized(stratify, dev, test):
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    parts = data.train_dev_test_split(
        labels, dev=dev, test=test, rng=np.random.default_rng(3), stratify=stratify
    )
    together = np.concatenate(parts)
    assert len(together) == 100
    assert len(np.unique(together)) == 100
    expected_dev = dev if isinstance(dev, int) else round(dev * 100)
    expected_test = test if isinstance(test, int) else round(test * 100)
    assert (len(parts.dev), len(parts.test)) == (expected_dev, expected_test)
    if stratify and expected_test == 20:
        np.testing.assert_array_equal(np.bincount(labels[parts.test]), [8, 6, 4, 2])


def test_split_is_seeded():
    a = data.train_dev_test_split(50, dev=0.2, test=0.2, rng=np.random.default_rng(9))
    b = data.train_dev_test_split(50, dev=0.2, test=0.2, rng=np.random.default_rng(9))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_stratified_counts_stay_exact_with_tiny_classes():
    labels = np.array([0] * 9 + [1])
    parts = data.train_dev_test_split(
        labels, dev=3, test=3, rng=np.random.default_rng(0), stratify=True
    )
    assert (len(parts.train), len(parts.dev), len(parts.test)) == (4, 3, 3)


def test_split_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(cm.InvalidArgumentError, match="more than the 10 examples"):
        data.train_dev_test_split(10, dev=6, test=5, rng=rng)
    with pytest.raises(cm.InvalidArgumentError, match=r"in \[0, 1\)"):
        data.train_dev_test_split(10, dev=1.5, rng=rng)
    with pytest.raises(cm.InvalidArgumentError, match="needs the labels"):
        data.train_dev_test_split(10, dev=2, rng=rng, stratify=True)


def test_training_batches_and_evaluation_normalise_the_same_bits(mnist_dir):
    from convmath.data.preprocessing import Preprocessing

    images, labels = data.load("mnist", "test", mnist_dir)
    images, labels = images[:64], labels[:64]
    mean, std = data.channel_stats(images, 1 / 255)
    preprocessing = Preprocessing((28, 28, 1), 1 / 255, mean, std, tuple("0123456789"))
    batches = data.Batches(images, labels, 64, shuffle=False, mean=mean, std=std)
    ((X, _),) = list(batches)
    assert X.dtype == preprocessing(images).dtype == np.float32
    assert np.array_equal(X, preprocessing(images))  # not merely close: the same bits
    assert np.array_equal(batches.normalize(images), preprocessing(images))
