"""Data-parallel training over MPI, checked with real ``mpiexec`` processes on this machine.

Each test starts ``mpiexec -n 2`` or ``-n 3`` (3 catches uneven shares) as a
subprocess with a timeout, so a hanging rank fails the test instead of the
suite. MPICH's launcher runs the ranks on this machine only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

from convmath.train import load_checkpoint

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
TIMEOUT = 240
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec (pip install mpich)"),
]
# Plain SGD, no augmentation, no dropout and no batch norm: N ranks compute what one does.
EXACT = [
    "--model", "mnist_cnn", "--augment", "none", "--optimizer", "sgd", "--lr", "0.05",
    # 353 training images: a last batch of 3, shared 2 + 1 or 1 + 1 + 1, kept as one process does
    "--train-limit", "392", "--batch-size", "50", "--epochs", "1", "--threads", "1",
]  # fmt: skip


def run(argv: list[str], ranks: int | None, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "convmath.cli", *argv]
    if ranks is not None:
        command = [MPIEXEC, "-n", str(ranks), *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False
    )


def weights(path: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(path).model


@pytest.mark.parametrize("ranks", [2, 3])
def test_replicas_stay_bit_identical_after_every_step(tmp_path: Path, ranks: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [MPIEXEC, "-n", str(ranks), sys.executable, str(HERE / "replicas_check.py"),
         str(tmp_path / "run"), "digits_cnn"],
        capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "run" / "replicas.json").read_text())
    assert report["size"] == ranks
    assert report["steps"] == 2 * 8  # 270 training images in batches of 37: 8 steps an epoch
    assert report["differing"] == []


@pytest.mark.parametrize("ranks", [2, 3])
def test_n_ranks_train_the_model_one_process_trains(tmp_path: Path, ranks: int) -> None:
    single = run(["train", *EXACT, "--out", "one"], None, tmp_path)
    assert single.returncode == 0, single.stderr
    many = run(["train", *EXACT, "--out", "many"], ranks, tmp_path)
    assert many.returncode == 0, many.stderr
    one, parallel = (
        weights(tmp_path / "one/last.safetensors"),
        weights(tmp_path / "many/last.safetensors"),
    )
    for name, array in one.items():  # float32 summation order alone: measured about 1e-7
        scale = float(np.abs(array).max())
        assert float(np.abs(parallel[name] - array).max()) <= 1e-5 * scale, name
    # The printed figures are the global ones: the same as one process's
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "many")]
    assert metrics[1]["test_accuracy"] == metrics[0]["test_accuracy"]
    assert metrics[1]["test_loss"] == pytest.approx(metrics[0]["test_loss"], rel=1e-5)
    history = [json.loads((tmp_path / d / "history.json").read_text()) for d in ("one", "many")]
    assert history[1][0]["train_loss"] == pytest.approx(history[0][0]["train_loss"], rel=1e-5)
    assert history[1][0]["dev_accuracy"] == history[0][0]["dev_accuracy"]
    assert many.stdout.count("test accuracy") == 1  # rank 0 alone reports
    assert f"data parallel over {ranks} processes" in many.stdout


@pytest.mark.parametrize("ranks", [2, 3])
def test_with_sync_bn_n_ranks_train_a_batch_norm_model_as_one_process(tmp_path, ranks):
    """digits_cnn has batch norm: --sync-bn gives the global batch's statistics."""
    exact = [*EXACT[2:], "--model", "digits_cnn"]  # the default model, with batch norm
    single = run(["train", *exact, "--out", "one"], None, tmp_path)
    assert single.returncode == 0, single.stderr
    synced = run(["train", *exact, "--sync-bn", "--out", "sync"], ranks, tmp_path)
    assert synced.returncode == 0, synced.stderr
    local = run(["train", *exact, "--out", "local"], ranks, tmp_path)
    assert local.returncode == 0, local.stderr
    one = weights(tmp_path / "one/last.safetensors")
    sync, apart = (
        weights(tmp_path / "sync/last.safetensors"),
        weights(tmp_path / "local/last.safetensors"),
    )
    gaps = {}
    for name, array in one.items():
        scale = float(np.abs(array).max())
        assert float(np.abs(sync[name] - array).max()) <= 1e-5 * scale, name  # measured 6e-7
        gaps[name] = float(np.abs(apart[name] - array).max()) / scale
    assert max(gaps.values()) > 1e-2  # each share's own statistics: another model


