"""The CONV layer: a bank of filters convolved with the input volume, plus biases.

A thin :class:`Module` around ``convmath.functional.conv2d`` (where the
forward and backward mathematics lives), with its parameters W, b and its
shape rule. Shapes are per example: (n_H, n_W, n_C).
"""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.nn.init import initialize
from convmath.nn.module import Module, Parameter, Shape, volume
from convmath.shapes import (
    PaddingSpec,
    conv_output_size,
    pair,
    positive_int,
    resolve_padding,
    size_formula,
)
from convmath.tensor import Tensor


class Conv2D(Module):
    """CONV layer: Z = conv(A_prev, W) + b, with W (f, f, n_C_prev/groups, n_C) and b (n_C,).

    n_H = floor((n_H_prev + 2p - d(f-1) - 1)/s) + 1; parameters (f*f*n_C_prev/groups + 1)*n_C.
    Weights are drawn by ``init`` (He normal by default) from ``rng``; biases start at 0
    (or, with init="torch_default", like PyTorch's).

    In the article's notation, layer l computes Z^[l] = W^[l] * A^[l-1] + b^[l]
    (A_prev is A^[l-1]); the activation layer after it gives A^[l] = psi(Z^[l]).

    Shapes
    ------
    A_prev: (m, n_H_prev, n_W_prev, n_C_prev), channels-last
    W: (f, f, n_C_prev/groups, n_C);  b: (n_C,)
    Z: (m, n_H, n_W, n_C), with n_H and n_W from the formula above

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> conv = nn.Conv2D(3, 8, f=3, padding="same", rng=np.random.default_rng(0))
    >>> conv.W.shape, conv.b.shape
    ((3, 3, 3, 8), (8,))
    >>> conv.num_parameters()  # (f*f*n_C_prev + 1)*n_C = (3*3*3 + 1)*8
    224
    >>> conv.output_shape((32, 32, 3))  # "same" at s = 1 keeps n_H and n_W
    (32, 32, 8)
    >>> conv(Tensor(np.zeros((4, 32, 32, 3), np.float32))).shape
    (4, 32, 32, 8)
    >>> nn.Conv2D(1, 6, f=5, stride=2, rng=np.random.default_rng(0)).output_shape((28, 28, 1))
    (12, 12, 6)
    """

    def __init__(
        self,
        n_C_prev: int,
        n_C: int,
        f: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: PaddingSpec = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        rng: np.random.Generator,
        init: str = "he_normal",
    ) -> None:
        super().__init__()
        self.f = pair(f, "Conv2D f")
        self.stride = pair(stride, "Conv2D stride")
        self.dilation = pair(dilation, "Conv2D dilation")
        self.padding = padding
        groups = positive_int(groups, "Conv2D groups")
        if n_C_prev % groups or n_C % groups:
            raise InvalidArgumentError(
                f"Conv2D: n_C_prev={n_C_prev} and n_C={n_C} must both be divisible by"
                f" groups={groups}"
            )
        self.groups = groups
        self.n_C_prev = n_C_prev
        self.n_C = n_C
        fan_in = self.f[0] * self.f[1] * n_C_prev // groups
        fan_out = self.f[0] * self.f[1] * n_C // groups
        shape = (*self.f, n_C_prev // groups, n_C)
        self.W = Parameter(initialize(init, shape, fan_in, fan_out, rng))
        self.b = None
        if bias:
            bias_init = "torch_default" if init == "torch_default" else "zeros"
            self.b = Parameter(initialize(bias_init, (n_C,), fan_in, fan_out, rng))

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return F.conv2d(
            x,
            self.W,
            self.b,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    def check_input(self, x: Tensor) -> None:
        """Refuse, naming this layer, an input whose channels are not n_C_prev."""
        if x.ndim != 4 or x.shape[3] != self.n_C_prev:
            hint = ""
            if x.ndim == 4 and x.shape[1] == self.n_C_prev:
                hint = (
                    "; convmath is channels-last, (m, n_H, n_W, n_C): if this is"
                    " channels-first (NCHW), pass x.transpose(0, 2, 3, 1)"
                )
            raise self.fail(
                f"expected n_C_prev={self.n_C_prev} but the input has shape {x.shape}{hint}"
            )

    def resolved_padding(self, shape: Shape) -> tuple[tuple[int, int], tuple[int, int]]:
        return resolve_padding(self.padding, shape[:2], self.f, self.stride, self.dilation)

    def output_shape(self, input_shape: Shape) -> Shape:
        n_H_prev, n_W_prev, n_C_prev = volume(self, input_shape)
        if n_C_prev != self.n_C_prev:
            raise self.fail(
                f"expected n_C_prev={self.n_C_prev} but the input has shape"
                f" {tuple(input_shape)} (n_C_prev={n_C_prev})"
            )
        (p_top, p_bottom), (p_left, p_right) = self.resolved_padding(input_shape)
        n_H = conv_output_size(
            n_H_prev, self.f[0], (p_top, p_bottom), self.stride[0], self.dilation[0],
            axis="n_H", op=self.label,
        )  # fmt: skip
        n_W = conv_output_size(
            n_W_prev, self.f[1], (p_left, p_right), self.stride[1], self.dilation[1],
            axis="n_W", op=self.label,
        )  # fmt: skip
        return (n_H, n_W, self.n_C)

    def macs(self, input_shape: Shape) -> int:
        n_H, n_W, n_C = self.output_shape(input_shape)
        return n_H * n_W * n_C * self.f[0] * self.f[1] * self.n_C_prev // self.groups

    def formulas(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        (top, bottom), (left, right) = self.resolved_padding(input_shape)
        (f_h, f_w), (s_h, s_w), (d_h, d_w), g = self.f, self.stride, self.dilation, self.groups
        per_filter = f"{f_h}*{f_w}*{self.n_C_prev}" + (f"/{g}" if g > 1 else "")
        count = self.num_parameters()
        if self.b is not None:
            parameters = f"(f*f*n_C_prev + 1)*n_C = ({per_filter} + 1)*{self.n_C} = {count:,}"
        else:
            parameters = f"f*f*n_C_prev*n_C = {per_filter}*{self.n_C} = {count:,} (no bias)"
        return [
            f"input volume (n_H_prev, n_W_prev, n_C_prev) = {tuple(input_shape)}",
            f"{self.n_C} filters of {f_h}x{f_w}x{self.n_C_prev // g}, s = {s_h}"
            + (f"x{s_w}" if s_w != s_h else "")
            + f", p = {self.padding!r}"
            + (f", d = {d_h}" if self.dilation != (1, 1) else "")
            + (f", groups = {g}" if g > 1 else ""),
            size_formula("n_H", input_shape[0], f_h, (top, bottom), s_h, d_h, out[0]),
            size_formula("n_W", input_shape[1], f_w, (left, right), s_w, d_w, out[1]),
            f"output volume (n_H, n_W, n_C) = {out}",
            f"parameters {parameters}",
            f"multiply-accumulates n_H*n_W*n_C*f*f*n_C_prev ="
            f" {out[0]}*{out[1]}*{self.n_C}*{per_filter} = {self.macs(input_shape):,}",
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        out, w_shape = self.output_shape(input_shape), self.W.shape
        n_H, n_W, _ = out
        lines = [f"dZ {out} arrives from the layer above"]
        if self.b is not None:
            lines.append(f"db = sum of dZ over m, n_H, n_W: ({self.n_C},)")
        macs = self.macs(input_shape)
        reach = [self.dilation[i] * (self.f[i] - 1) + 1 for i in (0, 1)]  # a window's span
        if any(self.stride[i] < reach[i] for i in (0, 1)):
            where = "overlapping windows add up"
        elif any(self.stride[i] > reach[i] for i in (0, 1)):
            where = "positions no window reads get 0"
        else:
            where = "the windows tile the input"
        per_group = f", group by group ({self.groups} groups)" if self.groups > 1 else ""
        lines += [
            f"dW = sum over m and the {n_H}*{n_W} positions of window(A_prev) * dZ: {w_shape},"
            f" {macs:,} multiply-accumulates per example",
            f"dA_prev = col2im(dZ W^T){per_group}: each window's dZ times the filters goes back"
            f" where the window was read ({where}): {tuple(input_shape)}, {macs:,}"
            f" multiply-accumulates per example",
        ]
        return lines

    def details(self) -> str:
        parts = [f"{self.n_C}@{self.f[0]}x{self.f[1]}", f"s={self.stride[0]}"]
        if self.stride[0] != self.stride[1]:
            parts[-1] = f"s={self.stride}"
        parts.append(f"p={self.padding}")
        if self.dilation != (1, 1):
            parts.append(f"d={self.dilation[0]}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.b is None:
            parts.append("no bias")
        return ", ".join(parts)
