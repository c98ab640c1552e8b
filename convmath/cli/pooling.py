"""``convmath pooling``: the article's pooling examples, max and average, worked out in numbers."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import convmath.functional as F
from convmath.cli.common import embedded_digit, option
from convmath.errors import InvalidArgumentError
from convmath.inspect.edges import format_grid
from convmath.schema import Integer
from convmath.shapes import conv_output_size
from convmath.tensor import Tensor, no_grad

# A 4x4 input whose 2x2 windows each have one clear maximum (the classic worked example).
EXAMPLE = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], dtype=np.float64)
MAX_WINDOW = 8


def _pooling(args: argparse.Namespace) -> int:
    if args.index is None:
        image, source = EXAMPLE, "the 4x4 example"
    else:
        image, label = embedded_digit(args.index)
        source = f"embedded UCI digit #{args.index} (label {label}, 0-16)"
    f, p = args.f, args.padding
    s = f if args.stride is None else args.stride
    if p > f // 2:
        raise InvalidArgumentError(f"--padding {p} must be at most half the window f={f}")
    n_H_prev, n_W_prev = image.shape
    n_H = conv_output_size(n_H_prev, f, p, s, axis="n_H", op=f"a {f}x{f} window")
    n_W = conv_output_size(n_W_prev, f, p, s, axis="n_W", op=f"a {f}x{f} window")
    volume = Tensor(image[None, :, :, None])
    with no_grad():
        maxima = F.max_pool2d(volume, f, s, p).data[0, :, :, 0]
        means = F.avg_pool2d(volume, f, s, p).data[0, :, :, 0]
    print(f"input: {source}, {n_H_prev} x {n_W_prev}, one channel (n_C = 1, unchanged)")
    print(f"window f = {f}, stride s = {s}, padding p = {p}; no parameters to learn")
    print(
        f"output: n_H = floor(({n_H_prev} + 2*{p} - {f}) / {s}) + 1 = {n_H},"
        f" n_W = floor(({n_W_prev} + 2*{p} - {f}) / {s}) + 1 = {n_W}"
    )
    print(f"\ninput:\n{format_grid(image)}")
    print(f"\nmax pooling (the largest value of each {f}x{f} window):\n{format_grid(maxima)}")
    decimals = 0 if np.all(means == np.round(means)) else 2
    counted = ", the padded zeros counted" if p else ""
    print(f"\naverage pooling (the mean of each window{counted}):\n{format_grid(means, decimals)}")
    return 0


def register(commands: Any) -> None:
    pooling = commands.add_parser(
        "pooling",
        help="max and average pooling worked out on a 4x4 example or a real digit",
        description="The article's pooling examples: max and average pooling of a 4x4 input"
        " (or of an embedded digit with --index), with the output size worked out.",
    )
    pooling.add_argument(
        "--index",
        type=option(Integer(0, 10**6)),
        help="pool this embedded digit (default: the article's 4x4 example)",
    )
    pooling.add_argument(
        "--f", type=option(Integer(1, MAX_WINDOW)), default=2, help="window size f (default 2)"
    )
    pooling.add_argument(
        "--stride", type=option(Integer(1, MAX_WINDOW)), help="stride s (default: f)"
    )
    pooling.add_argument(
        "--padding",
        type=option(Integer(0, MAX_WINDOW // 2)),
        default=0,
        help="padding p, at most f/2 (default 0)",
    )
    pooling.set_defaults(run=_pooling)
