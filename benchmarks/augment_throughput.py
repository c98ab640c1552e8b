"""How fast are mini-batches with augmentation, next to a LeNet-5 training step on the same batch?

Run from the repository root, NumPy's BLAS kernel unforced:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/augment_throughput.py

Uses MNIST from the data directory (--data-dir or CONVMATH_DATA). Prints one
JSON line per measurement, then a table. The claim checked: augmenting a
batch of 128 MNIST images costs well under one LeNet-5 training step on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit, median_seconds

import convmath as cm
import convmath.functional as F
from convmath import data
from convmath.data.augment.spec import parse_augment
from convmath.train.config import RECIPES

# the presets, and mnist-best's shifts, rotations and zooms without and with elastic distortion
AFFINE = ",".join(
    part
    for part in RECIPES["mnist-best"].settings["augment"].split(",")
    if not part.startswith("elastic")
)
SPECS = ("none", "standard", "strong", AFFINE, f"{AFFINE},elastic:15", f"{AFFINE},elastic:34")


def lenet5_step(rng: np.random.Generator):
    """A LeNet-5 SGD step written with the functional ops (W1 of benchmarks/WORKLOADS.md)."""

    def param(*shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return cm.Tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True)

    params = [
        param(5, 5, 1, 6, fan_in=25), param(6, fan_in=25),
        param(5, 5, 6, 16, fan_in=150), param(16, fan_in=150),
        param(400, 120, fan_in=400), param(120, fan_in=400),
        param(120, 84, fan_in=120), param(84, fan_in=120),
        param(84, 10, fan_in=84), param(10, fan_in=84),
    ]  # fmt: skip

    def step(X: np.ndarray, y: np.ndarray) -> float:
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params
        a = F.max_pool2d(F.relu(F.conv2d(cm.Tensor(X), w1, b1, padding=2)), 2)
        a = F.max_pool2d(F.relu(F.conv2d(a, w2, b2)), 2)
        a = F.relu(F.dense(F.flatten(a), w3, b3))
        a = F.relu(F.dense(a, w4, b4))
        loss = F.softmax_cross_entropy(F.dense(a, w5, b5), y)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= np.float32(0.01) * p.grad
        return loss.item()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding mnist/ (default: CONVMATH_DATA)")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    emit({"setup": blas_report()})

    images, labels = data.load("mnist", "train", data_dir=args.data_dir, download=False)
    mean, std = data.channel_stats(images, 1 / 255)
    rng = np.random.default_rng(0)
    rows = []
    for name in dict.fromkeys(SPECS):
        transform = parse_augment(name, (28, 28, 1))
        batches = data.Batches(
            images, labels, args.batch_size, rng=rng, transform=transform, mean=mean, std=std
        )
        stream = (batch for _ in iter(int, 1) for batch in batches)  # epoch after epoch
        seconds = median_seconds(lambda stream=stream: next(stream))
        rows.append((f"batch, augment={name}", seconds))
        emit(
            {
                "what": "batch",
                "augment": name,
                "batch_size": args.batch_size,
                "ms_per_batch": seconds * 1e3,
                "batches_per_s": 1 / seconds,
            }
        )
    X, y = next(iter(data.Batches(images, labels, args.batch_size, rng=rng, mean=mean, std=std)))
    step = lenet5_step(np.random.default_rng(1))
    seconds = median_seconds(lambda: step(X, y))
    rows.append(("LeNet-5 training step", seconds))
    emit({"what": "lenet5_step", "batch_size": args.batch_size, "ms_per_step": seconds * 1e3})

    step_seconds = rows[-1][1]
    print(f"\n{'batch of ' + str(args.batch_size):<48} {'ms':>8} {'per s':>8} {'x step':>8}")
    for name, seconds in rows:
        print(
            f"{name:<48} {seconds * 1e3:>8.2f} {1 / seconds:>8.1f} {seconds / step_seconds:>8.2f}"
        )


if __name__ == "__main__":
    main()
