"""A model of the user's own code, ``--model package.module:function``, in every command."""

import sys
import textwrap

import pytest

from convmath import models
from convmath.cli import main
from convmath.errors import CheckpointError, InvalidArgumentError
from convmath.run import load_trained

BUILDER = """
from pathlib import Path

from convmath.nn import Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential

Path("imported.txt").write_text("the module ran")  # shows whether the module was imported

def tiny(input_shape, num_classes, *, rng, width=4):
    n_H, n_W, n_C = input_shape
    return Sequential({
        "conv": Conv2D(n_C, width, 3, padding="same", rng=rng),
        "relu": ReLU(),
        "pool": MaxPool2D(2),
        "flatten": Flatten(),
        "fc": Dense(width * (n_H // 2) * (n_W // 2), num_classes, rng=rng),
    })

NOT_A_FUNCTION = 3

def not_a_module(input_shape, num_classes, *, rng):
    return "a string"
"""


@pytest.fixture
def own(tmp_path, monkeypatch):
    """A folder holding ``ownnets.py``, as the current directory; the module is forgotten after."""
    (tmp_path / "ownnets.py").write_text(textwrap.dedent(BUILDER))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "ownnets", raising=False)
    yield tmp_path
    sys.modules.pop("ownnets", None)


@pytest.fixture
def trained(own):
    """``convmath train --model ownnets:tiny --width 6`` for 2 epochs; the module forgotten."""
    out = own / "run"
    argv = ["train", "--model", "ownnets:tiny", "--width", "6", "--epochs", "2", "--out", str(out)]
    assert main([*argv, "--train-limit", "300"]) == 0
    sys.modules.pop("ownnets", None)
    (own / "imported.txt").unlink()
    return out


def test_summary_explain_and_gradcheck_build_a_model_from_its_import_path(own, capsys):
    assert main(["summary", "ownnets:tiny", "--input-shape", "8,8,1"]) == 0
    out = capsys.readouterr().out
    assert "ownnets:tiny on 8x8x1" in out
    assert "690 parameters" in out  # conv 3*3*1*4 + 4, fc 64*10 + 10
    assert main(["explain", "ownnets:tiny", "--input-shape", "8,8,1", "--backward"]) == 0
    assert "dW" in capsys.readouterr().out
    assert main(["gradcheck", "ownnets:tiny", "--input-shape", "8,8,1"]) == 0
    assert "PASS: 5 of 5 tensors agree" in capsys.readouterr().out


def test_the_checkpoint_remembers_the_path_and_its_options(trained):
    model, _, config = load_trained(trained / "best.safetensors", trust_code=True)
    assert config["model"]["name"] == "ownnets:tiny"
    assert config["model"]["options"] == {"width": 6}
    assert config["training"].model == "ownnets:tiny"
    assert model["conv"].W.shape == (3, 3, 1, 6)


def test_the_default_folder_names_the_model_with_dots(own, capsys):
    argv = ["train", "--model", "ownnets:tiny", "--epochs", "1", "--train-limit", "100"]
    assert main(argv) == 0
    assert (own / "runs" / "digits-ownnets.tiny" / "last.safetensors").is_file()


def test_reading_the_checkpoint_imports_nothing_without_trust_code(trained, capsys):
    checkpoint = str(trained / "best.safetensors")
    for argv in (
        ["evaluate", checkpoint],
        ["explain", checkpoint],
        ["export", checkpoint],
        ["filters", checkpoint],
        ["train", "--resume", str(trained / "last.safetensors"), "--epochs", "3"],
    ):
        assert main(argv) == 2, argv
        error = capsys.readouterr().err
        assert "its model is built by the code ownnets:tiny" in error, argv
        assert "pass --trust-code" in error
        assert len(error.splitlines()) == 1
    assert not (trained.parent / "imported.txt").exists()
    assert "ownnets" not in sys.modules


def test_with_trust_code_the_commands_rebuild_it(trained, capsys):
    checkpoint = str(trained / "best.safetensors")
    assert main(["evaluate", checkpoint, "--trust-code"]) == 0
    assert "on digits test (359 images)" in capsys.readouterr().out
    assert (trained.parent / "imported.txt").exists()
    assert main(["export", checkpoint, "--format", "torch", "--trust-code"]) == 0  # no extra
    assert "saved " in capsys.readouterr().out
    resume = ["train", "--resume", str(trained / "last.safetensors"), "--epochs", "3"]
    assert main([*resume, "--trust-code"]) == 0
    assert "epoch   3/3" in capsys.readouterr().out


