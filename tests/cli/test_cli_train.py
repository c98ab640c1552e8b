"""The train, evaluate, predict and summary commands."""

import contextlib
import io
import json

import numpy as np
import pytest

import convmath as cm
from convmath.cli import main
from convmath.data import load_digits

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default `convmath train` (no options but the output folder)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--out", str(out)]) == 0
    return out


def test_default_train_reaches_97_percent_on_the_digits(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.97
    assert metrics["epochs"] == 30
    assert metrics["train_seconds"] > 0  # its speed is a benchmark's (benchmarks/), not a test's
    assert metrics["config"]["model"]["name"] == "digits_cnn"
    for name in ("best.safetensors", "last.safetensors", "history.json", "history.csv"):
        assert (trained / name).is_file()


def test_train_prints_summary_progress_result_and_paths(tmp_path, capsys):
    assert main(["train", "--epochs", "2", "--train-limit", "300", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "38,330 parameters" in out
    assert "epoch   2/2" in out
    assert "test accuracy" in out
    assert f"saved {tmp_path}/best.safetensors" in out


def test_the_banner_states_every_setting_that_shapes_the_numbers(tmp_path, capsys):
    argv = ["train", "--epochs", "1", "--train-limit", "200", "--optimizer", "sgd",
            "--nesterov", "--label-smoothing", "0.2", "--clip-norm", "5", "--patience", "3",
            "--schedule", "step", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "batch 32, 1 epoch, seed 0" in out
    assert "optimizer: sgd, lr 0.05, momentum 0.9 (Nesterov), weight decay 0;" in out
    assert "schedule: step (x0.7 every 1 epoch)" in out
    assert "loss: J = softmax cross-entropy with label smoothing 0.2 (dev and test losses" in out
    assert "clipping: gradient norm at most 5; early stopping: after 3 epochs" in out
    assert "augmentation: 'crop:1'; model options (dropout, width...): none" in out
    assert "; 1 epoch in " in out  # not "1 epochs"


def test_the_curves_say_which_label_smoothing_the_training_loss_has(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from convmath.cli import inspection, training
    from convmath.inspect import plots

    titles = []
    original = plots.plot_history

    def recorded(history, path, label_smoothing=None):
        titles.append(label_smoothing)
        return original(history, path, label_smoothing)

    for command in (training, inspection):  # the commands that draw curves
        monkeypatch.setattr(command, "plot_history", recorded)
    argv = ["train", "--epochs", "1", "--train-limit", "100", "--label-smoothing", "0.05",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    assert main(["plot", str(tmp_path / "history.json"), "--out", str(tmp_path / "again.png")]) == 0
    assert titles == [0.05, 0.05]
    (tmp_path / "metrics.json").unlink()  # without the run's metrics the smoothing is unknown
    assert main(["plot", str(tmp_path / "history.json"), "--out", str(tmp_path / "j.png")]) == 0
    assert titles[-1] is None


def test_train_options_reach_the_config(tmp_path):
    argv = ["train", "--epochs", "1", "--train-limit", "200", "--optimizer", "sgd", "--lr", "0.02",
            "--momentum", "0.8", "--nesterov", "--schedule", "step", "--gamma", "0.5",
            "--augment", "crop:1,noise:0.01", "--seed", "9", "--batch-size", "16",
            "--dev-fraction", "0.2", "--weight-decay", "1e-4", "--out", str(tmp_path),
            "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    training = json.loads((tmp_path / "metrics.json").read_text())["config"]["training"]
    assert training["optimizer"] == "sgd"
    assert training["lr"] == 0.02
    assert training["nesterov"] is True
    assert training["momentum"] == 0.8
    assert training["augment"] == "crop:1,noise:0.01"
    assert (training["seed"], training["batch_size"], training["dev_fraction"]) == (9, 16, 0.2)


def test_train_without_a_dev_set(tmp_path, capsys):
    argv = ["train", "--epochs", "1", "--train-limit", "200", "--dev-fraction", "0", "--out",
            str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no dev set: the last epoch's weights" in out
    assert "best.safetensors" not in out
    assert not (tmp_path / "best.safetensors").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["best_epoch"] is None


def test_resume_of_a_finished_run_says_there_is_nothing_left_to_train(trained, capsys):
    assert main(["train", "--resume", str(trained / "last.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "the run has trained all its 30 epochs; there is nothing left to train" in out
    assert "--epochs 60" in out
    assert "epoch  31" not in out
    assert "test accuracy" not in out


def test_evaluate_prints_accuracy_per_class_and_confusion(trained, capsys):
    assert main(["evaluate", str(trained / "best.safetensors")]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"accuracy {metrics['test_accuracy']:.4f}" in out
    assert "confusion matrix" in out
    assert len([line for line in out.splitlines() if line[:1].isdigit()]) == 20  # 10 + 10 rows


def test_predict_reads_png_files(trained, tmp_path, capsys):
    images, labels = load_digits()
    paths = []
    for index in (0, 1, 2):
        path = tmp_path / f"digit{labels[index]}.png"
        pixels = (images[index].astype(np.float32) * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).save(path)
        paths.append(str(path))
    assert main(["predict", str(trained / "best.safetensors"), *paths, "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, index in zip(lines, (0, 1, 2), strict=True):
        best = line.split(": ")[1].split(" ")[0]
        assert best == str(labels[index]), line


def test_predict_shows_the_input_the_model_saw(trained, tmp_path, capsys):
    page = np.full((90, 70), 255, dtype=np.uint8)
    page[20:60, 30:40] = 0  # a dark stroke on white paper: inverted, then centred
    Image.fromarray(page).save(tmp_path / "stroke.png")
    shown = tmp_path / "seen.png"
    argv = ["predict", str(trained / "best.safetensors"), str(tmp_path / "stroke.png"),
            "--center", "--show", str(shown)]  # fmt: skip
    assert main(argv) == 0
    assert f"saved {shown}: the model's input, 8 x 8" in capsys.readouterr().out
    with Image.open(shown) as picture:
        seen = np.asarray(picture)
    assert seen.shape == (8, 8)
    assert seen[0, 0] == 0  # light ink on black, as the digits are
    assert seen.max() > 200
    argv[-1] = str(tmp_path / "seen.jpg")
    assert main(argv) == 2
    assert "--show writes a PNG file" in capsys.readouterr().err


def test_summary_of_a_model_name_and_of_a_checkpoint(trained, capsys):
    assert main(["summary", "lenet5"]) == 0
    assert "61,706 parameters" in capsys.readouterr().out
    assert main(["summary", "resnet", "--input-shape", "32,32,3"]) == 0
    assert "269,722 parameters" in capsys.readouterr().out
    assert main(["summary", str(trained / "best.safetensors")]) == 0
    assert "38,330 parameters" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "missing.safetensors"], "cannot read"),
        (["predict", "missing.safetensors", "x.png"], "cannot read"),
        (["summary", "lenet5", "--input-shape", "8,8,1"], "Conv2D 'conv2'"),
        (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "--augment", "wobble"], "unknown augmentation 'wobble'"),
        (["train", "--epochs", "0"], "--epochs: expected an integer in [1, 100,000], got '0'"),
        (["train", "--threads", "0", "--epochs", "1"], "--threads: expected an integer in [1,"),
        (["train", "--width", "0"], "--width: expected an integer in [1, 4,096], got '0'"),
        (["train", "--seed", "-1"], "--seed: expected an integer in [0,"),
        (["train", "--train-limit", "0"], "--train-limit: expected an integer in [1,"),
        (["train", "--patience", "0"], "--patience: expected an integer in [1,"),
        (["summary", "digits_cnn", "--input-shape", "1,1,1"], "MaxPool2D 'pool'"),
        (["summary", "lenet5", "--classes", "-3"], "--classes: expected an integer in [1, 10,000]"),
        (["gradcheck", "digits_cnn", "--classes", "0"], "--classes: expected an integer in [1,"),
        (["gradcheck", "digits_cnn", "--input-shape", "1,1,1"], "MaxPool2D 'pool'"),
    ],
)
def test_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_hostile_checkpoint_on_the_command_line(tmp_path, capsys):
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(b"\x80\x04\x95 definitely not a checkpoint")
    assert main(["evaluate", str(evil)]) == 2
    assert "evil.safetensors" in capsys.readouterr().err


def test_train_on_a_folder_of_images(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, count in (("train", 30), ("test", 10)):
        for name, value in (("dark", 40), ("light", 210)):
            folder = tmp_path / "pictures" / split / name
            folder.mkdir(parents=True)
            for k in range(count):
                pixels = np.clip(rng.normal(value, 20, (12, 10)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{k}.png")
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(tmp_path / "pictures"), "--model", "digits_cnn",
            "--epochs", "3", "--image-size", "8,8", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["preprocessing"]["classes"] == ["dark", "light"]
    assert metrics["config"]["preprocessing"]["input_shape"] == [8, 8, 1]
    assert metrics["test_accuracy"] == 1.0  # the two classes are trivially separable
    capsys.readouterr()
    assert main(["predict", str(out / "best.safetensors"),
                 str(tmp_path / "pictures" / "test" / "light" / "0.png")]) == 0  # fmt: skip
    assert capsys.readouterr().out.split(": ")[1].startswith("light")


def test_predict_top_must_be_positive(trained, tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    assert main(["predict", str(trained / "best.safetensors"), str(image), "--top", "0"]) == 2
    assert "--top: expected an integer in [1, 10,000], got '0'" in capsys.readouterr().err


def test_resume_says_that_other_options_are_ignored(trained, capsys):
    assert main(["train", "--resume", str(trained / "last.safetensors"), "--lr", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "keeps the run's own settings but --epochs; ignoring lr" in out
    assert "epoch  31" not in out


def test_resume_with_epochs_extends_a_finished_run(tmp_path, capsys):
    argv = ["train", "--epochs", "2", "--train-limit", "200", "--out", str(tmp_path)]
    assert main(argv) == 0
    last = str(tmp_path / "last.safetensors")
    assert main(["train", "--resume", last, "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "after epoch 2" in out
    assert "epoch   3/3" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert metrics["config"]["training"]["epochs"] == 3
    assert len(json.loads((tmp_path / "history.json").read_text())) == 3
    assert main(["train", "--resume", last, "--epochs", "3"]) == 2  # already there: refused
    assert "has trained 3 epochs; to extend it, ask for more (got 3)" in capsys.readouterr().err


def test_warnings_are_dropped_around_an_error_and_printed_once_after_success(monkeypatch, capsys):
    import warnings

    from convmath.cli import training

    def noisy_failure(args):
        warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
        raise cm.DataError("x.png: not a PNG or JPEG image")

    def noisy_success(args):
        for _ in range(3):
            warnings.warn("overflow encountered in cast", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(training, "_summary", noisy_failure)
    assert main(["summary", "lenet5"]) == 2
    assert capsys.readouterr().err == "convmath summary: error: x.png: not a PNG or JPEG image\n"
    monkeypatch.setattr(training, "_summary", noisy_success)
    assert main(["summary", "lenet5"]) == 0
    assert capsys.readouterr().err == "convmath summary: warning: overflow encountered in cast\n"


def test_a_bad_option_is_one_line_without_the_usage_block(capsys):
    assert main(["train", "--epochs", "nan"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "convmath train: error: argument --epochs: expected an integer in [1, 100,000],"
        " got 'nan' (see convmath train --help)\n"
    )


def test_a_second_train_into_a_finished_run_folder_says_how_to_go_on(trained, capsys):
    assert main(["train", "--out", str(trained), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds the files of another run" in err
    assert "--overwrite" in err
    assert f"--resume {trained / 'last.safetensors'}" in err


def test_a_model_name_is_a_model_even_beside_a_folder_of_that_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lenet5").mkdir()
    assert main(["summary", "lenet5"]) == 0
    assert "61,706 parameters" in capsys.readouterr().out
    assert main(["summary", "alexnet"]) == 2
    assert "unknown model 'alexnet'; expected a model name" in capsys.readouterr().err


def test_init_from_starts_a_new_run_from_a_checkpoints_weights(trained, tmp_path, capsys):
    from convmath.run import load_trained

    source = trained / "best.safetensors"
    argv = ["train", "--init-from", str(source), "--epochs", "1", "--optimizer", "sgd",
            "--lr", "0", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0  # a learning rate of 0: the weights stay those it started from
    start, _, _ = load_trained(source)
    tuned, _, config = load_trained(tmp_path / "last.safetensors")
    for (name, want), (_, got) in zip(
        start.named_parameters(), tuned.named_parameters(), strict=True
    ):
        np.testing.assert_array_equal(got.data, want.data, err_msg=name)
    assert config["training"].init_from == str(source)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.97  # the trained digits model, not a fresh one


def test_init_from_a_different_model_is_refused(trained, tmp_path, capsys):
    argv = ["train", "--init-from", str(trained / "best.safetensors"), "--model", "wide_cnn",
            "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "its model does not fit --model wide_cnn" in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_ctrl_c_names_the_real_checkpoint_to_resume_from(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "my run"
    job = subprocess.Popen(
        [sys.executable, "-m", "convmath.cli", "train", "--epochs", "300", "--out", str(out)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "last.safetensors").exists():
        assert job.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.02)
    job.send_signal(signal.SIGINT)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 130
    assert err.strip().splitlines()[-1] == (
        f"convmath train: interrupted (resume with convmath train --resume"
        f" {out / 'last.safetensors'})"
    )


def test_ctrl_c_before_the_first_epoch_says_there_is_nothing_to_resume(tmp_path):
    import argparse

    from convmath.cli.training import _resume_hint
    from convmath.train import TrainConfig

    args = argparse.Namespace(out=tmp_path / "empty", resume=None)
    assert _resume_hint(args, TrainConfig()) == (
        "no epoch had finished, so there is nothing to resume"
    )


def test_evaluate_reads_the_data_directory_the_run_was_trained_from(
    tmp_path, mnist_dir, monkeypatch
):
    from convmath.run import TrainConfig, run_training

    config = TrainConfig(dataset="mnist", data_dir=str(mnist_dir), epochs=1, train_limit=300)
    run_training(config, tmp_path / "run", log=lambda _: None)
    monkeypatch.setenv("CONVMATH_DATA", str(tmp_path / "nowhere"))  # not the default any more

    def no_network(*args, **kwargs):
        raise AssertionError("evaluate looked for the data elsewhere and tried to download it")

    monkeypatch.setattr("convmath.data.datasets.fetch", no_network)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["evaluate", str(tmp_path / "run" / "best.safetensors")]) == 0
    assert "on mnist test (10000 images)" in out.getvalue()


def test_autotune_times_the_layers_and_saves_what_it_chose(tmp_path, capsys):
    from convmath.kernels import autotune

    autotune.clear()
    argv = ["train", "--epochs", "1", "--train-limit", "100", "--autotune", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "kernels chosen by timing them" in out
    saved = next(line for line in out.splitlines() if line.startswith("saved "))
    assert "autotune.json" in saved
    assert json.loads((tmp_path / "metrics.json").read_text())["kernel_choice"] == "measure"
    rows = json.loads((tmp_path / "autotune.json").read_text())
    first = rows[0]
    assert first["op"] == "conv2d forward"
    assert first["layer"].startswith("8x8x1 -> 16, 3x3 s1 p1")
    assert set(first["ms"]) == {"im2col", "winograd"}
    assert first["algorithm"] in first["ms"]
    assert any(row["op"] == "conv2d input gradient" for row in rows)
    assert autotune.get_policy() == "rule"  # the command's policy ends with it
    autotune.clear()


def test_without_autotune_no_layer_is_timed(tmp_path):
    from convmath.kernels import autotune

    autotune.clear()
    assert main(["train", "--epochs", "1", "--train-limit", "100", "--out", str(tmp_path)]) == 0
    assert autotune.choices("measure") == []
    assert not (tmp_path / "autotune.json").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["kernel_choice"] == "rule"


def test_overwrite_removes_an_earlier_runs_autotune_listing(tmp_path):
    from convmath.kernels import autotune

    argv = ["train", "--epochs", "1", "--train-limit", "100", "--out", str(tmp_path)]
    assert main([*argv, "--autotune"]) == 0
    assert (tmp_path / "autotune.json").is_file()
    assert main([*argv, "--overwrite"]) == 0  # untuned: the tuned run's listing is not its own
    assert not (tmp_path / "autotune.json").exists()
    autotune.clear()


def test_an_autotune_listing_that_is_a_link_is_refused(tmp_path, capsys):
    outside = tmp_path / "outside.json"
    outside.write_text("kept")
    run = tmp_path / "run"
    run.mkdir()
    (run / "autotune.json").symlink_to(outside)
    argv = ["train", "--epochs", "1", "--train-limit", "100", "--autotune", "--out", str(run)]
    assert main(argv) == 2
    assert "autotune.json: a link" in capsys.readouterr().err
    assert outside.read_text() == "kept"


def test_resume_builds_the_model_once_whether_it_trains_or_not(tmp_path, monkeypatch, capsys):
    from convmath import models

    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--train-limit", "100", "--out", str(out)]) == 0
    built = []
    original = models.build

    def counted(*args, **kwargs):
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(models, "build", counted)
    last = str(out / "last.safetensors")
    assert main(["train", "--resume", last]) == 0  # finished: nothing left to train
    assert built == ["digits_cnn"]
    assert main(["train", "--resume", last, "--epochs", "2"]) == 0
    assert built == ["digits_cnn"] * 2  # once more, for this second command
    assert "epoch   2/2" in capsys.readouterr().out
