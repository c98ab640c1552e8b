"""Fine-tuning an imported model: a PyTorch CNN trained on half the classes, as ONNX, tuned on all.

A small CNN (conv 8@3x3, ReLU, BN, max pool 2, conv 16@3x3, ReLU, max pool 2,
FC 32, ReLU, FC) is trained in PyTorch on the digits 0-4 of a dataset and
exported to ONNX. ``convmath train --init-from`` then trains it on all ten
digits with a new head (``--new-head``), in four ways, each a fresh
process with the same settings:

- ``scratch``: the same network with PyTorch's initial weights (an ONNX file
  of the untrained network), every layer training: the baseline;
- ``all``: the pretrained network, every layer training;
- ``frozen-conv1``: ``--freeze-until conv2`` (the first convolution and its
  batch norm frozen);
- ``head-only``: ``--freeze-until fc`` (only the new classifier trains: a
  linear probe of the pretrained features).

It prints each run's test accuracy, its training time (metrics.json's
``train_seconds``) and the parameters that trained.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/finetune.py \\
        --dataset digits --epochs 3
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/finetune.py \\
        --dataset mnist --data-dir DATA_DIR --epochs 1 --train-limit 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from convmath import data

WAYS = {
    "scratch": [],
    "all": [],
    "frozen-conv1": ["--freeze-until", "conv2"],
    "head-only": ["--freeze-until", "fc"],
}


class Net(torch.nn.Module):
    def __init__(self, side: int, classes: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(16 * (side // 4) ** 2, 32)
        self.fc = torch.nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool(self.bn1(torch.relu(self.conv1(x))))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.relu(self.fc1(torch.flatten(x, 1))))


def pretrain(dataset: str, data_dir: str | None, epochs: int, folder: Path) -> tuple[Path, Path]:
    """(the network trained on the digits 0-4, the same network untrained), as ONNX files."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    images, labels = data.load(dataset, "train", data_dir)
    keep = labels < 5
    scale = 1 / data.info(dataset).max_value
    X = torch.from_numpy((images[keep] * scale).astype(np.float32).transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(labels[keep].astype(np.int64))
    side = images.shape[1]
    untrained = Net(side, 5).eval()
    # PyTorch's exporter writes equal initializers once, read through Identity nodes that the
    # importer refuses (a fresh BN's gamma and running variance are both ones): the running
    # statistics, which training replaces from its first batches, are moved off 1 and 0
    untrained.bn1.running_var.fill_(1.0001)
    untrained.bn1.running_mean.fill_(1e-4)
    net = Net(side, 5)
    net.load_state_dict(untrained.state_dict())
    optimizer = torch.optim.Adam(net.parameters(), 3e-3)
    started = time.perf_counter()
    for _ in range(epochs):
        for batch in torch.randperm(len(y)).split(32):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(X[batch]), y[batch]).backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(X).argmax(1) == y).float().mean().item()
    print(
        f"pretrained in PyTorch on {dataset} 0-4 ({len(y)} images, {epochs} epochs):"
        f" {time.perf_counter() - started:.1f} s, train accuracy {accuracy:.4f}"
    )
    paths = folder / f"{dataset}5.onnx", folder / f"{dataset}5-untrained.onnx"
    for model, path in zip((net, untrained), paths, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                torch.zeros(1, 1, side, side),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "N"}},
                dynamo=False,
            )
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist"))
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=3, help="convmath's epochs")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--lr", default="0.01")
    parser.add_argument("--train-limit", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pretrained, untrained = pretrain(args.dataset, args.data_dir, args.pretrain_epochs, folder)
        print(f"{'way':<14} {'test accuracy':>13} {'train s':>8} {'trained parameters':>19}")
        for way, options in WAYS.items():
            source = untrained if way == "scratch" else pretrained
            out = folder / way
            argv = [sys.executable, "-m", "convmath.cli", "train", "--init-from", str(source),
                    "--new-head", "--dataset", args.dataset, "--epochs", str(args.epochs),
                    "--lr", args.lr, "--augment", "none", "--out", str(out), *options]  # fmt: skip
            if args.data_dir:
                argv += ["--data-dir", args.data_dir]
            if args.train_limit:
                argv += ["--train-limit", str(args.train_limit)]
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            metrics = json.loads((out / "metrics.json").read_text())
            print(
                f"{way:<14} {metrics['test_accuracy']:>13.4f} {metrics['train_seconds']:>8.1f}"
                f" {metrics['trained_parameters']:>19,}"
            )
        print("the command:", " ".join(argv[1:]).replace(str(folder), "DIR"))


if __name__ == "__main__":
    main()