def test_with_trust_code_the_onnx_export_rebuilds_it(trained, capsys):
    pytest.importorskip("onnx", reason="ONNX export needs the onnx extra")
    assert main(["export", str(trained / "best.safetensors"), "--trust-code"]) == 0
    assert "saved " in capsys.readouterr().out


def test_fine_tuning_trusts_the_code_of_the_runs_own_model_only(trained, capsys):
    start = ["--init-from", str(trained / "best.safetensors"), "--epochs", "1"]
    limit = ["--train-limit", "100", "--out", str(trained.parent / "tuned")]
    own = ["train", "--model", "ownnets:tiny", "--width", "6", *start, *limit]
    assert main(own) == 0
    capsys.readouterr()
    assert main(["train", *start, *limit, "--overwrite"]) == 2  # the default digits_cnn
    assert "its model is built by the code ownnets:tiny" in capsys.readouterr().err


def test_the_python_api_trusts_all_code_or_one_path(trained):
    checkpoint = trained / "best.safetensors"
    with pytest.raises(CheckpointError, match="built by the code ownnets:tiny"):
        load_trained(checkpoint)
    with pytest.raises(CheckpointError, match="built by the code ownnets:tiny"):
        load_trained(checkpoint, trust_code="othernets:tiny")
    assert "ownnets" not in sys.modules
    model, _, _ = load_trained(checkpoint, trust_code="ownnets:tiny")
    assert model["fc"].W.shape == (96, 10)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nosuchmodule_xyz:tiny", "cannot import nosuchmodule_xyz"),
        ("ownnets:huge", "ownnets has no huge"),
        ("ownnets:NOT_A_FUNCTION", "NOT_A_FUNCTION is a int, not a function"),
        ("ownnets:not_a_module", "returned a str, expected a convmath.nn Module"),
        ("ownnets:tiny --depth 20", "does not take the options {'depth': 20}"),
    ],
)
def test_a_path_that_builds_no_model_is_refused_in_one_line(own, capsys, path, message):
    assert main(["train", "--model", *path.split(), "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert len(error.splitlines()) == 1


@pytest.mark.parametrize(
    "text", ["ownnets", "ownnets:", ":tiny", "own nets:tiny", "ownnets:tiny()", "a/b:c", "1x:y"]
)
def test_what_is_not_an_import_path_is_not_imported(own, text, capsys):
    assert not models.is_import_path(text)
    assert main(["train", "--model", text]) == 2
    assert "an import path package.module:function" in capsys.readouterr().err
    with pytest.raises(InvalidArgumentError, match="an import path"):
        models.import_builder(text)


def test_the_search_path_is_left_as_it_was(own, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(own))])
    before = list(sys.path)
    assert callable(models.import_builder("ownnets:tiny"))
    assert sys.path == before


def test_code_slipped_into_the_training_settings_alone_is_never_imported(own, capsys):
    """A crafted checkpoint: a named model stored, an import path in its training settings."""
    import dataclasses

    from convmath.train.checkpoint import load_checkpoint, save_checkpoint

    out = own / "run"
    assert main(["train", "--epochs", "1", "--train-limit", "100", "--out", str(out)]) == 0
    checkpoint = load_checkpoint(out / "last.safetensors")
    training = checkpoint.config["training"]
    checkpoint.config["training"] = training | {"model": "ownnets:tiny"}
    save_checkpoint(out / "crafted.safetensors", dataclasses.replace(checkpoint))
    capsys.readouterr()
    argv = ["train", "--resume", str(out / "crafted.safetensors"), "--epochs", "2"]
    assert main(argv) == 2
    assert "training settings name the model 'ownnets:tiny'" in capsys.readouterr().err
    assert main([*argv, "--trust-code"]) == 2  # trusted or not, a mismatch is refused unbuilt
    assert not (own / "imported.txt").exists()
    assert "ownnets" not in sys.modules
