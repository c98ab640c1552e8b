"""fit and classify: training from Python in one call."""

import threading

import numpy as np
import pytest

import convmath as cm
from convmath import data, nn
from convmath.train import Trainer, classify, fit


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2D(1, 4, 3, padding="same", rng=rng), nn.ReLU(), nn.MaxPool2D(2),
        nn.Flatten(), nn.Dense(4 * 4 * 4, 10, rng=rng),
    ).name_modules()  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    images, labels = data.load("digits", "train")
    return images[:300], labels[:300]


def test_fit_learns_and_a_seed_repeats_the_run(digits):
    images, labels = digits
    x = images / 16
    runs = []
    for _ in range(2):
        model = small_cnn()
        history = fit(
            model,
            (x, labels),
            dev=(x[:100], labels[:100]),
            epochs=3,
            lr=3e-3,
            log=lambda line: None,
        ).history
        runs.append((history, np.concatenate([p.data.ravel() for p in model.parameters()])))
    (history, weights), (history_again, weights_again) = runs
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_accuracy"] > history[0]["train_accuracy"]
    assert "dev_accuracy" in history[-1]
    np.testing.assert_array_equal(weights, weights_again)
    assert history_again[-1]["train_loss"] == history[-1]["train_loss"]


def test_uint8_images_are_scaled_by_1_over_255(digits):
    images = digits[0]
    as_uint8 = (images * 15).astype(np.uint8)
    model = small_cnn()
    classes, probabilities = classify(model, as_uint8)
    same, same_probabilities = classify(model, as_uint8 / 255)
    np.testing.assert_array_equal(classes, same)
    np.testing.assert_allclose(probabilities, same_probabilities, rtol=1e-6)
    assert probabilities.shape == (300, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ((np.zeros((4, 1, 8, 8)), np.zeros(4, int)), "expected n_C_prev=1"),
        ((np.zeros((4, 8, 8)), np.zeros(4, int)), "channels-last"),
        ((np.zeros((4, 8, 8, 1)), np.zeros(4)), "labels must be 4 integers"),
        ((np.zeros((4, 8, 8, 1)), np.array([0, 1, 2, 10])), "labels must be in 0..9"),
        ((np.zeros((4, 8, 8, 1)),), "a pair"),
    ],
)
def test_fit_refuses_what_it_cannot_train_on(train, message):
    with pytest.raises(cm.ConvMathError, match=message):
        fit(small_cnn(), train, epochs=1, log=lambda line: None)


def test_unknown_optimizer_or_schedule(digits):
    images, labels = digits
    with pytest.raises(cm.InvalidArgumentError, match=r"optimizer must be one of .* got .rmsprop."):
        fit(small_cnn(), (images / 16, labels), optimizer="rmsprop", log=lambda line: None)
    with pytest.raises(cm.InvalidArgumentError, match=r"schedule must be one of .* got .linear."):
        fit(small_cnn(), (images / 16, labels), schedule="linear", log=lambda line: None)


def test_fit_holds_blas_to_one_thread_while_it_trains_and_gives_it_back(digits):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    images, labels = digits
    before, during = blas_threads(), []
    fit(
        small_cnn(),
        (images / 16, labels),
        epochs=1,
        on_step=[lambda trainer, epoch, step: during.append(blas_threads())],
        log=lambda line: None,
    )
    assert during
    assert all(threads == [1] * len(before) for threads in during)
    assert blas_threads() == before


def test_max_value_scales_raw_pixels_to_the_unit_range(digits):
    images, labels = digits  # pixel counts 0-16
    model = small_cnn()
    result = fit(model, (images, labels), epochs=1, max_value=16, log=lambda line: None)
    assert result.preprocessing.scale == 1 / 16
    np.testing.assert_array_equal(
        classify(model, images, max_value=16)[1], classify(model, images / 16)[1]
    )
    with pytest.raises(cm.InvalidArgumentError, match="max_value must be a number >= 1"):
        fit(model, (images, labels), max_value=0, log=lambda line: None)


def prefetching():
    return any(t.name == "convmath-prefetch" for t in threading.enumerate())


def test_prefetched_batches_train_the_same_bits_as_batches_made_in_turn(digits):
    """The next batch is made on a thread while one trains; the weights are the same bits."""
    images, labels = digits
    trained = []
    for prefetch in (True, False):
        model, seen = small_cnn(), []
        with cm.settings(prefetch=prefetch):
            fit(
                model,
                (images[:600] / 16, labels[:600]),
                epochs=2,
                augment="crop:1,rotate:10,elastic:4",
                on_step=[lambda trainer, epoch, step, seen=seen: seen.append(prefetching())],
                log=lambda line: None,
            )
        assert any(seen) == prefetch  # the setting decides (the thread ends before the last step)
        trained.append(model.state_dict())
    assert not prefetching()
    assert trained[0].keys() == trained[1].keys()
    for name in trained[0]:
        np.testing.assert_array_equal(trained[0][name], trained[1][name], err_msg=name)


def test_a_failed_epoch_leaves_no_prefetching_thread(digits):
    """The exception is kept (as a notebook keeps the last one): the thread stopped anyway."""
    images, labels = digits

    def fail(trainer, epoch, step):
        if step == 2:
            raise RuntimeError("stop here")

    with (
        pytest.raises(RuntimeError, match="stop here") as kept,
        cm.settings(prefetch=True),
    ):
        fit(small_cnn(), (images / 16, labels), epochs=1, on_step=[fail], log=lambda line: None)
    assert kept.value is not None
    assert not prefetching()


def test_batches_that_share_a_layers_generator_are_made_in_turn(digits):
    """One generator for dropout and augmentation: the draws must keep their order."""
    images, labels = digits
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        {
            "flat": nn.Flatten(),
            "drop": nn.Dropout(0.2, rng=rng),
            "fc": nn.Dense(64, 10, rng=rng),
        }
    )
    batches = data.Batches(
        images, labels, 64, rng=rng, scale=1 / 16, transform=data.augment.RandomElastic(4)
    )
    seen = []
    trainer = Trainer(
        model,
        optimizer=cm.optim.SGD(model.parameters(), 0.1),
        train=batches,
        num_classes=10,
        epochs=1,
        on_step=[lambda trainer, epoch, step: seen.append(prefetching())],
        log=lambda line: None,
    )
    with cm.settings(prefetch=True):
        trainer.fit()
    assert seen
    assert not any(seen)
