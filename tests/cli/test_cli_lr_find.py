"""`convmath lr-find`, and `convmath train --recipe`."""

import json

import pytest

from convmath.cli import main


def test_lr_find_prints_the_table_and_the_suggestion_and_draws_it(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "lr.png"
    argv = ["lr-find", "--train-limit", "400", "--steps", "60", "--plot", str(plot)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "learning-rate range test: digits_cnn on digits, 360 training images, batch 32" in out
    assert "step        rate           J  smoothed J" in out
    assert "suggested learning rate: " in out
    assert f"saved {plot}: J against the rate" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lr_find_draws_beside_the_run_folders_by_default(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    assert main(["lr-find", "--train-limit", "200", "--steps", "20", "--model", "lenet5",
                 "--dataset", "digits", "--width", "4"]) == 2  # fmt: skip
    assert "lenet5" in capsys.readouterr().err  # does not take a width: one line, status 2
    assert main(["lr-find", "--train-limit", "200", "--steps", "20"]) == 0
    assert (tmp_path / "runs" / "lr-find-digits-digits_cnn.png").is_file()
    assert not (tmp_path / "runs" / "digits-digits_cnn").exists()  # no run folder is made


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--start-lr", "0"],
            "argument --start-lr: expected a finite number in (0, 1000], got '0'",
        ),
        (["--start-lr", "1", "--end-lr", "0.5"], "--end-lr (0.5) must be above --start-lr (1)"),
        (["--steps", "3"], "argument --steps: expected an integer in [10, 100,000]"),
        (["--plot", "curve.pdf"], "--plot writes a PNG file; got curve.pdf"),
        (["--epochs", "3"], "unrecognized arguments: --epochs 3"),  # the test sets the rate
        (["--lr", "0.1"], "unrecognized arguments: --lr 0.1"),
        (["--recipe", "nope"], "argument --recipe: invalid choice: 'nope'"),
        (["--augment", "zoom:2"], "zoom"),
    ],
)
def test_bad_options_are_one_line_and_status_2(argv, said, tmp_path, capsys):
    assert main(["lr-find", "--train-limit", "100", "--steps", "10", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("convmath lr-find: error: ")
    assert said in err


def test_the_recipe_gives_its_settings_and_options_given_override_them(mnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--recipe", "mnist-best", "--data-dir", str(mnist_dir), "--epochs", "1",
            "--train-limit", "300", "--width", "4", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    training = json.loads((out / "metrics.json").read_text())["config"]["training"]
    assert training["epochs"] == 1  # given
    assert training["model_options"] == {"width": 4, "dropout": 0.4}  # merged name by name
    assert training["dataset"] == "mnist"
    assert training["augment"] == "crop:2,rotate:10,zoom:0.1"
    assert training["lr"] == 2e-3
    assert training["schedule"] == "cosine"
    banner = capsys.readouterr().out
    assert "augmentation: 'crop:2,rotate:10,zoom:0.1'" in banner
    assert "model options (dropout, width...): width=4, dropout=0.4" in banner
