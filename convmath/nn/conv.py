"""The CONV layer: a bank of filters convolved with the input volume, plus biases.

A thin :class:`Module` around ``convmath.functional.conv2d`` (where the
forward and backward mathematics lives), with its parameters W, b and its
shape rule. Shapes are per example: (n_H, n_W, n_C).
"""

from __future__ import annotations

import math

import numpy as np

import convmath.functional as F
from convmath.dispatch import examples_at_once, keeps_for_backward
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
    tap_index,
)
from convmath.tensor import Tensor


class Conv2D(Module):
    """CONV layer: Z^[l] = W^[l] * A^[l-1] + b^[l], W (f, f, n_C_prev/groups, n_C), b (n_C,).

    The convolution product, as the article writes it (indices from 1, the
    input zero-padded by p, stride 1):

        Z^[l]_{x,y,c} = sum_{i=1..f} sum_{j=1..f} sum_{k=1..n_C_prev}
                        W^[l]_{i,j,k,c} A^[l-1]_{x+i-1, y+j-1, k} + b^[l]_c

    (at stride s the window of x starts at row s(x-1)+1). The activation
    layer after it gives A^[l] = psi(Z^[l]). In code A^[l-1] is ``A_prev``.

    n_H = floor((n_H_prev + 2p - d(f-1) - 1)/s) + 1; parameters (f*f*n_C_prev/groups + 1)*n_C.
    Weights are drawn by ``init`` (He normal by default) from ``rng``; biases start at 0
    (or, with init="torch_default", like PyTorch's).

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

    def _work(self, input_shape: Shape) -> tuple[int, int, int, int]:
        """Per example, in values: (padded input, im2col matrix, Winograd's tiles, the dual's)."""
        n_H_prev, n_W_prev, n_C_prev = input_shape
        n_H, n_W, n_C = self.output_shape(input_shape)
        (top, bottom), (left, right) = self.resolved_padding(input_shape)
        (f_h, f_w), g = self.f, self.groups
        padded = (n_H_prev + top + bottom) * (n_W_prev + left + right) * n_C_prev
        if top == bottom == left == right == 0:
            padded = 0
        pointwise = (f_h, f_w) == (1, 1) and self.stride == (1, 1) and not padded
        cols = 0 if pointwise else n_H * n_W * f_h * f_w * n_C_prev
        winograd = 0
        if (f_h, f_w) == (3, 3) and self.stride == self.dilation == (1, 1) and g == 1:
            tiles = -(-n_H // 2) * -(-n_W // 2)
            winograd = tiles * (36 * n_C_prev + 20 * n_C) + n_H * n_W * n_C
        # dA_prev at stride 1: the dual convolution's im2col over the input, from padded dZ
        dual = n_H_prev * n_W_prev * f_h * f_w * n_C + (n_H + f_h) * (n_W + f_w) * n_C
        return padded, cols, winograd, dual

    def scratch_bytes(
        self, input_shape: Shape, batch: int, itemsize: int, *, training: bool
    ) -> int:
        """The padded input and the im2col matrix (or Winograd's tiles), and in backward the
        matrix again, the dual convolution's or col2im's: whole batch with the equations,
        the chunks the workers hold with the kernels (their im2col is f_h*f_w*n_C_prev times
        one output position per example)."""
        padded, cols, winograd, dual = self._work(input_shape)
        n_H, n_W, n_C = self.output_shape(input_shape)
        inputs = math.prod(input_shape)
        forward = padded + max(cols, winograd) + (n_H * n_W * n_C if self.groups > 1 else 0)
        work = forward
        if training:  # dZ W^T (or the dual's matrix), col2im's padded dA_prev, dZ * [A > 0]
            work = max(forward, cols + max(cols, dual) + padded + inputs + n_H * n_W * n_C)
        # the kernels size their chunks by their own bytes per example (im2col's, Winograd's or
        # the dual's): the smallest of those gives the most examples held at once
        n_H_prev, n_W_prev, n_C_prev = input_shape
        per_example = [n_H * n_W * self.f[0] * self.f[1] * n_C_prev]
        if winograd:
            per_example.append(16 * (-(-n_H // 2) * -(-n_W // 2)) * (2 * n_C_prev + n_C))
        if training:
            per_example.append(n_H_prev * n_W_prev * self.f[0] * self.f[1] * n_C)
        held = examples_at_once(batch, max(min(per_example), 1) * itemsize)
        filters = 2 * self.W.size if training else 16 * self.W.size  # dW's sums; Winograd's U
        return (held * work + filters) * itemsize

    def kept_bytes(self, input_shape: Shape, batch: int, itemsize: int) -> int:
        """The im2col matrix kept from forward for dW (the kernels keep only small ones)."""
        _, cols, _, _ = self._work(input_shape)
        kept = batch * cols * itemsize
        return kept if keeps_for_backward(kept) else 0

    output_symbol = "Z"
    starts_layer = True

    def _taps(self) -> tuple[str, str]:
        """The article's input indices a window reads: ``x+i-1, y+j-1`` at stride 1."""
        (s_h, s_w), (d_h, d_w) = self.stride, self.dilation
        return tap_index("x", "i", s_h, d_h), tap_index("y", "j", s_w, d_w)

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
        row, col = self._taps()
        bias = " + b^[l]_c" if self.b is not None else ""
        channels = self.n_C_prev // g
        return [
            "Z^[l] = W^[l] * A^[l-1]"
            + (" + b^[l]" if self.b is not None else "")
            + ", then A^[l] = psi(Z^[l]) (the activation row that follows)",
            f"Z^[l]_(x,y,c) = sum_(i=1..{f_h}) sum_(j=1..{f_w}) sum_(k=1..{channels})"
            f" W^[l]_(i,j,k,c) A^[l-1]_({row}, {col}, k){bias}"
            + (" (A^[l-1] zero-padded)" if top + bottom + left + right else "")
            + (f" (k within filter c's group of {channels} channels)" if g > 1 else ""),
            f"input volume A^[l-1] (n_H_prev, n_W_prev, n_C_prev) = {tuple(input_shape)}",
            f"{self.n_C} filters of {f_h}x{f_w}x{channels}, s = {s_h}"
            + (f"x{s_w}" if s_w != s_h else "")
            + f", p = {self.padding!r}"
            + (f", d = {d_h}" if self.dilation != (1, 1) else "")
            + (f", groups = {g}" if g > 1 else ""),
            size_formula("n_H", input_shape[0], f_h, (top, bottom), s_h, d_h, out[0]),
            size_formula("n_W", input_shape[1], f_w, (left, right), s_w, d_w, out[1]),
            f"output volume Z^[l] (n_H, n_W, n_C) = {out}",
            f"parameters {parameters}",
            f"multiply-accumulates n_H*n_W*n_C*f*f*n_C_prev ="
            f" {out[0]}*{out[1]}*{self.n_C}*{per_filter} = {self.macs(input_shape):,}",
        ]

    def equations(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        (top, bottom), (left, right) = self.resolved_padding(input_shape)
        (f_h, f_w), (s_h, s_w), (d_h, d_w) = self.f, self.stride, self.dilation
        row, col = self._taps()
        bias = " + b^{[l]}" if self.b is not None else ""
        return [
            f"Z^{{[l]}} = W^{{[l]}} * A^{{[l-1]}}{bias}, \\quad A^{{[l]}} = \\psi(Z^{{[l]}})",
            f"Z^{{[l]}}_{{x,y,c}} = \\sum_{{i=1}}^{{{f_h}}} \\sum_{{j=1}}^{{{f_w}}}"
            f" \\sum_{{k=1}}^{{{self.n_C_prev // self.groups}}} W^{{[l]}}_{{i,j,k,c}}\\,"
            f" A^{{[l-1]}}_{{{row},\\,{col},\\,k}}{bias and bias + '_c'}",
            _size_tex("n_H", input_shape[0], f_h, top + bottom, s_h, d_h, out[0]),
            _size_tex("n_W", input_shape[1], f_w, left + right, s_w, d_w, out[1]),
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        out, w_shape = self.output_shape(input_shape), self.W.shape
        n_H, n_W, _ = out
        row, col = self._taps()
        lines = [f"dZ^[l] {out} arrives from the layer above"]
        if self.b is not None:
            lines.append(
                f"db^[l]_c = sum_(x=1..{n_H}) sum_(y=1..{n_W}) dZ^[l]_(x,y,c), summed over the m"
                f" examples: ({self.n_C},)"
            )
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
            f"dW^[l]_(i,j,k,c) = sum_(x=1..{n_H}) sum_(y=1..{n_W}) dZ^[l]_(x,y,c)"
            f" A^[l-1]_({row}, {col}, k), summed over the m examples (each window of A^[l-1]"
            f" times its dZ): {w_shape}, {macs:,} multiply-accumulates per example",
            f"dA^[l-1]_(x',y',k) = sum over the windows (x, y) that read (x', y') and the filters c"
            f" of W^[l]_(i,j,k,c) dZ^[l]_(x,y,c), with (x', y') = ({row}, {col}){per_group}"
            f" ({where}): {tuple(input_shape)}, {macs:,} multiply-accumulates per example"
            " (the code computes this sum as col2im of dZ W^T)",
        ]
        return lines

    def backward_equations(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = self.output_shape(input_shape)
        row, col = self._taps()
        sums = f"\\sum_{{x=1}}^{{{n_H}}} \\sum_{{y=1}}^{{{n_W}}}"
        lines = [
            f"dW^{{[l]}}_{{i,j,k,c}} = {sums} dZ^{{[l]}}_{{x,y,c}}\\,"
            f" A^{{[l-1]}}_{{{row},\\,{col},\\,k}}",
            f"dA^{{[l-1]}}_{{x',y',k}} = \\sum_{{c}} \\sum_{{(x,y,i,j):\\, ({row},\\,{col})"
            f" = (x',y')}} W^{{[l]}}_{{i,j,k,c}}\\, dZ^{{[l]}}_{{x,y,c}}",
        ]
        if self.b is not None:
            lines.insert(0, f"db^{{[l]}}_c = {sums} dZ^{{[l]}}_{{x,y,c}}")
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


def _size_tex(axis: str, n: int, f: int, padding: int, s: int, d: int, result: int) -> str:
    """The output-size formula typeset: n_H = floor((28 + 4 - 5)/1) + 1 = 28."""
    reach = f"{f}" if d == 1 else f"{d}({f}-1) - 1"
    return (
        f"{axis} = \\left\\lfloor \\frac{{{n} + {padding} - {reach}}}{{{s}}} \\right\\rfloor"
        f" + 1 = {result}"
    )
