"""The messages a newcomer meets first (issue 24): close names, hints, finished runs, no litter."""

import json
import subprocess
import sys

import pytest

from convmath.cli import main


def refusal(argv: list[str], capsys) -> str:
    """The one line a refused command prints (status 2, nothing on standard output)."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["trian"],
            "convmath: error: argument COMMAND: invalid choice: 'trian' (choose from 'train',"
            " 'lr-find', 'evaluate', ",
        ),
        (
            ["train", "--epcohs", "3"],
            "convmath train: error: unrecognized arguments: --epcohs 3; did you mean"
            " '--epochs'? (see convmath train --help)",
        ),
        (
            ["train", "--optimizer", "adm"],
            "convmath train: error: argument --optimizer: invalid choice: 'adm' (choose from"
            " 'sgd', 'adam', 'adamw'); did you mean 'adam'? (see convmath train --help)",
        ),
        (["train", "--model", "lenet"], "got 'lenet'; did you mean 'lenet5'? (see convmath"),
        (["summary", "LeNet5"], "convmath summary: error: unknown model 'LeNet5'; expected a"),
        (["explain", "resnet20"], "or a checkpoint file; did you mean 'resnet'?"),
        (["train", "--dataset", "mnsit"], "convmath train: error: unknown dataset 'mnsit';"),
        (["evaluate", "x.safetensors", "--split", "tset"], "; did you mean 'test'? (see"),
    ],
)
def test_an_unknown_name_gets_the_closest_known_one_on_one_line(argv, line, capsys, tmp_path):
    said = refusal([*argv, "--out", str(tmp_path / "run")] if argv[0] == "train" else argv, capsys)
    assert line in said
    assert "; did you mean '" in said


def test_unknown_commands_say_so_with_the_closest_in_a_real_process_too(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "convmath.cli", "trian"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.endswith("; did you mean 'train'? (see convmath --help)\n")


def test_an_unknown_option_with_no_close_name_gets_no_guess(capsys):
    assert refusal(["train", "--bogus"], capsys) == (
        "convmath train: error: unrecognized arguments: --bogus (see convmath train --help)"
    )


def test_control_characters_of_a_bad_option_are_printed_escaped(capsys):
    said = refusal(["train", "--x\x1b[2J\nboom"], capsys)
    assert "--x\\x1b[2J\\nboom" in said
    assert "\x1b" not in said


def test_a_dataset_name_in_capitals_is_the_dataset(tmp_path, capsys):
    argv = ["train", "--dataset", "DIGITS", "--epochs", "1", "--train-limit", "100"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert "digits_cnn on digits" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["dataset"] == "digits"


def test_a_model_made_for_other_images_says_what_would_fit(tmp_path, capsys):
    out = tmp_path / "runs" / "lenet"
    said = refusal(["train", "--model", "lenet5", "--out", str(out)], capsys)
    assert said.startswith("convmath train: error: Conv2D 'conv2': the window does not fit")
    assert said.endswith(
        "; digits images are 8x8x1 and lenet5 is made for 28x28 images: use --dataset mnist or"
        " fashion-mnist, or --model digits_cnn (made for 8x8)"
    )
    assert not (tmp_path / "runs").exists()  # a run that failed leaves no folder it made


@pytest.mark.parametrize("command", ["summary", "explain", "gradcheck"])
def test_an_input_shape_written_channels_first_is_told_the_order(command, capsys):
    said = refusal([command, "lenet5", "--input-shape", "1,28,28"], capsys)
    assert said.endswith(
        "; --input-shape is H,W,C (channels last): for 28x28 images of 1 channel write 28,28,1"
    )
    said = refusal([command, "lenet5", "--input-shape", "3,32,32"], capsys)
    assert said.endswith("for 32x32 images of 3 channels write 32,32,3")


@pytest.fixture
def finished(tmp_path):
    """A finished run of 2 epochs."""
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--train-limit", "200", "--out", str(out)]) == 0
    return out


def files_of(folder):
    return {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()}


def test_resuming_a_finished_run_says_how_to_extend_it_and_writes_nothing(finished, capsys):
    capsys.readouterr()
    before = files_of(finished)
    last = finished / "last.safetensors"
    assert main(["train", "--resume", str(last)]) == 0
    assert capsys.readouterr().out == (
        f"{last}: the run has trained all its 2 epochs; there is nothing left to train (its"
        f" results: {finished / 'metrics.json'}). To extend it, ask for more epochs in all:"
        f" convmath train --resume {last} --epochs 4\n"
    )
    assert files_of(finished) == before
    assert main(["train", "--resume", str(last), "--epochs", "3"]) == 0  # as it says: one more
    assert "epoch   3/3" in capsys.readouterr().out


def test_resuming_a_run_that_stopped_early_says_it_is_finished(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--epochs", "30", "--train-limit", "500", "--seed", "2", "--patience", "2",
            "--dev-fraction", "0.3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0  # this seed stops early, well before 30 epochs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_early"]
    capsys.readouterr()
    before = files_of(out)
    for more in ([], ["--epochs", "40"]):
        assert main(["train", "--resume", str(out / "last.safetensors"), *more]) == 0
        said = capsys.readouterr().out
        assert f"the run stopped early after {metrics['epochs']} epochs" in said
        assert "nothing left to train" in said
        assert "a larger --patience" in said
    assert files_of(out) == before


def test_a_run_that_fails_on_its_data_leaves_no_folder_but_one_that_was_there(tmp_path, capsys):
    images = tmp_path / "images"
    for name in ("a", "b"):
        (images / name).mkdir(parents=True)
        (images / name / "0.png").write_bytes(b"not a picture")
    created = tmp_path / "out" / "run"
    refusal(["train", "--dataset", str(images), "--out", str(created)], capsys)
    assert not (tmp_path / "out").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    refusal(["train", "--dataset", str(images), "--out", str(existing)], capsys)
    assert existing.is_dir()
    assert list(existing.iterdir()) == []
