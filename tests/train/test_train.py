"""The trainer: learning, safe and atomic checkpoints, bit-identical resumes, the NaN guard."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import data, models, optim
from convmath.run import TrainConfig, load_trained, run_training
from convmath.train import Checkpoint, load_checkpoint, save_checkpoint
from convmath.train.checkpoint import atomic_write

SMALL = {"epochs": 3, "train_limit": 400, "batch_size": 32, "seed": 3}


def quiet(_line):
    pass


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda p: optim.SGD(p, 0.05, momentum=0.9), lambda p: optim.Adam(p, 3e-3)],
    ids=["sgd", "adam"],
)
def test_a_tiny_batch_can_be_overfitted(make_optimizer):
    images, labels = data.load("digits", "train")
    X = (images[:24].astype(np.float32) / 16 - 0.3) / 0.4
    y = labels[:24]
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    optimizer = make_optimizer(model.parameters())
    for _ in range(150):
        loss = F.softmax_cross_entropy(model(cm.Tensor(X)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    predictions = model(cm.Tensor(X)).data.argmax(axis=1)
    assert (predictions == y).mean() == 1.0
    assert loss.item() < 0.05


def test_checkpoint_round_trip(tmp_path):
    model = models.build("lenet5", (28, 28, 1), 10, rng=np.random.default_rng(0))
    state = {"epoch": 2, "rng": {"data": np.random.default_rng(5).bit_generator.state}}
    original = Checkpoint(
        model.state_dict(), {"steps": np.array(7)}, {"a": [1, 2]}, state, [{"epoch": 1}]
    )
    save_checkpoint(tmp_path / "c.safetensors", original)
    loaded = load_checkpoint(tmp_path / "c.safetensors")
    assert loaded.config == {"a": [1, 2]}
    assert loaded.state == state  # 128-bit generator states survive JSON
    assert loaded.history == [{"epoch": 1}]
    assert int(loaded.optimizer["steps"]) == 7
    for name, value in original.model.items():
        np.testing.assert_array_equal(loaded.model[name], value)
        assert loaded.model[name].dtype == value.dtype


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "last.safetensors"
    atomic_write(target, b"old, good content")

    def failing_replace(source, destination):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        atomic_write(target, b"new content")
    assert target.read_bytes() == b"old, good content"
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temporary left


def final_tensors(out_dir):
    checkpoint = load_checkpoint(Path(out_dir) / "last.safetensors")
    return checkpoint.model | {f"optimizer/{k}": v for k, v in checkpoint.optimizer.items()}


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


def without_timing(history):
    return [
        {k: v for k, v in row.items() if k not in ("seconds", "images_per_second")}
        for row in history
    ]


def test_crash_and_resume_is_bit_identical(tmp_path):
    config = TrainConfig(**SMALL, augment="crop:1,rotate:5", model_options={})
    run_training(config, tmp_path / "straight", log=quiet)

    def crash(trainer, epoch, step):
        if epoch == 3 and step == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_training(
            TrainConfig(**SMALL, augment="crop:1,rotate:5"),
            tmp_path / "crashed",
            on_step=[crash],
            log=quiet,
        )
    assert load_checkpoint(tmp_path / "crashed" / "last.safetensors").state["epoch"] == 2
    resumed = run_training(
        TrainConfig(), resume=tmp_path / "crashed" / "last.safetensors", log=quiet
    )
    assert resumed.state.epoch == 3
    assert_bit_identical(final_tensors(tmp_path / "straight"), final_tensors(tmp_path / "crashed"))
    straight = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert without_timing(straight) == without_timing(resumed.state.history)


KILLED_RUN = textwrap.dedent(
    """
    import os, sys
    from convmath.run import TrainConfig, run_training

    def die(trainer, epoch, step):
        if epoch == 2 and step == 3:
            os._exit(137)  # like kill -9: no cleanup, no exception handling

    config = TrainConfig(epochs=3, train_limit=400, seed=4)
    run_training(config, sys.argv[1], on_step=[die], log=lambda line: None)
    """
)


def test_a_killed_process_resumes_to_the_same_weights(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "killed")],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 137, result.stderr
    assert load_checkpoint(tmp_path / "killed" / "last.safetensors").state["epoch"] == 1
    run_training(TrainConfig(epochs=3, train_limit=400, seed=4), tmp_path / "straight", log=quiet)
    run_training(TrainConfig(), resume=tmp_path / "killed" / "last.safetensors", log=quiet)
    assert_bit_identical(final_tensors(tmp_path / "straight"), final_tensors(tmp_path / "killed"))


def test_non_finite_guard_stops_and_leaves_the_last_checkpoint_untouched(tmp_path):
    snapshot = {}

    def poison(trainer, epoch, step):
        if epoch == 2 and step == 1:
            snapshot["bytes"] = (tmp_path / "last.safetensors").read_bytes()
        if epoch == 2 and step == 3:
            trainer.model.parameters()[0].data[0, 0, 0, 0] = np.nan

    with pytest.raises(cm.NonFiniteError) as caught:
        run_training(TrainConfig(**SMALL), tmp_path, on_step=[poison], log=quiet)
    message = str(caught.value)
    assert "epoch 2, step 4" in message
    assert "loss J is nan" in message
    assert (tmp_path / "last.safetensors").read_bytes() == snapshot["bytes"]
    assert load_checkpoint(tmp_path / "last.safetensors").state["epoch"] == 1


def test_non_finite_gradient_names_the_tensor():
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    from convmath.train import Trainer

    images, labels = data.load("digits", "train")
    batches = data.Batches(images[:64], labels[:64], 32, rng=np.random.default_rng(0), scale=1 / 16)
    trainer = Trainer(
        model, optimizer=optim.SGD(model.parameters(), 0.1), train=batches, num_classes=10, epochs=1
    )
    model.parameters()[-1].data[:] = np.inf  # the last bias: logits become inf - inf = nan
    with pytest.raises(cm.NonFiniteError, match="epoch 1, step 1"):
        trainer.train_step(*next(iter(batches)), epoch=1, step=1)


def test_outputs_early_stopping_and_best_checkpoint(tmp_path):
    config = TrainConfig(epochs=30, train_limit=500, seed=2, patience=2, dev_fraction=0.3)
    result = run_training(config, tmp_path, log=quiet)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "epochs", "train_seconds", "config"):
        assert key in metrics
    assert metrics["config"]["training"]["patience"] == 2
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == metrics["epochs"]
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_accuracy")
    best = load_checkpoint(tmp_path / "best.safetensors")
    assert best.state["epoch"] == metrics["best_epoch"]
    devs = [row["dev_accuracy"] for row in history]
    assert metrics["dev_accuracy"] == max(devs)
    assert result.state.stopped_early  # this seed stops early, well before 30 epochs
    assert metrics["epochs"] < 30
    assert metrics["epochs"] - metrics["best_epoch"] == 2
    model, _, _ = load_trained(tmp_path / "best.safetensors")
    for name, value in model.state_dict().items():  # the run ends with the best weights
        np.testing.assert_array_equal(value, result.model.state_dict()[name])


def test_training_log_is_one_line_per_epoch_when_not_a_terminal(tmp_path, capsys):
    run_training(TrainConfig(epochs=2, train_limit=200), tmp_path)
    out = capsys.readouterr().out
    assert "digits_cnn on digits" in out  # the summary comes first
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2
    assert "dev loss" in epoch_lines[0]
    assert "img/s" in epoch_lines[0]


# ---------------------------------------------------------------- hostile checkpoints
def valid_checkpoint_bytes(tmp_path):
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    save_checkpoint(tmp_path / "good.safetensors", Checkpoint(model.state_dict()))
    return (tmp_path / "good.safetensors").read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda good: good[: len(good) // 2], "damaged tensor data|truncated"),
        (lambda good: good[:5], "truncated"),
        (lambda good: b"\xff" * 64, "header size"),
        (lambda good: (2**62).to_bytes(8, "little") + b"{}", "header size"),
        (lambda good: (4).to_bytes(8, "little") + b"[1] ", "no convmath metadata"),
        (lambda good: (2).to_bytes(8, "little") + b"{]", "unreadable header"),
        (
            lambda good: b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.",
            "header size|truncated",
        ),
        (
            lambda good: good.replace(b"convmath-checkpoint-1", b"convmath-checkpoint-9"),
            "not a convmath checkpoint",
        ),
        (lambda good: good.replace(b'"config":"{}"', b'"config":"{}}"'), "damaged metadata"),
    ],
    ids=[
        "half",
        "tiny",
        "garbage",
        "huge-header",
        "header-not-object",
        "bad-json",
        "pickle-stream",
        "wrong-format",
        "bad-config-json",
    ],
)
def test_hostile_checkpoints_give_a_clear_error(tmp_path, make, message):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(make(valid_checkpoint_bytes(tmp_path)))
    with pytest.raises(cm.CheckpointError, match=message) as caught:
        load_checkpoint(path)
    assert "evil.safetensors" in str(caught.value)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    result = run_training(TrainConfig(epochs=1, train_limit=100), tmp_path / "run", log=quiet)
    checkpoint = load_checkpoint(result.out_dir / "best.safetensors")
    checkpoint.config["model"]["name"] = "lenet5"
    checkpoint.config["model"]["input_shape"] = [28, 28, 1]
    checkpoint.config["preprocessing"]["input_shape"] = [28, 28, 1]
    save_checkpoint(tmp_path / "liar.safetensors", checkpoint)
    with pytest.raises(cm.CheckpointError, match=r"do not fit lenet5|its weights cannot fit"):
        load_trained(tmp_path / "liar.safetensors")
    with pytest.raises(cm.CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_progress_bar_on_a_terminal_shows_loss_accuracy_and_speed():
    import io

    from convmath.train.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = Progress(epochs=2, steps_per_epoch=3, stream=terminal)
    progress.start_epoch(1)
    for _ in range(3):
        progress.step(0.5, 0.75, 1234.0)
    text = terminal.getvalue()
    assert "epoch 1/2" in text
    assert "loss=0.5000" in text
    assert "acc=0.7500" in text
    assert "img_s=1,234" in text
    assert progress.bar.n == 3
    progress.end_epoch("epoch 1 done")
    assert progress.bar is None


def test_without_a_terminal_a_long_epoch_gets_timed_lines(monkeypatch):
    import io

    from convmath.train import progress as progress_module

    clock = iter([0.0, 4.0, 11.0, 15.0, 22.0, 30.0])
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = progress_module.Progress(4, 5, stream=io.StringIO(), log=lines.append)
    progress.start_epoch(2)  # at 0 s
    for _ in range(5):  # steps end at 4, 11, 15, 22 and 30 s
        progress.step(0.25, 0.5, 99.0)
    progress.end_epoch("epoch 2 done")
    assert lines == [
        "  epoch 2/4 step 2/5: loss 0.2500 acc 0.5000 | 99 img/s | 16 s left in the epoch",
        "  epoch 2/4 step 4/5: loss 0.2500 acc 0.5000 | 99 img/s | 6 s left in the epoch",
        "epoch 2 done",
    ]  # none after the last step: the epoch line follows at once


def test_resume_into_another_folder_keeps_the_best_checkpoint(tmp_path):
    def crash(trainer, epoch, step):
        if epoch == 3 and step == 1:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        run_training(TrainConfig(**SMALL), tmp_path / "first", on_step=[crash], log=quiet)
    result = run_training(
        TrainConfig(),
        tmp_path / "second",
        resume=tmp_path / "first" / "last.safetensors",
        log=quiet,
    )
    assert result.state.epoch == 3
    for name in ("best.safetensors", "last.safetensors", "metrics.json", "history.json"):
        assert (tmp_path / "second" / name).is_file()


def test_a_resumed_run_builds_its_model_once(tmp_path, monkeypatch):
    run_training(TrainConfig(**{**SMALL, "epochs": 1}), tmp_path, log=quiet)
    built = []
    original = models.build

    def counted(*args, **kwargs):
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(models, "build", counted)
    result = run_training(
        TrainConfig(), resume=tmp_path / "last.safetensors", extend_to=2, log=quiet
    )
    assert result.state.epoch == 2
    assert built == ["digits_cnn"]  # rebuilt from the checkpoint, and trained as it is


def test_batch_norm_and_dropout_act_differently_in_eval():
    from convmath import nn

    rng = np.random.default_rng(0)
    x = cm.Tensor(rng.standard_normal((16, 4)).astype(np.float32) * 3 + 2)
    bn = nn.BatchNorm2D(4)
    train_out = bn(x).data
    np.testing.assert_allclose(train_out.mean(axis=0), 0, atol=1e-5)  # batch statistics
    bn.eval()
    eval_out = bn(x).data  # running statistics, one update old: not normalised yet
    assert abs(eval_out.mean()) > 0.5
    drop = nn.Dropout(0.5, rng=np.random.default_rng(1))
    assert np.count_nonzero(drop(x).data == 0) > 0
    drop.eval()
    assert drop(x) is x


def test_a_last_batch_of_one_example_is_dropped_for_batch_norm(tmp_path):
    # 101 images, 10 for dev: 91 = 30 * 3 + 1, and wide_cnn has batch norm after a dense layer
    config = TrainConfig(model="wide_cnn", model_options={"width": 4}, batch_size=3, epochs=1,
                         train_limit=101, augment="none")  # fmt: skip
    result = run_training(config, tmp_path, log=quiet)
    assert result.state.epoch == 1


def test_adamw_weight_decay_zero_is_respected():
    from convmath.run.training import make_optimizer

    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    assert make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.0), model).weight_decay == 0
    assert make_optimizer(TrainConfig(optimizer="adamw"), model).weight_decay == 0.01


def test_library_predict_gives_the_probabilities_evaluate_sees(tmp_path):
    from convmath.train import evaluate, predict

    result = run_training(TrainConfig(epochs=2, train_limit=300), tmp_path, log=quiet)
    images, labels = data.load("digits", "test")
    unit = images.astype(np.float32) * np.float32(result.preprocessing.scale)
    result.model.train()
    probabilities = predict(result.model, result.preprocessing, unit, batch_size=50)
    assert result.model.training  # its mode is left as it was
    assert probabilities.shape == (len(labels), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    expected = evaluate(result.model, images, labels, result.preprocessing, 10)
    np.testing.assert_allclose(probabilities, expected.probabilities, rtol=1e-5, atol=1e-6)
    with pytest.raises(cm.ShapeError, match=r"predict expects images \(m, 8, 8, 1\)"):
        predict(result.model, result.preprocessing, unit[..., 0])


def test_the_trainer_takes_its_arguments_by_name_with_the_rate_given_once():
    from convmath.train import Trainer

    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    images, labels = data.load("digits", "train")
    batches = data.Batches(images[:64], labels[:64], 32, rng=np.random.default_rng(0), scale=1 / 16)
    adam = optim.Adam(model.parameters(), lr=3e-3)
    with pytest.raises(TypeError):
        Trainer(model, adam, batches)  # every argument but the model by name
    trainer = Trainer(model, optimizer=adam, train=batches, num_classes=10, epochs=1)
    assert trainer.schedule(0) == trainer.schedule(1000) == 3e-3
    np.testing.assert_array_equal(trainer.prepare(images[:3]), images[:3].astype(np.float32) / 16)


def test_the_trainer_takes_a_loss_of_ones_own():
    import convmath.functional as F
    from convmath.train import Trainer

    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    images, labels = data.load("digits", "train")
    batches = data.Batches(images[:64], labels[:64], 32, rng=np.random.default_rng(0), scale=1 / 16)
    seen = []

    def doubled(logits, y):
        seen.append(len(y))
        return F.softmax_cross_entropy(logits, y) * 2.0

    sgd = optim.SGD(model.parameters(), 0.0)
    trainer = Trainer(model, optimizer=sgd, train=batches, num_classes=10, epochs=1, loss=doubled)
    X, y = next(iter(batches))
    loss, _, _ = trainer.train_step(X, y, 1, 1)
    with cm.no_grad():
        plain = F.softmax_cross_entropy(model(cm.Tensor(X)), y).item()
    assert seen == [32]
    assert loss == pytest.approx(2 * plain, rel=1e-6)
    with pytest.raises(cm.InvalidArgumentError, match="give label smoothing to your own loss"):
        Trainer(model, optimizer=sgd, train=batches, num_classes=10, epochs=1, loss=doubled,
                label_smoothing=0.1)  # fmt: skip


def test_each_epoch_keeps_its_loss_curve_so_one_epoch_draws_a_curve(tmp_path):
    from convmath.train.trainer import step_curve

    assert step_curve([4.0, 2.0, 3.0]) == [4.0, 2.0, 3.0]  # fewer steps than points: each
    groups = np.array_split(np.arange(25.0), 10)  # 25 steps: 10 groups of 3 or 2
    assert step_curve(list(range(25))) == [float(g.mean()) for g in groups]
    assert step_curve([]) == []
    config = TrainConfig(epochs=1, train_limit=500, seed=3, batch_size=16)
    result = run_training(config, tmp_path, log=quiet)
    (row,) = result.state.history
    assert len(row["step_losses"]) == 10  # 450 images in batches of 16: 29 steps
    assert min(row["step_losses"]) <= row["train_loss"] <= max(row["step_losses"])
    again = load_checkpoint(tmp_path / "last.safetensors").history
    assert again[0]["step_losses"] == row["step_losses"]
    assert "step_losses" not in (tmp_path / "history.csv").read_text()


@pytest.mark.parametrize("curve", [[1.0] * 11, [float("nan")], ["1.0"], 3.0])
def test_a_history_row_with_a_bad_loss_curve_is_never_written(tmp_path, curve):
    from convmath.train.checkpoint import Checkpoint, save_checkpoint

    row = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "step_losses": curve}
    with pytest.raises(cm.CheckpointError, match=r"not written.*history"):
        save_checkpoint(tmp_path / "c.safetensors", Checkpoint({}, {}, {}, {}, [row]))
    assert not (tmp_path / "c.safetensors").exists()
