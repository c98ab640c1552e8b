"""Prefetched batches: the same bits as a plain loop, errors where they belong, no thread left."""

import threading

import numpy as np
import pytest

import convmath as cm
from convmath import data
from convmath.data.augment.spec import parse_augment
from convmath.data.prefetch import prefetched


def batches(seed):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 12, 12), dtype=np.uint8)
    labels = rng.integers(0, 10, 300)
    transform = parse_augment("crop:2,rotate:10,zoom:0.1,elastic:8", (12, 12, 1))
    return data.Batches(images, labels, 32, rng=np.random.default_rng(seed), transform=transform)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "convmath-prefetch"]


@pytest.mark.parametrize("ahead", [1, 3])
def test_the_same_batches_and_generator_state_as_a_plain_loop(ahead):
    plain, ahead_of_time = batches(7), batches(7)
    for _ in range(2):  # two epochs: the second starts from the state the first left
        want = list(plain)
        got = list(prefetched(ahead_of_time, ahead))
        assert len(got) == len(want) == 10
        for (X, y), (X_want, y_want) in zip(got, want, strict=True):
            np.testing.assert_array_equal(X, X_want)
            np.testing.assert_array_equal(y, y_want)
    assert ahead_of_time.rng.bit_generator.state == plain.rng.bit_generator.state
    assert prefetch_threads() == []


def test_an_error_while_making_is_raised_at_its_place():
    def items():
        yield 1
        yield 2
        raise ValueError("batch 3 is broken")

    got = []

    def take_all():
        for item in prefetched(items()):
            got.append(item)

    with pytest.raises(ValueError, match="batch 3 is broken"):
        take_all()
    assert got == [1, 2]
    assert prefetch_threads() == []


def test_leaving_early_stops_the_thread_before_it_draws_more():
    made = []

    def items():
        for k in range(1000):
            made.append(k)
            yield k

    for item in prefetched(items(), ahead=2):
        if item == 4:
            break
    assert prefetch_threads() == []  # joined when the loop left
    assert len(made) <= 5 + 2 + 1  # what was taken, what the queue held, one on its way
    count = len(made)
    threading.Event().wait(0.3)
    assert len(made) == count  # nothing drawn afterwards


def test_an_error_in_the_loop_body_stops_the_thread():
    def train():
        for _ in prefetched(iter(range(100_000))):
            raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError, match="the step failed"):
        train()
    assert prefetch_threads() == []


def test_ahead_must_be_a_positive_count_and_is_checked_at_once():
    with pytest.raises(cm.InvalidArgumentError, match="ahead must be an int >= 1, got 0"):
        prefetched([1], ahead=0)
    with pytest.raises(cm.InvalidArgumentError, match="got True"):
        prefetched([1], ahead=True)


def test_the_thread_makes_items_in_the_callers_settings():
    def items():
        yield cm.current_settings().kernels

    with cm.settings(kernels=False):
        assert list(prefetched(items())) == [False]
    assert list(prefetched(items())) == [True]
