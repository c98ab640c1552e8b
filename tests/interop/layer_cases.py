"""Small models around each layer of today's CNNs, shared by the ONNX and PyTorch export tests."""

from __future__ import annotations

import numpy as np
from onnx_cases import randomized

from convmath import nn
from convmath.nn.graph import Graph, Multiply, Node
from convmath.nn.layout import Permute, Reorder, Reshape, Slice, ZeroPad


def _conv(n_C_prev: int, n_C: int, f: int = 3, **options: object) -> nn.Conv2D:
    return nn.Conv2D(n_C_prev, n_C, f, padding=f // 2, rng=np.random.default_rng(f), **options)


def _se_graph(rng: np.random.Generator) -> Graph:
    """A gate (N, 1, 1, C) times its map (N, H, W, C): the graph's Multiply merge."""
    return Graph(
        [
            Node("conv", _conv(2, 4), ("input",), "a"),
            Node("mean", nn.SpatialMean(), ("a",), "m"),
            Node("fc", nn.Conv2D(4, 4, 1, rng=rng), ("m",), "z"),
            Node("gate", nn.Sigmoid(), ("z",), "s"),
            Node("scale", Multiply(), ("a", "s"), "y"),
            Node("times_self", Multiply(), ("y", "y", "a"), "output"),
        ],
        "input",
        "output",
    )


def case(key: str) -> tuple[nn.Module, tuple[int, int, int]]:
    """A small model around one layer, random parameters, and its input shape."""
    rng = np.random.default_rng(11)
    conv = _conv(2, 4)
    layers: dict[str, tuple[tuple[int, int, int], list[nn.Module]]] = {
        "relu6": ((5, 5, 2), [conv, nn.ReLU6()]),
        "clip": ((5, 5, 2), [conv, nn.Clip(-1.5, 2.0)]),
        "clip, low bound only": ((5, 5, 2), [conv, nn.Clip(lo=-0.5)]),
        "clip, high bound only": ((5, 5, 2), [conv, nn.Clip(hi=0.5)]),
        "hard sigmoid": ((5, 5, 2), [conv, nn.HardSigmoid()]),
        "hard sigmoid, ONNX's numbers": ((5, 5, 2), [conv, nn.HardSigmoid(0.2, 0.5)]),
        "hard swish": ((5, 5, 2), [conv, nn.HardSwish()]),
        "silu": ((5, 5, 2), [conv, nn.SiLU()]),
        "gelu": ((5, 5, 2), [conv, nn.GELU()]),
        "gelu, tanh": ((5, 5, 2), [conv, nn.GELU("tanh")]),
        "activations after a flatten": (
            (3, 2, 2),
            [conv, nn.Flatten(), nn.HardSwish(), nn.GELU(), nn.Dense(24, 3, rng=rng)],
        ),
        "adaptive pool to 1x1": (
            (6, 5, 2),
            [conv, nn.AdaptiveAvgPool2D(1), nn.Flatten(), nn.Dense(4, 3, rng=rng)],
        ),
        "adaptive pool, uniform bins": (
            (8, 6, 2),
            [conv, nn.AdaptiveAvgPool2D((4, 3)), nn.Flatten(), nn.Dense(48, 3, rng=rng)],
        ),
        "adaptive pool, overlapping uniform bins": ((5, 5, 2), [conv, nn.AdaptiveAvgPool2D(2)]),
        "adaptive pool, uneven bins": ((7, 6, 2), [conv, nn.AdaptiveAvgPool2D((3, 4))]),
        "adaptive pool, more bins than rows": ((2, 3, 2), [conv, nn.AdaptiveAvgPool2D((4, 3))]),
        "spatial mean": ((5, 4, 2), [conv, nn.SpatialMean(), nn.Conv2D(4, 3, 1, rng=rng)]),
        "channel shuffle": ((4, 3, 2), [_conv(2, 6), nn.ChannelShuffle(3)]),
        "channel slice": ((4, 3, 2), [_conv(2, 6), nn.ChannelSlice(1, 4), _conv(3, 2, 1)]),
        "layer norm": ((4, 3, 2), [conv, nn.LayerNorm(4)]),
        "layer norm, eps 1e-6, after a flatten": (
            (3, 2, 2),
            [conv, nn.Flatten(), nn.LayerNorm(24, eps=1e-6), nn.Dense(24, 3, rng=rng)],
        ),
        "layer scale": ((4, 3, 2), [conv, nn.LayerScale(4, init=0.5)]),
        "layer scale after a flatten": (
            (3, 2, 2),
            [conv, nn.Flatten(), nn.LayerScale(24), nn.Dense(24, 3, rng=rng)],
        ),
        "squeeze excitation, relu and hard sigmoid": (
            (5, 5, 2),
            [conv, nn.SqueezeExcitation(4, 2, "relu", "hard_sigmoid", rng=rng)],
        ),
        "squeeze excitation, silu and sigmoid": (
            (5, 5, 2),
            [conv, nn.SqueezeExcitation(4, 2, "silu", "sigmoid", rng=rng)],
        ),
        "inverted residual, MobileNetV2, residual": (
            (6, 6, 4),
            [nn.InvertedResidual(4, 4, expanded=8, rng=rng)],
        ),
        "inverted residual, no expansion": (
            (6, 6, 4),
            [nn.InvertedResidual(4, 3, expanded=4, rng=rng)],
        ),
        "inverted residual, MobileNetV3, SE, stride 2": (
            (7, 7, 4),
            [
                nn.InvertedResidual(
                    4, 6, 2, expanded=12, f=5, activation="hard_swish", se_squeeze=4, rng=rng
                ),
                nn.GlobalAvgPool2D(),
                nn.Dense(6, 3, rng=rng),
            ],
        ),
        "multiply merge": ((5, 4, 2), [_se_graph(rng)]),
        "reshape, a vector to a volume": (
            (4, 3, 2),
            [conv, nn.GlobalAvgPool2D(), Reshape((1, 1, 4)), nn.Conv2D(4, 3, 1, rng=rng)],
        ),
        "reshape, a volume to a volume and to a vector": (
            (4, 3, 2),
            [conv, Reshape((2, 6, 4)), _conv(4, 2), Reshape((24,)), nn.Dense(24, 3, rng=rng)],
        ),
        "permute a volume": (
            (4, 3, 2),
            [conv, Permute((1, 0, 2)), _conv(4, 2), Permute((2, 0, 1))],
        ),
        "slice, pad and reorder": (
            (5, 4, 2),
            [
                conv,
                Slice([(1, 5, 2), (0, 4, 1), (0, 3, 1)]),
                ZeroPad([(1, 0), (0, 2), (1, 1)]),
                nn.Flatten(),
                nn.Dense(90, 6, rng=rng),
                Reorder(np.random.default_rng(3).permutation(6)),
                nn.Dense(6, 3, rng=rng),
            ],
        ),
    }
    shape, chain = layers[key]
    model = nn.Sequential(*chain)
    for _, module in model.named_modules():  # parameters far from their initial ones
        if isinstance(module, nn.LayerNorm):
            module.gamma.data[...] = rng.uniform(0.5, 1.5, module.n_C)
            module.beta.data[...] = rng.uniform(-0.5, 0.5, module.n_C)
        elif isinstance(module, nn.LayerScale):
            module.gamma.data[...] = rng.uniform(-1.5, 1.5, module.n_C)
    return randomized(model, rng), shape


CASES = [
    "relu6",
    "clip",
    "clip, low bound only",
    "clip, high bound only",
    "hard sigmoid",
    "hard sigmoid, ONNX's numbers",
    "hard swish",
    "silu",
    "gelu",
    "gelu, tanh",
    "activations after a flatten",
    "adaptive pool to 1x1",
    "adaptive pool, uniform bins",
    "adaptive pool, overlapping uniform bins",
    "adaptive pool, uneven bins",
    "adaptive pool, more bins than rows",
    "spatial mean",
    "channel shuffle",
    "channel slice",
    "layer norm",
    "layer norm, eps 1e-6, after a flatten",
    "layer scale",
    "layer scale after a flatten",
    "squeeze excitation, relu and hard sigmoid",
    "squeeze excitation, silu and sigmoid",
    "inverted residual, MobileNetV2, residual",
    "inverted residual, no expansion",
    "inverted residual, MobileNetV3, SE, stride 2",
    "multiply merge",
    "reshape, a vector to a volume",
    "reshape, a volume to a volume and to a vector",
    "permute a volume",
    "slice, pad and reorder",
]


def example(shape: tuple[int, int, int], m: int = 3) -> np.ndarray:
    """Inputs wide enough (sd 3) that the conv before each layer reaches its kinks (0, +-3, 6)."""
    return 3 * np.random.default_rng(5).standard_normal((m, *shape)).astype(np.float32)


NEW_LAYERS = {
    nn.ReLU6, nn.Clip, nn.HardSigmoid, nn.HardSwish, nn.SiLU, nn.GELU, nn.AdaptiveAvgPool2D,
    nn.SpatialMean, nn.ChannelShuffle, nn.ChannelSlice, nn.LayerNorm, nn.LayerScale,
    nn.SqueezeExcitation, nn.InvertedResidual, Multiply,
}  # fmt: skip
