"""The one inference loop refuses what it cannot answer: too much memory, non-finite outputs."""

import numpy as np
import pytest
from PIL import Image

import convmath as cm
from convmath import nn
from convmath.cli import main
from convmath.errors import InvalidArgumentError, NonFiniteError
from convmath.train import classify, fit


def overflowing_in_its_second_conv():
    """Finite weights, each layer within float32 alone (9e20 after the first conv), whose
    second conv overflows: a build-up no check of one layer at a time can see."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2D(1, 2, 3, padding="same", rng=rng), nn.ReLU(),
        nn.Conv2D(2, 2, 3, padding="same", rng=rng), nn.Flatten(), nn.Dense(8 * 8 * 2, 10, rng=rng),
    ).name_modules()  # fmt: skip
    model[0].W.data[...] = 1e20
    model[2].W.data[...] = 1e20
    return model


def test_classify_names_the_first_layer_whose_output_is_not_finite():
    images = np.full((5, 8, 8, 1), 255, np.uint8)
    images[:2] = 0  # zeros stay finite: example 2 is the first to overflow
    with pytest.raises(NonFiniteError, match=r"example 2 .* layer 2 \(Conv2D\) is the first"):
        classify(overflowing_in_its_second_conv(), images)


def test_a_finite_model_is_answered_as_before():
    images = np.full((3, 8, 8, 1), 255, np.uint8)
    model = overflowing_in_its_second_conv()
    model[0].W.data[...] = 0.01
    model[2].W.data[...] = 0.01
    classes, probabilities = classify(model, images)
    assert classes.shape == (3,)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_evaluate_and_predict_refuse_a_saved_model_that_overflows_in_one_line(tmp_path, capsys):
    model = overflowing_in_its_second_conv()
    weights = model[0].W.data.copy(), model[2].W.data.copy()
    model[0].W.data[...] = model[2].W.data[...] = 0.01  # trained while finite, for the file
    images, labels = cm.data.load("digits", "train")
    result = fit(model, (images[:4], labels[:4]), epochs=1, lr=0.0, max_value=16, log=print)
    model[0].W.data[...], model[2].W.data[...] = weights
    path = cm.save(model, tmp_path / "big.safetensors", preprocessing=result.preprocessing,
                   dataset="digits")  # fmt: skip
    picture = tmp_path / "seven.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(picture)
    capsys.readouterr()
    for argv in (["evaluate", str(path)], ["predict", str(path), str(picture)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert "layer 2 (Conv2D) is the first to give them" in err


def test_fit_refuses_a_batch_over_the_memory_limit_before_training(monkeypatch):
    monkeypatch.setenv("CONVMATH_MAX_MEMORY", str(1 << 20))
    model = overflowing_in_its_second_conv()
    before = model[4].W.data.copy()
    images = np.zeros((4096, 8, 8, 1), np.uint8)
    with pytest.raises(InvalidArgumentError, match=r"fit: training Sequential \(batch 4,096\)"):
        fit(model, (images, np.zeros(4096, int)), batch_size=4096, log=print)
    np.testing.assert_array_equal(model[4].W.data, before)


def test_classify_refuses_a_batch_over_the_memory_limit(monkeypatch):
    monkeypatch.setenv("CONVMATH_MAX_MEMORY", str(1 << 20))
    with pytest.raises(InvalidArgumentError, match=r"evaluating Sequential \(batch 4,096\)"):
        classify(overflowing_in_its_second_conv(), np.zeros((4096, 8, 8, 1)), batch_size=4096)


def test_a_non_finite_input_is_named_as_the_input_not_blamed_on_the_weights():
    model = overflowing_in_its_second_conv()
    images = np.zeros((3, 8, 8, 1), np.float32)
    images[1, 4, 4, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"example 1 holds NaN or infinite values before"):
        classify(model, images)
