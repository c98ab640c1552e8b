"""The reference workloads W1-W4 (benchmarks/WORKLOADS.md), in convmath and in PyTorch.

Each builder returns a ``Workload``: a training step and an inference step
on a fixed synthetic batch, with the FLOP count per image of workloads.md
(2 x multiply-accumulates of conv and linear layers; training = 3 x forward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import convmath as cm
import convmath.functional as F
from convmath import models, nn, optim


@dataclass
class Workload:
    name: str
    batch: int
    forward_flop: float  # per image
    train_step: Callable[[], object]
    infer_step: Callable[[], object]

    @property
    def train_flop(self) -> float:
        return 3 * self.forward_flop


SPECS = {  # name: (batch, input (n_H, n_W, n_C), forward MFLOP per image from workloads.md)
    "W1-b64": (64, (28, 28, 1), 0.833040),
    "W1-b256": (256, (28, 28, 1), 0.833040),
    "W2": (128, (28, 28, 1), 23.984896),
    "W3": (128, (32, 32, 3), 81.102080),
    "W4": (32, (28, 28, 192), 256.098304),
}


def _convmath_model(name: str, rng: np.random.Generator) -> nn.Module:
    if name.startswith("W1"):
        return models.build("lenet5", (28, 28, 1), 10, rng=rng)
    if name == "W2":
        return models.build("mnist_cnn", (28, 28, 1), 10, rng=rng)
    if name == "W3":
        return models.build("resnet", (32, 32, 3), 10, rng=rng, depth=20, shortcut="pad")
    return nn.InceptionModule(192, 64, 96, 128, 16, 32, 32, rng=rng).name_modules()


def convmath_workload(name: str, seed: int = 0) -> Workload:
    batch, shape, mflop = SPECS[name]
    rng = np.random.default_rng(seed)
    model = _convmath_model(name, rng)
    X = rng.standard_normal((batch, *shape)).astype(np.float32)
    if name == "W3":
        opt = optim.SGD(model.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    else:
        opt = optim.SGD(model.parameters(), 0.01, momentum=0.9)
    if name == "W4":
        target = rng.standard_normal((batch, 28, 28, 256)).astype(np.float32)
        x = cm.Tensor(X, requires_grad=True)  # a module inside a network: dA_prev is needed

        def loss() -> cm.Tensor:
            return F.mean((model(x) - target) ** 2)
    else:
        labels = rng.integers(0, 10, batch)
        x = cm.Tensor(X)

        def loss() -> cm.Tensor:
            return F.softmax_cross_entropy(model(x), labels)

    def train_step() -> None:
        model.train()
        opt.zero_grad()
        x.grad = None
        loss().backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with cm.no_grad():
            model(x)

    return Workload(name, batch, mflop * 1e6, train_step, infer_step)


def torch_workload(name: str, channels_last: bool, seed: int = 0) -> Workload:
    import torch
    from torch import nn as tnn

    torch.manual_seed(seed)
    batch, (n_H, n_W, n_C), mflop = SPECS[name]
    if name.startswith("W1"):
        model = tnn.Sequential(
            tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
            tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
        )  # fmt: skip
    elif name == "W2":
        model = tnn.Sequential(
            tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.Conv2d(32, 64, 3), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Flatten(), tnn.Linear(9216, 128), tnn.ReLU(), tnn.Linear(128, 10),
        )  # fmt: skip
    elif name == "W3":
        model = _torch_resnet20()
    else:
        model = _torch_inception()
    x = torch.randn(batch, n_C, n_H, n_W)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = x.to(memory_format=memory_format)
    decay = 1e-4 if name == "W3" else 0.0
    lr = 0.1 if name == "W3" else 0.01
    opt = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=decay)
    if name == "W4":
        x.requires_grad_(True)
        target = torch.randn(batch, 256, n_H, n_W).to(memory_format=memory_format)

        def loss():
            return torch.nn.functional.mse_loss(model(x), target)
    else:
        labels = torch.randint(0, 10, (batch,))

        def loss():
            return torch.nn.functional.cross_entropy(model(x), labels)

    def train_step() -> None:
        model.train()
        opt.zero_grad()
        if x.grad is not None:
            x.grad = None
        loss().backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    return Workload(name, batch, mflop * 1e6, train_step, infer_step)


def _torch_resnet20():
    import torch
    from torch import nn as tnn

    class Block(tnn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(c_out)
            self.conv2 = tnn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(c_out)
            self.extra = c_out - c_in
            self.stride = stride

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x
            if self.stride != 1 or self.extra:
                half = self.extra // 2
                shortcut = tnn.functional.pad(
                    x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, half, self.extra - half)
                )
            return torch.relu(out + shortcut)

    layers = [tnn.Conv2d(3, 16, 3, 1, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU()]
    c_in = 16
    for stage, c_out in enumerate((16, 32, 64)):
        for k in range(3):
            layers.append(Block(c_in, c_out, 2 if stage and k == 0 else 1))
            c_in = c_out
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(64, 10)]
    return tnn.Sequential(*layers)


def _torch_inception():
    import torch
    from torch import nn as tnn

    def conv(c_in: int, c_out: int, f: int):
        return [tnn.Conv2d(c_in, c_out, f, padding=f // 2), tnn.ReLU()]

    class Inception(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b1 = tnn.Sequential(*conv(192, 64, 1))
            self.b2 = tnn.Sequential(*conv(192, 96, 1), *conv(96, 128, 3))
            self.b3 = tnn.Sequential(*conv(192, 16, 1), *conv(16, 32, 5))
            self.b4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1), *conv(192, 32, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)

    return Inception()
