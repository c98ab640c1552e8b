"""Time to 99.0% test accuracy on MNIST: LeNet-5 in convmath and in PyTorch, side by side.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/time_to_accuracy.py \\
        --data-dir DATA_DIR --rounds 3

The end-to-end workload of benchmarks/WORKLOADS.md: LeNet-5 on all 60,000
MNIST training images, inputs /255 then normalised, Adam 1e-3, batch 64,
learning rate x0.7 after each epoch, at most 10 epochs, the test accuracy
after every epoch; the figure is the wall time (data loading, training and
the per-epoch test evaluations) until the test accuracy first reaches
99.0%, where the run stops. convmath runs as ``convmath train`` does (its
trainer, all cores as workers, the checkpoints it writes each epoch);
PyTorch runs the same recipe as a plain training loop on as many threads.

Each run is a fresh process. Round r runs both with seed r, convmath first
in even rounds and PyTorch first in odd ones, so that the shared machine's
drift hits both alike. One JSON line per run and per epoch, then a table
and the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

TARGET = 0.99
MAX_EPOCHS = 10
FRAMEWORKS = ("convmath", "torch")


class _ReachedError(Exception):
    """Raised by the epoch callback once the target accuracy is reached: the run stops."""


def run_convmath(data_dir: str | None, seed: int, threads: int) -> dict:
    from mnist_accuracy import recipe

    from convmath import data
    from convmath.kernels.parallel import using_threads
    from convmath.kernels.runtime import tune_allocator
    from convmath.run import run_training
    from convmath.train import evaluate

    tune_allocator()  # as the commands do
    started = time.perf_counter()
    config = recipe("lenet5", seed=seed, data_dir=data_dir, epochs=MAX_EPOCHS)
    test_images, test_labels = data.load("mnist", "test", data_dir)
    epochs: list[dict] = []

    def test_each_epoch(trainer, row) -> None:
        result = evaluate(trainer.model, test_images, test_labels, trainer.prepare, 10)
        epochs.append(_epoch(row["epoch"], result.accuracy, started))
        if result.accuracy >= TARGET:
            raise _ReachedError

    reached = contextlib.suppress(_ReachedError)
    with tempfile.TemporaryDirectory() as out, using_threads(threads), reached:
        run_training(config, Path(out), on_epoch=[test_each_epoch], log=lambda line: None)
    return _summary(epochs)


def run_torch(data_dir: str | None, seed: int, threads: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from convmath import data

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    started = time.perf_counter()
    splits = {}
    for split in ("train", "test"):
        images, labels = data.load("mnist", split, data_dir)
        x = (images.astype(np.float32) / 255 - 0.1307) / 0.3081  # workloads.md's normalisation
        splits[split] = (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
                         torch.from_numpy(labels))  # fmt: skip
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    x_train, y_train = splits["train"]
    x_test, y_test = splits["test"]
    order = torch.Generator().manual_seed(seed)
    epochs: list[dict] = []
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        for batch in torch.randperm(len(x_train), generator=order).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
        schedule.step()
        model.eval()
        with torch.no_grad():
            right = sum(
                int((model(x_test[k : k + 1000]).argmax(1) == y_test[k : k + 1000]).sum())
                for k in range(0, len(x_test), 1000)
            )
        epochs.append(_epoch(epoch, right / len(x_test), started))
        if right / len(x_test) >= TARGET:
            break
    return _summary(epochs)


def _epoch(epoch: int, accuracy: float, started: float) -> dict:
    row = {"epoch": epoch, "test_accuracy": accuracy, "wall_seconds": time.perf_counter() - started}
    emit(row)
    return row


def _summary(epochs: list[dict]) -> dict:
    reached = [row for row in epochs if row["test_accuracy"] >= TARGET]
    return {
        "seconds_to_target": reached[0]["wall_seconds"] if reached else None,
        "epochs": len(epochs),
        "test_accuracy": epochs[-1]["test_accuracy"],
        "seconds_per_epoch": epochs[-1]["wall_seconds"] / len(epochs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding mnist/ (default: CONVMATH_DATA)")
    parser.add_argument("--rounds", type=int, default=3, help="seeds 0..rounds-1 (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="per framework (default 2)")
    parser.add_argument("--one", choices=FRAMEWORKS, help=argparse.SUPPRESS)  # a child run
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        run = run_convmath if args.one == "convmath" else run_torch
        print(json.dumps({"result": run(args.data_dir, args.seed, args.threads)}))
        return

    emit({"setup": blas_report() | {"threads": args.threads, "target": TARGET}})
    results: dict[str, list[dict]] = {fw: [] for fw in FRAMEWORKS}
    for seed in range(args.rounds):
        for fw in FRAMEWORKS if seed % 2 == 0 else FRAMEWORKS[::-1]:
            command = [sys.executable, __file__, "--one", fw, "--seed", str(seed)]
            command += ["--threads", str(args.threads)]
            if args.data_dir:
                command += ["--data-dir", args.data_dir]
            child = subprocess.run(command, capture_output=True, text=True, check=True)
            *epochs, last = child.stdout.strip().splitlines()
            for line in epochs:  # the child's per-epoch lines, named
                emit({"framework": fw, "seed": seed} | json.loads(line))
            result = json.loads(last)["result"]
            results[fw].append(result)
            emit({"framework": fw, "seed": seed} | result)

    print(f"\n{'framework':<10} {'seed':>4} {'seconds to 99.0%':>17} {'epochs':>6} {'s/epoch':>8}")
    for fw, runs in results.items():
        for seed, run in enumerate(runs):
            seconds = run["seconds_to_target"]
            shown = f"{seconds:.1f}" if seconds is not None else "not reached"
            print(f"{fw:<10} {seed:>4} {shown:>17} {run['epochs']:>6} "
                  f"{run['seconds_per_epoch']:>8.1f}")  # fmt: skip
    medians = {
        fw: _median([run["seconds_to_target"] for run in runs]) for fw, runs in results.items()
    }
    for fw, median in medians.items():
        print(f"median {fw}: {'not reached' if median is None else f'{median:.1f} s'}")
    if None not in medians.values():
        print(f"convmath / PyTorch wall time: {medians['convmath'] / medians['torch']:.2f}")
        emit({"median_seconds": medians})


def _median(values: list[float | None]) -> float | None:
    """The median; a run that never reached the target counts as slower than any that did."""
    if not values:
        return None
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    return ranked[(len(ranked) - 1) // 2]


if __name__ == "__main__":
    main()
