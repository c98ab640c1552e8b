"""Fine-tuning runs: --init-from, --new-head and --freeze-until; their checkpoints; resume."""

from pathlib import Path

import numpy as np
import pytest

import convmath as cm
from convmath import data, models
from convmath.cli import main
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.run import TrainConfig, load_trained, run_training

Image = pytest.importorskip("PIL.Image")

QUIET = {"log": lambda _: None}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A digits_cnn trained on the digits for 2 epochs (10 classes)."""
    out = tmp_path_factory.mktemp("source")
    run_training(TrainConfig(epochs=2, seed=1), out, **QUIET)
    return out / "best.safetensors"


@pytest.fixture(scope="module")
def saved_layers(tmp_path_factory) -> Path:
    """A model of convmath.nn's layers (no name) fitted on digits 0-4, saved from Python."""
    rng = np.random.default_rng(0)
    model = cm.nn.Sequential(
        {
            "conv": cm.nn.Conv2D(1, 8, 3, padding=1, rng=rng),
            "bn": cm.nn.BatchNorm2D(8),
            "relu": cm.nn.ReLU(),
            "pool": cm.nn.MaxPool2D(2),
            "flatten": cm.nn.Flatten(),
            "fc1": cm.nn.Dense(128, 32, rng=rng),
            "relu1": cm.nn.ReLU(),
            "head": cm.nn.Dense(32, 5, rng=rng),
        }
    )
    images, labels = data.load("digits", "train")
    keep = labels < 5
    result = cm.fit(model, (images[keep], labels[keep]), epochs=3, max_value=16, **QUIET)
    path = tmp_path_factory.mktemp("saved") / "five.safetensors"
    return cm.save(model, path, preprocessing=result.preprocessing, dataset="digits")


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory) -> Path:
    """An image folder of three classes (digits 0, 1, 2 as 8x8 PNG files), train and test."""
    root = tmp_path_factory.mktemp("folder")
    images, labels = data.load("digits", "train")
    for split, part in (("train", slice(0, 1200)), ("test", slice(1200, None))):
        for k, (image, label) in enumerate(zip(images[part], labels[part], strict=True)):
            if label < 3:
                folder = root / split / f"digit{label}"
                folder.mkdir(parents=True, exist_ok=True)
                pixels = (image[..., 0].astype(np.float32) * 255 / 16).round().astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{k}.png")
    return root


def test_a_class_count_that_differs_is_refused_naming_new_head(source, three_classes, tmp_path):
    config = TrainConfig(dataset=str(three_classes), init_from=str(source), epochs=1)
    with pytest.raises(
        InvalidArgumentError, match=r"gives 10 class scores .* 3 classes; pass --new"
    ):
        run_training(config, tmp_path, **QUIET)
    assert not (tmp_path / "last.safetensors").exists()


def test_a_named_model_gets_a_new_head_and_stays_that_named_model(source, three_classes, tmp_path):
    lines: list[str] = []
    config = TrainConfig(
        dataset=str(three_classes),
        init_from=str(source),
        new_head=True,
        freeze_until="fc1",
        epochs=2,
        augment="none",
    )
    result = run_training(config, tmp_path, log=lines.append)
    banner = "\n".join(lines)
    assert "new head: Dense 'fc2' 64 -> 10 replaced by a fresh Dense 64 -> 3" in banner
    # conv1 3*3*1*16, bn1 2*16, conv2 3*3*16*32, bn2 2*32; fc1 (512+1)*64, fc2 (64+1)*3
    assert "frozen: the layers before 'fc1' (4,848 parameters, their batch norms on their" in banner
    assert "33,027 of 37,875 parameters train" in banner
    model, preprocessing, stored = load_trained(tmp_path / "last.safetensors")
    assert stored["model"]["name"] == "digits_cnn"
    assert stored["model"]["num_classes"] == 3
    assert preprocessing.classes == ("digit0", "digit1", "digit2")
    start, start_preprocessing, _ = load_trained(source)
    np.testing.assert_array_equal(preprocessing.mean, start_preprocessing.mean)  # kept
    before, after = start.state_dict(), model.state_dict()
    for name in ("conv1.W", "bn1.gamma", "bn1.running_mean", "conv2.W", "bn2.running_var"):
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert not np.array_equal(after["fc1.W"], before["fc1.W"])
    assert result.metrics["trained_parameters"] == 33_027
    assert result.test.accuracy > 0.8  # three classes: chance is 1/3


def test_a_model_saved_as_layers_fine_tunes_and_resumes(saved_layers, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--init-from", saved_layers, "--new-head", "--freeze-until", "fc1",
            "--epochs", "1", "--augment", "none", "--lr", "0.01", "--out", out]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "five.safetensors, fine-tuned on digits"
    assert "new head: Dense 'head' 32 -> 5 replaced by a fresh Dense 32 -> 10" in printed
    model, _, stored = load_trained(out / "last.safetensors")
    assert stored["model"]["name"] == "layers"  # its layers, recorded as data
    assert main(["train", "--resume", str(out / "last.safetensors"), "--epochs", "2"]) == 0
    resumed, _, stored = load_trained(out / "last.safetensors")
    assert stored["training"].epochs == 2
    source, _, _ = load_trained(saved_layers)
    for name in ("conv.W", "conv.b", "bn.gamma", "bn.running_var"):  # frozen through the resume
        np.testing.assert_array_equal(resumed.state_dict()[name], source.state_dict()[name])
    assert not np.array_equal(resumed.state_dict()["fc1.W"], model.state_dict()["fc1.W"])
    for command in (["summary"], ["explain"], ["evaluate"]):
        assert main([*command, str(out / "best.safetensors")]) == 0, command


def test_freeze_until_an_unknown_layer_is_one_line_with_the_closest_name(source, capsys, tmp_path):
    argv = ["train", "--init-from", str(source), "--freeze-until", "fc3", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no layer named 'fc3' to freeze until" in err
    assert "did you mean 'fc2'?" in err
    assert err.count("\n") == 1


def test_a_model_made_for_other_images_is_refused_with_what_would_fit(source, tmp_path):
    config = TrainConfig(dataset="mnist", init_from=str(source), data_dir="/nonexistent")
    with pytest.raises(ShapeError, match=r"takes images of 8x8x1, and mnist images are 28x28x1"):
        run_training(config, tmp_path, **QUIET)


def test_new_head_without_init_from_is_refused():
    with pytest.raises(InvalidArgumentError, match="--new-head with --init-from"):
        TrainConfig(new_head=True).checked()


def test_named_models_end_in_a_head_that_can_be_replaced():
    for name, shape in models.INPUT_SHAPES.items():
        model = models.build(name, shape, 10, rng=np.random.default_rng(0))
        tuned, said = cm.nn.transfer.replace_head(model, shape, 4, rng=np.random.default_rng(0))
        assert tuned.output_shape(shape) == (4,), name
        assert "replaced by a fresh" in said
