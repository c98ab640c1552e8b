"""Faults that must never lose or mix data: non-finite weights, concurrent runs, foreign files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import convmath as cm
from convmath import data, models
from convmath.cli import main
from convmath.cli import training as commands
from convmath.errors import RunFolderError
from convmath.optim import SGD
from convmath.run import RunFolder, TrainConfig, load_trained, run_training
from convmath.train import Trainer, load_checkpoint
from convmath.train.outputs import LOCK

SMALL = {"epochs": 3, "train_limit": 300, "batch_size": 32, "seed": 5}


def quiet(_line: str) -> None:
    pass


def assert_every_tensor_finite(path) -> None:
    checkpoint = load_checkpoint(path)  # refuses a non-finite tensor itself; check anyway
    for name, array in (checkpoint.model | checkpoint.optimizer).items():
        if array.dtype.kind == "f":
            assert np.isfinite(array).all(), name


def test_an_update_that_makes_weights_non_finite_stops_the_run_before_any_save(tmp_path):
    def explode(trainer, epoch, step):
        if epoch == 2 and step == 2:
            # From the next step on the rate is infinite: the loss of that step is still
            # finite, the update it makes is not.
            trainer.schedule = lambda _step: float("inf")

    with pytest.raises(cm.NonFiniteError) as caught:
        run_training(
            TrainConfig(**SMALL, optimizer="sgd", lr=0.05),
            tmp_path,
            on_step=[explode],
            log=quiet,
        )
    message = str(caught.value)
    assert "epoch 2, step 3: the update made" in message
    assert "non-finite" in message
    assert "learning rate inf" in message
    for name in ("last.safetensors", "best.safetensors"):
        assert_every_tensor_finite(tmp_path / name)
        assert load_checkpoint(tmp_path / name).state["epoch"] == 1


def test_a_non_finite_running_variance_is_never_saved(tmp_path):
    def overflow(trainer, epoch, step):
        if epoch == 1 and step == len(trainer.train):  # after the last step of epoch 1
            trainer.model["bn1"].running_var[0] = np.inf

    with pytest.raises(cm.NonFiniteError, match=r"saving would write model/bn1.running_var"):
        run_training(TrainConfig(**SMALL), tmp_path, on_step=[overflow], log=quiet)
    assert not (tmp_path / "last.safetensors").exists()


def test_the_weight_guard_names_the_tensor_epoch_and_step():
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0))
    images, labels = data.load("digits", "train")
    batches = data.Batches(images[:64], labels[:64], 32, rng=np.random.default_rng(0), scale=1 / 16)
    trainer = Trainer(
        model, optimizer=SGD(model.parameters(), 0.1), train=batches, num_classes=10, epochs=1,
        log=quiet,
    )  # fmt: skip
    trainer.train_step(*next(iter(batches)), epoch=1, step=1)
    model["conv2"].W.grad = None
    model["fc2"].b.data[3] = np.nan
    with pytest.raises(cm.NonFiniteError, match=r"epoch 4, step 7: the update made fc2.b"):
        trainer._check_finite(trainer._weights_and_buffers(), 4, 7, "the update made")


# ---------------------------------------------------------------- one run, one folder
@pytest.mark.slow
def test_a_second_run_into_the_same_folder_fails_at_once_and_the_first_finishes(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "convmath.cli", "train", "--out", str(out), "--epochs", "40"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK).exists():
            assert first.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.perf_counter()
        with pytest.raises(
            RunFolderError, match=r"in use by another convmath train \(process \d+\)"
        ):
            run_training(TrainConfig(epochs=1), out, log=quiet)
        assert time.perf_counter() - started < 1.0
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 40
    assert load_checkpoint(out / "last.safetensors").state["epoch"] == 40
    assert not (out / LOCK).exists()


def test_a_lock_left_by_a_dead_process_does_not_block(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(f"{dead.pid}\n")
    result = run_training(TrainConfig(epochs=1, train_limit=200), tmp_path, log=quiet)
    assert result.state.epoch == 1
    assert not (tmp_path / LOCK).exists()


def test_the_lock_is_held_while_the_folder_is_in_use(tmp_path):
    with RunFolder(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunFolderError, match=f"process {os.getpid()}"), RunFolder(tmp_path):
            pass
    with RunFolder(tmp_path):  # free again
        pass


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder_it_made(tmp_path):
    made = tmp_path / "runs" / "lenet"  # runs/ too is made by the run
    with pytest.raises(cm.ShapeError, match="lenet5 is made for 28x28 images"):
        run_training(TrainConfig(model="lenet5"), made, log=quiet)
    assert not (tmp_path / "runs").exists()
    there = tmp_path / "there"
    (there / "empty").mkdir(parents=True)
    with pytest.raises(cm.ShapeError):
        run_training(TrainConfig(model="lenet5"), there / "empty", log=quiet)
    assert (there / "empty").is_dir()  # it was there before the run


def test_a_failed_run_keeps_a_folder_that_holds_a_file(tmp_path):
    folder = tmp_path / "made"

    def fail_after_writing() -> None:
        with RunFolder(folder):
            (folder / "notes.txt").write_text("the user's")
            raise RuntimeError("failed")

    with pytest.raises(RuntimeError):
        fail_after_writing()
    assert (folder / "notes.txt").read_text() == "the user's"
    assert not (folder / LOCK).exists()
    with RunFolder(tmp_path / "ok"):  # a run that ends well keeps its folder, however empty
        pass
    assert (tmp_path / "ok").is_dir()


def test_a_holder_that_has_locked_but_not_yet_written_its_id_is_still_named(tmp_path):
    fcntl = pytest.importorskip("fcntl")

    descriptor = os.open(tmp_path / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # a holder between its lock and its write
        writer = threading.Timer(0.05, os.write, (descriptor, b"4321\n"))
        writer.start()
        with pytest.raises(RunFolderError, match=r"process 4321\)"), RunFolder(tmp_path):
            pass
        writer.join()
    finally:
        os.close(descriptor)


def test_a_new_run_into_a_folder_with_another_runs_files_needs_overwrite(tmp_path):
    run_training(TrainConfig(epochs=1, train_limit=200, seed=1), tmp_path, log=quiet)
    with pytest.raises(RunFolderError, match=r"holds the files of another run \(last.safetensors"):
        run_training(TrainConfig(epochs=1, train_limit=200, seed=2), tmp_path, log=quiet)
    assert load_checkpoint(tmp_path / "best.safetensors").config["training"]["seed"] == 1
    run_training(
        TrainConfig(epochs=1, train_limit=200, seed=2), tmp_path, overwrite=True, log=quiet
    )
    for name in ("best.safetensors", "last.safetensors"):
        assert load_checkpoint(tmp_path / name).config["training"]["seed"] == 2


def test_without_a_dev_set_a_foreign_best_checkpoint_is_never_used(tmp_path):
    foreign = run_training(TrainConfig(epochs=2, train_limit=200, seed=1), tmp_path, log=quiet)
    assert (tmp_path / "best.safetensors").is_file()
    result = run_training(
        TrainConfig(epochs=1, train_limit=200, seed=2, dev_fraction=0),
        tmp_path,
        overwrite=True,
        log=quiet,
    )
    assert not (tmp_path / "best.safetensors").exists()  # deleted with the old run's files
    assert result.state.best_epoch is None
    last = load_checkpoint(tmp_path / "last.safetensors")
    for name, value in result.model.state_dict().items():
        np.testing.assert_array_equal(value, last.model[name])  # the run's own last weights
    assert not np.array_equal(
        result.model.state_dict()["fc2.W"], foreign.model.state_dict()["fc2.W"]
    )


def test_the_trainer_loads_only_a_best_checkpoint_of_its_own(tmp_path):
    other = run_training(TrainConfig(epochs=1, train_limit=200, seed=1), tmp_path, log=quiet)
    model = models.build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(9))
    before = model.state_dict()
    images, labels = data.load("digits", "train")
    batches = data.Batches(images[:64], labels[:64], 32, rng=np.random.default_rng(0), scale=1 / 16)
    trainer = Trainer(
        model, optimizer=SGD(model.parameters(), 1e-9), train=batches, num_classes=10, epochs=1,
        out_dir=tmp_path, log=quiet,
    )  # fmt: skip
    trainer.fit()
    after = model.state_dict()
    assert not np.array_equal(after["fc2.W"], other.model.state_dict()["fc2.W"])
    np.testing.assert_allclose(after["fc2.W"], before["fc2.W"], atol=1e-6)


def test_stale_temporary_files_of_a_killed_write_are_removed_by_the_next_run(tmp_path):
    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path, log=quiet)
    leftover = tmp_path / ".last.safetensors.k2j4x.tmp"
    leftover.write_bytes(b"half a checkpoint")
    kept = tmp_path / "notes.tmp"
    kept.write_text("the user's own file")
    run_training(TrainConfig(), resume=tmp_path / "last.safetensors", log=quiet)
    assert not leftover.exists()
    assert kept.exists()


def test_resume_elsewhere_without_the_best_checkpoint_is_refused_at_once(tmp_path):
    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "run", log=quiet)
    lonely = tmp_path / "copied"
    lonely.mkdir()
    (lonely / "last.safetensors").write_bytes((tmp_path / "run" / "last.safetensors").read_bytes())
    with pytest.raises(cm.CheckpointError, match=r"best epoch \(1\) is in .*missing"):
        run_training(TrainConfig(), tmp_path / "new", resume=lonely / "last.safetensors")


def test_a_checkpoint_whose_model_disagrees_with_its_training_settings_is_refused(tmp_path):
    from convmath.train import save_checkpoint

    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path, log=quiet)
    checkpoint = load_checkpoint(tmp_path / "last.safetensors")
    checkpoint.config["model"]["options"] = {"width": 16}
    save_checkpoint(tmp_path / "last.safetensors", checkpoint)
    load_trained(tmp_path / "last.safetensors")  # the model itself is fine
    with pytest.raises(cm.CheckpointError, match="is not the one its training settings build"):
        run_training(TrainConfig(), resume=tmp_path / "last.safetensors", log=quiet)


def test_a_run_never_removes_a_lock_that_replaced_its_own(tmp_path):
    first = RunFolder(tmp_path).__enter__()
    os.remove(tmp_path / LOCK)  # someone removed it by hand; a second run took the folder
    second = RunFolder(tmp_path).__enter__()
    first.__exit__(None, None, None)
    assert (tmp_path / LOCK).exists()  # the second run's lock is still there...
    with pytest.raises(RunFolderError), RunFolder(tmp_path):  # ...and still keeps others out
        pass
    second.__exit__(None, None, None)
    assert not (tmp_path / LOCK).exists()


def test_a_lock_file_that_is_a_link_is_never_followed(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("the user's data")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK).symlink_to(precious)
    with pytest.raises(RunFolderError, match="cannot open the run's lock file"):
        run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "run", log=quiet)
    assert precious.read_text() == "the user's data"


def test_resume_in_place_without_the_best_checkpoint_is_refused_before_training(tmp_path):
    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path, log=quiet)
    (tmp_path / "best.safetensors").unlink()
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(cm.CheckpointError, match=r"best epoch \(1\) is in .*missing"):
        run_training(TrainConfig(), resume=tmp_path / "last.safetensors", log=quiet)
    assert (tmp_path / "metrics.json").read_bytes() == before


def test_epoch_callbacks_may_add_text_to_the_history_but_never_an_unreadable_value(tmp_path):
    def note(trainer, row):
        row["note"] = "warm-up"
        row["flag"] = True

    result = run_training(
        TrainConfig(epochs=1, train_limit=200), tmp_path / "a", on_epoch=[note], log=quiet
    )
    assert load_checkpoint(result.out_dir / "best.safetensors").history[0]["note"] == "warm-up"

    def nan(trainer, row):
        row["test_loss"] = float("nan")

    with pytest.raises(cm.CheckpointError, match=r"not written, as it could not be read back"):
        run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "b", on_epoch=[nan])
    assert not (tmp_path / "b" / "last.safetensors").exists()


def test_a_checkpoint_trained_on_a_folder_that_is_gone_still_predicts(tmp_path):
    from PIL import Image

    from convmath.cli import main

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for k in range(5):
            pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pictures" / name / f"{k}.png")
    image = tmp_path / "one.png"
    (tmp_path / "pictures" / "cat" / "0.png").rename(image)
    out = tmp_path / "run"
    config = TrainConfig(dataset=str(tmp_path / "pictures"), model="digits_cnn", epochs=1)
    run_training(config, out, log=quiet)
    (tmp_path / "pictures").rename(tmp_path / "moved")
    assert main(["predict", str(out / "best.safetensors"), str(image)]) == 0
    with pytest.raises(cm.CheckpointError, match="unknown dataset"):
        run_training(TrainConfig(), resume=out / "last.safetensors", log=quiet)


def test_a_lock_file_hard_linked_to_another_file_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious data")
    (tmp_path / "run").mkdir()
    os.link(victim, tmp_path / "run" / LOCK)
    with pytest.raises(RunFolderError, match="hard link"):
        run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "run", log=quiet)
    assert victim.read_text() == "precious data"


def test_run_files_that_are_links_are_refused_new_run_or_resume(tmp_path):
    outside = tmp_path / "outside.png"
    run = tmp_path / "run"
    run_training(TrainConfig(epochs=1, train_limit=200), run, log=quiet)
    (run / "curves.png").symlink_to(outside)  # dangling: the write would create it
    with pytest.raises(RunFolderError, match=r"curves.png: a link"):
        run_training(TrainConfig(), resume=run / "last.safetensors", log=quiet)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "best.safetensors").symlink_to(tmp_path / "elsewhere.safetensors")
    with pytest.raises(RunFolderError, match=r"best.safetensors: a link"):
        run_training(TrainConfig(), fresh, resume=run / "last.safetensors", log=quiet)
    assert not outside.exists()
    assert not (tmp_path / "elsewhere.safetensors").exists()


def test_a_state_whose_best_fields_disagree_is_refused(tmp_path):
    from convmath.train import save_checkpoint

    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path, log=quiet)
    checkpoint = load_checkpoint(tmp_path / "last.safetensors")
    checkpoint.state["best_loss"] = None
    checkpoint.config["training"]["epochs"] = 2
    save_checkpoint(tmp_path / "last.safetensors", checkpoint)
    with pytest.raises(cm.CheckpointError, match="must all be set or all be null"):
        run_training(TrainConfig(), resume=tmp_path / "last.safetensors", log=quiet)


def test_resuming_into_a_new_folder_copies_the_checkpoint_it_continues(tmp_path):
    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "a", log=quiet)
    run_training(TrainConfig(), tmp_path / "b", resume=tmp_path / "a" / "last.safetensors")
    for name in ("last.safetensors", "best.safetensors", "metrics.json"):
        assert (tmp_path / "b" / name).is_file()


def _temporaries(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_sigterm_while_a_checkpoint_is_written_is_handled_like_ctrl_c(
    tmp_path, capsys, monkeypatch
):
    """The signal arrives between a checkpoint's data and its rename: that write is dropped
    (no temporary left), the last good checkpoint kept, and the message says how to resume."""
    out = tmp_path / "run"
    real_fsync = os.fsync
    sent = []

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if (out / "last.safetensors").exists() and not sent:  # a write after epoch 1's
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
            sent.append(fd)
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(os, "fsync", fsync)
    status = main(["train", "--out", str(out), "--epochs", "5", "--train-limit", "300"])
    assert sent
    assert status == 128 + signal.SIGTERM
    last = out / "last.safetensors"
    assert capsys.readouterr().err == (
        f"convmath train: terminated (resume with convmath train --resume {last})\n"
    )
    assert load_checkpoint(last).state["epoch"] == 1
    assert _temporaries(out) == []
    assert not (out / LOCK).exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command's handler is gone


@pytest.mark.slow
def test_sigterm_stops_a_real_training_process_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--epochs", "1000", "--train-limit", "300"]
    process = subprocess.Popen(
        [sys.executable, "-m", "convmath.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "last.safetensors").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # somewhere in a later epoch, or a write
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    last = out / "last.safetensors"
    assert process.returncode == 128 + signal.SIGTERM, err
    assert err.splitlines() == [
        f"convmath train: terminated (resume with convmath train --resume {last})"
    ]
    epoch = load_checkpoint(last).state["epoch"]
    assert 1 <= epoch < 1000
    assert _temporaries(out) == []
    assert not (out / LOCK).exists()
    assert main(["train", "--resume", str(last), "--epochs", str(epoch + 1)]) == 0
    assert load_checkpoint(last).state["epoch"] == epoch + 1


def test_sigterm_ignored_by_whoever_started_the_process_stays_ignored(monkeypatch, capsys):
    seen = []

    def table(*_args, **_kwargs) -> str:
        seen.append(signal.getsignal(signal.SIGTERM))
        return "a table"

    monkeypatch.setattr(commands, "summary_table", table)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert main(["summary", "lenet5"]) == 0
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIG_IGN]
    assert main(["summary", "lenet5"]) == 0  # started with the default: handled while it runs
    assert seen[1] not in (signal.SIG_DFL, signal.SIG_IGN)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
