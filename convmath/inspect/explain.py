"""Explain a model layer by layer, with the article's formulas and the numbers substituted.

For a CONV layer: the input volume, f, p, s, the output size worked out
(n_H = floor((28 + 2*2 - 5)/1) + 1 = 28), the output volume, the parameter
count worked out ((f*f*n_C_prev + 1)*n_C) and the multiply-accumulates; for
POOL layers that they have none; for residual blocks the shortcut and its
shape; for Inception modules each branch, the concatenated channel count and
the cost with and without the 1x1 bottlenecks. A model that does not fit its
input is explained up to the layer where a size falls below 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from convmath.errors import ShapeError
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
    Module,
    ReLU,
    ResidualBlock,
    Sequential,
    Sigmoid,
    Tanh,
)
from convmath.shapes import Shape


@dataclass
class ExplainRow:
    """One layer: its shapes, parameters, cost, and the formulas that give them."""

    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape | None
    parameters: int
    macs: int
    formulas: list[str] = field(default_factory=list)
    depth: int = 0  # nesting inside blocks, for indentation


@dataclass
class Explanation:
    rows: list[ExplainRow]
    error: str | None = None  # why the model does not fit its input, if it does not

    @property
    def parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def output_shape(self) -> Shape | None:
        return None if self.error or not self.rows else self.rows[-1].output_shape

    def text(self) -> str:
        lines = []
        for row in self.rows:
            indent = "    " * row.depth
            shape = "" if row.output_shape is None else f" -> {row.output_shape}"
            lines.append(f"{indent}{row.name} ({row.kind}){shape}")
            lines += [f"{indent}    {formula}" for formula in row.formulas]
        if self.error:
            lines.append(f"does not fit: {self.error}")
        else:
            lines.append(
                f"total: {self.parameters:,} parameters, {self.macs:,} multiply-accumulates"
                f" per example ({2 * self.macs / 1e6:.2f} MFLOP forward)"
            )
        return "\n".join(lines)


def _size_formula(
    axis: str, n: int, f: int, sides: tuple[int, int], s: int, d: int, result: int
) -> str:
    before, after = sides
    padding = f"2*{before}" if before == after else f"{before}+{after}"
    if d == 1:
        return f"{axis} = floor(({n} + {padding} - {f})/{s}) + 1 = {result}"
    return f"{axis} = floor(({n} + {padding} - {d}*({f}-1) - 1)/{s}) + 1 = {result}"


def _conv(layer: Conv2D, shape: Shape) -> list[str]:
    out = layer.output_shape(shape)
    (top, bottom), (left, right) = layer.resolved_padding(shape)
    f_h, f_w = layer.f
    s_h, s_w = layer.stride
    d_h, d_w = layer.dilation
    g = layer.groups
    per_filter = f"{f_h}*{f_w}*{layer.n_C_prev}" + (f"/{g}" if g > 1 else "")
    formulas = [
        f"input volume (n_H_prev, n_W_prev, n_C_prev) = {tuple(shape)}",
        f"{layer.n_C} filters of {f_h}x{f_w}x{layer.n_C_prev // g}, s = {layer.stride[0]}"
        + (f"x{s_w}" if s_w != s_h else "")
        + f", p = {layer.padding!r}"
        + (f", d = {d_h}" if layer.dilation != (1, 1) else "")
        + (f", groups = {g}" if g > 1 else ""),
        _size_formula("n_H", shape[0], f_h, (top, bottom), s_h, d_h, out[0]),
        _size_formula("n_W", shape[1], f_w, (left, right), s_w, d_w, out[1]),
        f"output volume (n_H, n_W, n_C) = {out}",
    ]
    count = layer.num_parameters()
    if layer.b is not None:
        formulas.append(
            f"parameters (f*f*n_C_prev + 1)*n_C = ({per_filter} + 1)*{layer.n_C} = {count:,}"
        )
    else:
        formulas.append(
            f"parameters f*f*n_C_prev*n_C = {per_filter}*{layer.n_C} = {count:,} (no bias)"
        )
    formulas.append(
        f"multiply-accumulates n_H*n_W*n_C*f*f*n_C_prev ="
        f" {out[0]}*{out[1]}*{layer.n_C}*{per_filter} = {layer.macs(shape):,}"
    )
    return formulas


def _pool(layer: MaxPool2D | AvgPool2D, shape: Shape) -> list[str]:
    out = layer.output_shape(shape)
    kind = "max" if isinstance(layer, MaxPool2D) else "average"
    p_h, p_w = layer.padding
    return [
        f"{kind} of each {layer.f[0]}x{layer.f[1]} window, per channel: n_C = {shape[2]} unchanged",
        _size_formula("n_H", shape[0], layer.f[0], (p_h, p_h), layer.stride[0], 1, out[0]),
        _size_formula("n_W", shape[1], layer.f[1], (p_w, p_w), layer.stride[1], 1, out[1]),
        f"output volume {out}; no parameters to learn",
    ]


def _dense(layer: Dense, shape: Shape) -> list[str]:
    bias = " + 1" if layer.b is not None else ""
    return [
        f"Z = A W + b with W ({layer.n_in}, {layer.n_out})",
        f"parameters (n_in{bias})*n_out = ({layer.n_in}{bias})*{layer.n_out}"
        f" = {layer.num_parameters():,}",
        f"multiply-accumulates n_in*n_out = {layer.n_in}*{layer.n_out} = {layer.macs(shape):,}",
    ]


def _simple(layer: Module, shape: Shape) -> list[str]:
    if isinstance(layer, Flatten):
        return [
            f"n_H*n_W*n_C = {'*'.join(str(n) for n in shape)} = {int(np.prod(shape))}"
            " (channels-last order)"
        ]
    if isinstance(layer, GlobalAvgPool2D):
        return [f"mean of each channel over {shape[0]}*{shape[1]} positions; no parameters"]
    if isinstance(layer, BatchNorm2D):
        return [
            f"Z = gamma (A - mu)/sqrt(var + {layer.eps:g}) + beta per channel",
            f"parameters 2*n_C = 2*{layer.n_C} = {layer.num_parameters()} (gamma, beta);"
            " the running mean and variance are statistics, not learned",
        ]
    if isinstance(layer, Dropout):
        return [
            f"zeroes each value with probability {layer.rate} while training; identity at inference"
        ]
    names = {
        ReLU: "max(0, Z)",
        # max(alpha Z, Z) holds only for alpha <= 1; this holds for every alpha
        LeakyReLU: "Z where Z > 0, alpha Z elsewhere",
        Sigmoid: "1/(1 + exp(-Z))",
        Tanh: "tanh(Z)",
    }
    for kind, formula in names.items():
        if isinstance(layer, kind):
            return [f"A = {formula}, elementwise; shape unchanged, no parameters"]
    return []


def _explain(module: Module, shape: Shape, rows: list[ExplainRow], depth: int) -> Shape:
    """Append the rows of ``module`` for input ``shape``; return its output shape."""
    if isinstance(module, Sequential):
        for layer in module:
            shape = _explain(layer, shape, rows, depth)
        return shape
    name = module.path or type(module).__name__
    if isinstance(module, ResidualBlock):
        rows.append(
            ExplainRow(
                name,
                "ResidualBlock",
                shape,
                None,
                0,
                0,
                [f"main path ({module.details()}):"],
                depth,
            )
        )
        main = _explain(module.main, shape, rows, depth + 1)
        skip = module.shortcut_shape(shape)
        formulas = [f"shortcut: {module.shortcut_description()} -> {skip}"]
        if module.projection is not None:
            _explain(module.projection, shape, rows, depth + 1)
        elif not module.identity:
            extra = module.n_C - module.n_C_prev
            formulas.append(
                f"option A: {shape} subsampled to ({skip[0]}, {skip[1]}, {module.n_C_prev}), then"
                f" {extra // 2} + {extra - extra // 2} zero channels -> {skip}"
            )
        module.output_shape(shape)  # checks that the two paths agree
        formulas.append(f"a[l+2] = relu(z[l+2] + shortcut(a[l])): {main} + {skip} -> {main}")
        rows.append(ExplainRow(f"{name}.add", "ResidualAdd", shape, main, 0, 0, formulas, depth))
        return main
    if isinstance(module, InceptionModule):
        rows.append(
            ExplainRow(
                name,
                "InceptionModule",
                shape,
                None,
                0,
                0,
                [f"{len(module.branches)} parallel branches ({module.details()}):"],
                depth,
            )
        )
        outputs = [_explain(branch, shape, rows, depth + 1) for branch in module.branches]
        out = module.output_shape(shape)
        cost = module.cost(shape)
        channels = " + ".join(str(o[2]) for o in outputs)
        rows.append(ExplainRow(f"{name}.concat", "Concatenate", shape, out, 0, 0, [
            f"concatenate along channels: n_C = {channels} = {out[2]} -> {out}",
            f"cost with the 1x1 reductions: {cost['reduced']:,} multiply-accumulates;"
            f" naive (3x3 and 5x5 on all {shape[2]} channels): {cost['naive']:,}"
            f" ({cost['naive'] / cost['reduced']:.1f}x)",
        ], depth))  # fmt: skip
        return out
    if isinstance(module, Conv2D):
        formulas = _conv(module, shape)
    elif isinstance(module, MaxPool2D | AvgPool2D):
        formulas = _pool(module, shape)
    elif isinstance(module, Dense):
        module.output_shape(shape)
        formulas = _dense(module, shape)
    else:
        formulas = _simple(module, shape)
    out = module.output_shape(shape)
    row = ExplainRow(name, type(module).__name__, shape, out, module.num_parameters(), 0, formulas)
    row.macs, row.depth = module.macs(shape), depth
    rows.append(row)
    return out


def explain(model: Module, input_shape: Shape) -> Explanation:
    """Explain ``model`` for examples of ``input_shape``: ``.rows`` and ``.text()``."""
    rows: list[ExplainRow] = []
    try:
        _explain(model, tuple(input_shape), rows, 0)
    except ShapeError as error:
        return Explanation(rows, str(error))
    return Explanation(rows)
