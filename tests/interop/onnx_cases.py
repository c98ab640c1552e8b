"""Models and layer geometries the ONNX tests export, import and run, shared by their files."""

from __future__ import annotations

import numpy as np

import convmath as cm
from convmath import models
from convmath.nn import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    InceptionModule,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    ResidualBlock,
    Sequential,
    Sigmoid,
    Tanh,
)

NAMED = {
    "digits_cnn": ((8, 8, 1), {}),
    "lenet5": ((28, 28, 1), {}),
    "mnist_cnn": ((28, 28, 1), {"dropout": 0.5}),
    "wide_cnn": ((28, 28, 1), {}),
    "resnet": ((32, 32, 3), {"depth": 8}),
    "resnet_projection": ((32, 32, 3), {"depth": 8, "shortcut": "projection"}),
    "googlenet_small": ((32, 32, 3), {}),
}


def named_model(key: str) -> tuple[cm.nn.Module, tuple[int, int, int]]:
    """A named model with random weights and batch-norm statistics far from 0 and 1."""
    shape, options = NAMED[key]
    rng = np.random.default_rng(len(key))
    model = models.build(key.split("_projection")[0], shape, 10, rng=rng, **options)
    return randomized(model, rng), shape


def randomized(model: cm.nn.Module, rng: np.random.Generator) -> cm.nn.Module:
    for _, module in model.named_modules():
        if isinstance(module, BatchNorm2D):
            n = module.n_C
            module.gamma.data[...] = rng.uniform(0.5, 1.5, n)
            module.beta.data[...] = rng.uniform(-0.5, 0.5, n)
            module.running_mean[...] = rng.uniform(-0.5, 0.5, n)
            module.running_var[...] = rng.uniform(0.5, 2.0, n)
    return model.eval()


def _conv(n_C_prev: int, n_C: int, f: int, **options: object) -> Conv2D:
    return Conv2D(n_C_prev, n_C, f, rng=np.random.default_rng(f), **options)


def geometry(key: str) -> tuple[cm.nn.Module, tuple[int, int, int]]:
    """A small model around one layer geometry, and its input shape."""
    rng = np.random.default_rng(7)
    layers = {
        "conv stride 2 pad 1": ((9, 9, 3), [_conv(3, 4, 3, stride=2, padding=1)]),
        "conv same even filter (asymmetric)": ((7, 8, 2), [_conv(2, 3, 4, padding="same")]),
        "conv same stride 2 (asymmetric)": ((8, 8, 2), [_conv(2, 3, 3, stride=2, padding="same")]),
        "conv explicit asymmetric pads": ((6, 6, 1), [_conv(1, 2, 3, padding=((0, 2), (1, 0)))]),
        "conv dilation 2": ((10, 10, 2), [_conv(2, 3, 3, dilation=2, padding=2)]),
        "conv groups 2, no bias": ((6, 6, 4), [_conv(4, 6, 3, groups=2, bias=False)]),
        "conv rectangular stride": ((9, 7, 1), [_conv(1, 2, 3, stride=(2, 1))]),
        "max pool 3 stride 2 pad 1": ((9, 9, 2), [MaxPool2D(3, 2, 1)]),
        "avg pool pad, count_include_pad": ((7, 7, 2), [AvgPool2D(3, 2, 1)]),
        "avg pool pad, not counted": ((7, 7, 2), [AvgPool2D(3, 2, 1, count_include_pad=False)]),
        "activations": ((5, 5, 2), [LeakyReLU(0.2), Sigmoid(), Tanh(), ReLU()]),
        "batch norm": ((5, 5, 3), [BatchNorm2D(3, momentum=0.3, eps=1e-3)]),
        "global average pool, dense": ((6, 6, 3), [GlobalAvgPool2D(), Dense(3, 4, rng=rng)]),
        "flatten, dropout, dense": (
            (4, 3, 2),
            [Flatten(), Dropout(0.5, rng=rng), ReLU(), Dense(24, 5, rng=rng)],
        ),
        "flatten at the output": ((3, 4, 2), [_conv(2, 3, 1), Flatten()]),
        "flatten, batch norm, dense": (
            (3, 4, 2),
            [_conv(2, 3, 1), Flatten(), BatchNorm2D(36), Dense(36, 4, rng=rng)],
        ),
        "flatten, batch norm at the output": ((3, 4, 2), [Flatten(), BatchNorm2D(24)]),
        "a volume at the output": ((5, 5, 2), [_conv(2, 3, 3, padding=1), ReLU()]),
        "residual, option A": ((8, 8, 4), [ResidualBlock(4, 8, 2, rng=rng, shortcut="pad")]),
        "residual, projection": ((8, 8, 4), [ResidualBlock(4, 6, 2, rng=rng)]),
        "residual, bottleneck": ((6, 6, 8), [ResidualBlock(8, 8, rng=rng, bottleneck=True)]),
        "inception, reduced": ((6, 6, 8), [InceptionModule(8, 2, 3, 4, 2, 3, 2, rng=rng)]),
        "inception, naive": (
            (6, 6, 4),
            [InceptionModule(4, 2, 3, 4, 2, 3, 2, rng=rng, reduce=False)],
        ),
    }
    shape, chain = layers[key]
    return randomized(Sequential(*chain), rng), shape


GEOMETRIES = [
    "conv stride 2 pad 1",
    "conv same even filter (asymmetric)",
    "conv same stride 2 (asymmetric)",
    "conv explicit asymmetric pads",
    "conv dilation 2",
    "conv groups 2, no bias",
    "conv rectangular stride",
    "max pool 3 stride 2 pad 1",
    "avg pool pad, count_include_pad",
    "avg pool pad, not counted",
    "activations",
    "batch norm",
    "global average pool, dense",
    "flatten, dropout, dense",
    "flatten at the output",
    "flatten, batch norm, dense",
    "flatten, batch norm at the output",
    "a volume at the output",
    "residual, option A",
    "residual, projection",
    "residual, bottleneck",
    "inception, reduced",
    "inception, naive",
]


def forward(model: cm.nn.Module, x: np.ndarray) -> np.ndarray:
    with cm.no_grad():
        return model(cm.Tensor(x)).data