def test_a_killed_mpi_run_resumed_ends_as_an_uninterrupted_one(tmp_path: Path, mnist_dir) -> None:
    """Batch norm, augmentation drawn per rank and Adam; the whole job killed mid-run."""
    common = [
        "--dataset", "mnist", "--data-dir", str(mnist_dir), "--model", "digits_cnn",
        "--train-limit", "3000", "--epochs", "5", "--threads", "1", "--augment", "crop:2",
    ]  # fmt: skip
    whole = run(["train", *common, "--out", "whole"], 2, tmp_path)
    assert whole.returncode == 0, whole.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    job = subprocess.Popen(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "convmath.cli", "train", *common,
         "--out", "parts"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    last = tmp_path / "parts" / "last.safetensors"
    try:
        deadline = time.monotonic() + TIMEOUT
        while not last.exists():
            assert job.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # mpiexec and every rank, with no clean-up
        job.wait(timeout=60)
    killed_at = load_checkpoint(last).state["epoch"]
    assert 1 <= killed_at < 5
    rest = run(["train", "--resume", "parts/last.safetensors"], 2, tmp_path)
    assert rest.returncode == 0, rest.stderr
    a, b = weights(tmp_path / "whole/last.safetensors"), weights(last)
    for name in a:
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)


def test_a_rank_that_fails_stops_every_rank_with_its_message(tmp_path: Path) -> None:
    """Rank 1 alone is given a dataset that is not there; rank 0 must not wait for it."""
    good = [sys.executable, "-m", "convmath.cli", "train", "--out", "run", "--threads", "1"]
    bad = [*good[:-2], "--dataset", str(tmp_path / "missing"), "--threads", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    done = subprocess.run(
        [MPIEXEC, "-n", "1", *good, ":", "-n", "1", *bad],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "convmath train: error (rank 1 of 2):" in done.stderr
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_a_python_caller_failing_on_one_rank_stops_the_job(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, str(HERE / "raising_callback.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "convmath train: unexpected error (rank 1 of 2):" in done.stderr
    assert "RuntimeError: a callback of rank 1 failed" in done.stderr


def test_the_batch_must_have_a_share_for_every_rank(tmp_path: Path) -> None:
    done = run(["train", "--batch-size", "2", "--out", "run"], 3, tmp_path)
    assert done.returncode != 0
    assert "--batch-size 2 is the global batch" in done.stderr


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["train", "--bad-option"], "error: unrecognized arguments: --bad-option"),
        (["train", "--epochs", "0"], "convmath train: error: argument --epochs: expected"),
        (["train", "--dataset", "mnsit"], "convmath train: error (rank 0 of 2): unknown dataset"),
    ],
)
def test_an_error_every_rank_meets_is_said_once_by_rank_0(tmp_path, argv, said) -> None:
    done = run([*argv, "--out", "run"], 2, tmp_path)
    assert done.returncode == 2
    assert said in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr  # not per rank, no MPI_Abort noise
    assert not (tmp_path / "run").exists()


def test_the_learning_rate_range_test_refuses_several_processes(tmp_path: Path) -> None:
    """Each rank would run a test of its own and draw the same picture."""
    done = run(["lr-find", "--steps", "20", "--plot", "found.png"], 2, tmp_path)
    assert done.returncode == 2
    said = "convmath lr-find: error (rank 0 of 2): the learning-rate range test runs in one process"
    assert said in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert not (tmp_path / "found.png").exists()


def test_a_bad_option_of_one_rank_alone_is_said_and_ends_the_job(tmp_path: Path) -> None:
    """It used to leave rank 0 waiting forever for a rank that had exited."""
    good = [sys.executable, "-m", "convmath.cli", "train", "--out", "run", "--threads", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    done = subprocess.run(
        [MPIEXEC, "-n", "1", *good, ":", "-n", "1", *good, "--rocket"],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "error: unrecognized arguments: --rocket" in done.stderr
    assert not (tmp_path / "run" / "last.safetensors").exists()
