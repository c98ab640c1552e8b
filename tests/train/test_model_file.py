"""convmath.save and convmath.load: one model file, written from Python, read by every command."""

import numpy as np
import pytest

import convmath as cm
from convmath import data, models, nn
from convmath.cli import main
from convmath.train import classify, fit


def inline_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2D(1, 4, 3, padding="same", rng=rng), nn.BatchNorm2D(4), nn.ReLU(),
        nn.MaxPool2D(2), nn.Dropout(0.1, rng=rng), nn.Flatten(), nn.Dense(4 * 4 * 4, 10, rng=rng),
    ).name_modules()  # fmt: skip


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A CNN put together in Python, trained with fit on the raw digits, saved with save."""
    images, labels = data.load("digits", "train")
    model = inline_cnn()
    train = (images[:600], labels[:600])
    result = fit(model, train, epochs=2, lr=3e-3, max_value=16, log=lambda line: None)
    path = tmp_path_factory.mktemp("saved") / "cnn.safetensors"
    assert cm.save(model, path, preprocessing=result.preprocessing, dataset="digits") == path
    return path, model, images[600:700]


def test_load_gives_the_model_back_with_the_same_numbers(saved):
    path, model, images = saved
    loaded, preprocessing, config = cm.load(path)
    assert config["model"]["name"] == "layers"
    assert config["dataset"] == "digits"
    assert preprocessing.input_shape == (8, 8, 1)
    assert preprocessing.scale == 1 / 16
    assert [type(m).__name__ for m in loaded] == [type(m).__name__ for m in model]
    expected = classify(model, images, max_value=16)[1]
    np.testing.assert_array_equal(classify(loaded, images, max_value=16)[1], expected)


def test_every_command_reads_a_file_saved_from_python(saved, tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    path = str(saved[0])
    picture = tmp_path / "digit.png"
    Image.fromarray((saved[2][0, ..., 0] * 15).astype(np.uint8)).save(picture)
    commands = {
        "summary": ["summary", path],
        "explain": ["explain", path],
        "evaluate": ["evaluate", path],
        "predict": ["predict", path, str(picture)],
        "featuremaps": ["featuremaps", path, str(picture), "--out", str(tmp_path / "maps.png")],
    }
    for name, command in commands.items():
        assert main(command) == 0, name
        out = capsys.readouterr().out
        assert out.strip(), name
    assert (tmp_path / "maps.png").is_file()


def test_export_and_serve_read_it_too(saved, tmp_path, capsys):
    pytest.importorskip("onnx")
    from convmath.serve.served import ServedModel

    assert main(["export", str(saved[0]), "--out", str(tmp_path / "cnn.onnx")]) == 0
    assert (tmp_path / "cnn.onnx").is_file()
    served = ServedModel.load(saved[0])
    answer = served.forward({"pixels": (saved[2][0] / 16).tolist()})
    assert len(answer["probabilities"]) == 10


def test_a_named_model_is_saved_by_its_name(tmp_path):
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    cm.save(model, tmp_path / "named.safetensors", classes=list("0123456789"))
    loaded, preprocessing, config = cm.load(tmp_path / "named.safetensors")
    assert config["model"]["name"] == "digits_cnn"
    assert config["dataset"] is None
    assert preprocessing.classes == tuple("0123456789")
    x = np.random.default_rng(1).random((3, 8, 8, 1), dtype=np.float32)
    model.eval()
    np.testing.assert_array_equal(loaded(cm.Tensor(x)).data, model(cm.Tensor(x)).data)


def test_save_refuses_what_no_command_could_read(tmp_path, saved):
    model = saved[1]

    class Mine(nn.Module):
        def forward(self, x):
            return x

    mine = nn.Sequential(Mine(), nn.Flatten())
    with pytest.raises(cm.InvalidArgumentError, match=r"not a layer of convmath\.nn"):
        cm.save(mine, tmp_path / "m.safetensors", input_shape=(2, 2, 1))
    with pytest.raises(cm.InvalidArgumentError, match="needs the input shape"):
        cm.save(model, tmp_path / "m.safetensors")
    with pytest.raises(cm.InvalidArgumentError, match="exists; pass overwrite=True"):
        cm.save(model, saved[0], input_shape=(8, 8, 1))
    with pytest.raises(cm.InvalidArgumentError, match=r"\.safetensors file"):
        cm.save(model, tmp_path / "m.pt", input_shape=(8, 8, 1))
    with pytest.raises(
        cm.ShapeError, match=r"gives \(10,\) per example, the preprocessing names 2 classes"
    ):
        cm.save(model, tmp_path / "m.safetensors", input_shape=(8, 8, 1), classes=["a", "b"])
    assert not list(tmp_path.glob("m.*"))


def test_a_bare_state_dict_says_how_to_save_one_the_commands_read(saved, tmp_path, capsys):
    from safetensors.numpy import save_file

    bare = tmp_path / "bare.safetensors"
    save_file(saved[1].state_dict(), str(bare))
    assert main(["predict", str(bare), str(bare)]) == 2
    error = capsys.readouterr().err
    assert "convmath.save(model, path" in error
    assert len(error.splitlines()) == 1


def test_a_stored_architecture_names_only_convmath_layers(saved, tmp_path):
    from convmath.train.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(saved[0])
    checkpoint.config["model"]["architecture"]["layer"] = "os.system"
    save_checkpoint(tmp_path / "hostile.safetensors", checkpoint)
    with pytest.raises(cm.CheckpointError, match=r"not one of convmath\.nn's"):
        cm.load(tmp_path / "hostile.safetensors")


def test_a_model_changed_after_it_was_built_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Flatten(), nn.Dense(64, 10, rng=rng), nn.ReLU()).name_modules()
    model.layers["2"] = nn.Tanh()  # the recorded arguments still say ReLU
    with pytest.raises(cm.InvalidArgumentError, match="2 is a Tanh, its arguments build a ReLU"):
        cm.save(model, tmp_path / "changed.safetensors", input_shape=(8, 8, 1))
    assert not (tmp_path / "changed.safetensors").exists()


def test_save_never_writes_a_file_load_would_refuse(tmp_path):
    layer = nn.ReLU()
    for _ in range(8):
        layer = nn.Sequential({"inner": layer})
    model = nn.Sequential(nn.Flatten(), layer, nn.Dense(64, 10, rng=np.random.default_rng(0)))
    with pytest.raises(cm.CheckpointError, match=r"nests \d+ deep"):
        cm.save(model, tmp_path / "deep.safetensors", input_shape=(8, 8, 1))
    assert not (tmp_path / "deep.safetensors").exists()


@pytest.mark.parametrize(
    "tree",
    [
        {"layer": "Graph", "args": [[1], "x", "y"], "kwargs": {}},
        {"layer": "Sequential", "args": [{"module": {"layer": "Concatenate", "args": ["x"],
                                                     "kwargs": {}}}], "kwargs": {}},
        {"layer": "Sequential", "args": [7], "kwargs": {}},
    ],
)  # fmt: skip
def test_a_hostile_architecture_is_one_line_status_2(saved, tmp_path, capsys, tree):
    from convmath.train.checkpoint import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(saved[0])
    checkpoint.config["model"]["architecture"] = tree
    save_checkpoint(tmp_path / "hostile.safetensors", checkpoint)
    assert main(["summary", str(tmp_path / "hostile.safetensors")]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1
    assert "cannot rebuild the model" in error


def test_a_dataset_named_at_save_must_be_scaled_as_the_model_was_trained(saved, tmp_path):
    model = saved[1]
    with pytest.raises(cm.InvalidArgumentError, match=r"fit\(\.\.\., max_value=16\)"):
        cm.save(model, tmp_path / "m.safetensors", input_shape=(8, 8, 1), dataset="digits")
    assert not (tmp_path / "m.safetensors").exists()
