"""A convmath model as an ONNX graph: the same function, in ONNX's NCHW operators.

The graph takes convmath's channels-last input ``(N, n_H, n_W, n_C)`` and
turns it to NCHW with one Transpose (``nchw_input=True`` takes NCHW as it
is); the batch dimension is dynamic. Each layer becomes its ONNX operator
with every attribute written out (explicit pads, never ``auto_pad``;
``count_include_pad`` always). Two layouts meet at a Flatten: convmath
flattens (n_H, n_W, n_C) channels-last, ONNX (C, H, W); the Dense layer that
reads the flattened vector gets its weight rows permuted to match, and any
other reader gets a Gather that puts the features back in convmath's order.
Dropout is left out (the graph is for inference); batch norm uses its
running statistics. Initializers keep convmath's parameter names. An operator
newer than the opset asked for (HardSwish 14, LayerNormalization 17, Gelu 20)
is written as its formula in older ones; docs/INTEROP.md has the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convmath.errors import InteropError
from convmath.interop.onnx.read import CONFIG_KEY
from convmath.interop.onnx.runtime import onnx_modules
from convmath.nn import (
    GELU,
    AdaptiveAvgPool2D,
    AvgPool2D,
    BatchNorm2D,
    ChannelShuffle,
    ChannelSlice,
    Clip,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    HardSigmoid,
    HardSwish,
    InceptionModule,
    InvertedResidual,
    LayerNorm,
    LayerScale,
    LeakyReLU,
    MaxPool2D,
    Module,
    ReLU,
    ReLU6,
    ResidualBlock,
    Sequential,
    Sigmoid,
    SiLU,
    SpatialMean,
    SqueezeExcitation,
    Tanh,
)
from convmath.nn.activation import Softmax
from convmath.nn.graph import Add, Concatenate, Graph, Merge, Multiply, unique
from convmath.nn.layout import Permute, Reorder, Reshape, Slice, ZeroPad
from convmath.ops.pool import averaging_matrix
from convmath.shapes import adaptive_bins
from convmath.train.checkpoint import atomic_write
from convmath.version import __version__

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Slice, Pad and Split take their sizes as inputs from 11 and 13 on
MAX_OPSET = 21
INPUT, OUTPUT = "input", "output"
CHW_TO_HWC = (1, 2, 0)
# The opsets that brought HardSwish, LayerNormalization and Gelu (before: their formulas).
HARD_SWISH_OPSET, LAYER_NORM_OPSET, GELU_OPSET = 14, 17, 20


@dataclass(frozen=True)
class Value:
    """A value of the graph being built: its ONNX name and one example's convmath shape.

    ``chw`` is True for a flattened volume whose features are in ONNX's
    (C, H, W) order (``shape`` then holds the volume's (n_H, n_W, n_C)).
    """

    name: str
    shape: tuple[int, ...]
    chw: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape)


class _Builder:
    def __init__(self, helper: Any, numpy_helper: Any, opset: int = DEFAULT_OPSET) -> None:
        self.helper, self.numpy_helper, self.opset = helper, numpy_helper, opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = {INPUT, OUTPUT}
        self._counts: dict[str, int] = {}
        self._node_names: set[str] = set()

    def fresh(self, hint: str) -> str:
        return unique(hint, self._names, self._counts)

    def constant(self, name: str, array: np.ndarray) -> str:
        name = self.fresh(name)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attributes: Any) -> str:
        output = self.fresh(f"{hint}.{op}" if hint else op)
        name = hint if hint and hint not in self._node_names else output  # the layer's path
        self._node_names.add(name)
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name, **attributes))
        return output


def _path(module: Module, fallback: str) -> str:
    return module.path or fallback


def _hwc_order(value: Value) -> np.ndarray:
    """The features of a (C, H, W)-ordered flat vector in convmath's (H, W, C) order."""
    n_H, n_W, n_C = value.shape
    return np.arange(n_C * n_H * n_W).reshape(n_C, n_H, n_W).transpose(CHW_TO_HWC).ravel()


def _plain(b: _Builder, value: Value, hint: str) -> Value:
    """``value`` in convmath's own layout (a flat (C, H, W) vector is put back in (H, W, C))."""
    if not value.chw:
        return value
    indices = b.constant(f"{hint}.hwc_order", _hwc_order(value).astype(np.int64))
    name = b.node("Gather", [value.name, indices], hint, axis=1)
    return Value(name, (int(np.prod(value.shape)),))


def _conv(b: _Builder, m: Conv2D, x: Value) -> Value:
    hint = _path(m, "conv")
    (top, bottom), (left, right) = m.resolved_padding(x.shape)
    inputs = [x.name, b.constant(f"{hint}.W", m.W.data.transpose(3, 2, 0, 1))]
    if m.b is not None:
        inputs.append(b.constant(f"{hint}.b", m.b.data))
    name = b.node(
        "Conv", inputs, hint,
        kernel_shape=list(m.f), strides=list(m.stride), dilations=list(m.dilation),
        pads=[top, left, bottom, right], group=m.groups,
    )  # fmt: skip
    return Value(name, m.output_shape(x.shape))


def _dense(b: _Builder, m: Dense, x: Value) -> Value:
    hint = _path(m, "dense")
    W = m.W.data
    if x.chw:  # rows in the order ONNX's flatten gives the features
        W = np.empty_like(W)
        W[_hwc_order(x)] = m.W.data
    inputs = [x.name, b.constant(f"{hint}.W", W.T)]
    if m.b is not None:
        inputs.append(b.constant(f"{hint}.b", m.b.data))
    name = b.node("Gemm", inputs, hint, transB=1)
    return Value(name, (m.n_out,))


def _batch_norm(b: _Builder, m: BatchNorm2D, x: Value) -> Value:
    hint = _path(m, "bn")
    vectors = {
        "gamma": m.gamma.data,
        "beta": m.beta.data,
        "running_mean": m.running_mean,
        "running_var": m.running_var,
    }
    if x.chw:  # per feature, in the order ONNX's flatten gives the features
        order = _hwc_order(x)
        for key, vector in vectors.items():
            vectors[key] = np.empty_like(vector)
            vectors[key][order] = vector
    inputs = [x.name] + [
        b.constant(f"{hint}.{key}", np.asarray(array, dtype=np.float32))
        for key, array in vectors.items()
    ]
    # ONNX's momentum weighs the old running value, convmath's (PyTorch's) the new batch's.
    name = b.node(
        "BatchNormalization", inputs, hint, epsilon=float(m.eps), momentum=1.0 - float(m.momentum)
    )
    return Value(name, x.shape, x.chw)


def _pool(b: _Builder, m: MaxPool2D | AvgPool2D, x: Value) -> Value:
    p_h, p_w = m.padding
    attributes: dict[str, Any] = {
        "kernel_shape": list(m.f), "strides": list(m.stride), "pads": [p_h, p_w, p_h, p_w],
    }  # fmt: skip
    if isinstance(m, AvgPool2D):
        attributes["count_include_pad"] = int(m.count_include_pad)
        op = "AveragePool"
    else:
        op = "MaxPool"
    name = b.node(op, [x.name], _path(m, "pool"), **attributes)
    return Value(name, m.output_shape(x.shape))


def _global_avg_pool(b: _Builder, m: GlobalAvgPool2D, x: Value) -> Value:
    hint = _path(m, "gap")
    pooled = b.node("GlobalAveragePool", [x.name], hint)
    return Value(b.node("Flatten", [pooled], hint, axis=1), m.output_shape(x.shape))


def _flatten(b: _Builder, m: Flatten, x: Value) -> Value:
    if x.rank == 1:
        return x
    name = b.node("Flatten", [x.name], _path(m, "flatten"), axis=1)
    if x.rank == 3:
        return Value(name, x.shape, chw=True)
    return Value(name, m.output_shape(x.shape))


def _activation(op: str, **attributes: Any) -> Callable[[_Builder, Module, Value], Value]:
    def emit(b: _Builder, m: Module, x: Value) -> Value:
        values = {key: read(m) for key, read in attributes.items()}
        return Value(b.node(op, [x.name], _path(m, op.lower()), **values), x.shape, x.chw)

    return emit


def _dropout(b: _Builder, m: Dropout, x: Value) -> Value:
    return x  # inference: dropout is the identity


def _softmax(b: _Builder, m: Softmax, x: Value) -> Value:
    x = _plain(b, x, _path(m, "softmax"))
    return Value(b.node("Softmax", [x.name], _path(m, "softmax"), axis=-1), x.shape)


def _sequential(b: _Builder, m: Sequential, x: Value) -> Value:
    for layer in m:
        x = emit(b, layer, x)
    return x


def _residual(b: _Builder, m: ResidualBlock, x: Value) -> Value:
    hint = _path(m, "block")
    main = emit(b, m.main, x)
    if m.identity:
        shortcut = x
    elif m.projection is not None:
        shortcut = emit(b, m.projection, x)
    else:  # option A: a[:, ::s, ::s] then zero channels, half before and half after
        s, extra = m.stride, m.n_C - m.n_C_prev
        starts = b.constant(f"{hint}.shortcut.starts", np.array([0, 0], dtype=np.int64))
        ends = b.constant(f"{hint}.shortcut.ends", np.array([2**62, 2**62], dtype=np.int64))
        axes = b.constant(f"{hint}.shortcut.axes", np.array([2, 3], dtype=np.int64))
        steps = b.constant(f"{hint}.shortcut.steps", np.array([s, s], dtype=np.int64))
        sliced = b.node("Slice", [x.name, starts, ends, axes, steps], f"{hint}.shortcut")
        pads = np.array([0, extra // 2, 0, 0, 0, extra - extra // 2, 0, 0], dtype=np.int64)
        padded = b.node(
            "Pad", [sliced, b.constant(f"{hint}.shortcut.pads", pads)], f"{hint}.shortcut",
            mode="constant",
        )  # fmt: skip
        shortcut = Value(padded, m.shortcut_shape(x.shape))
    added = b.node("Add", [main.name, shortcut.name], hint)
    return Value(b.node("Relu", [added], hint), main.shape)


def _inception(b: _Builder, m: InceptionModule, x: Value) -> Value:
    outputs = [emit(b, branch, x) for branch in m.branches]
    name = b.node("Concat", [o.name for o in outputs], _path(m, "inception"), axis=1)
    return Value(name, m.output_shape(x.shape))


def _graph(b: _Builder, m: Graph, x: Value) -> Value:
    values = {m.input_name: x}
    for node in m.nodes:
        inputs = [values[name] for name in node.inputs]
        if isinstance(node.module, Merge):
            values[node.output] = _merge(b, node.module, inputs, node.name)
        else:
            values[node.output] = emit(b, node.module, inputs[0])
    return values[m.output_name]


def _merge(b: _Builder, m: Merge, inputs: list[Value], hint: str) -> Value:
    inputs = [_plain(b, value, hint) for value in inputs]
    shape = m.merged_shape([value.shape for value in inputs])
    names = [value.name for value in inputs]
    if isinstance(m, Add):
        return Value(
            b.node("Sum", names, hint) if len(names) > 2 else b.node("Add", names, hint), shape
        )
    if isinstance(m, Concatenate):
        rank = inputs[0].rank
        axis = _onnx_axis(m.axis % rank, rank)
        return Value(b.node("Concat", names, hint, axis=axis), shape)
    if isinstance(m, Multiply):
        if len({value.rank for value in inputs}) != 1:
            raise _unsupported(
                m, f"multiplies values of shapes {[v.shape for v in inputs]}: NCHW broadcasts"
                " only values of one rank as convmath's channels-last does"
            )  # fmt: skip
        product = names[0]
        for name in names[1:]:
            product = b.node("Mul", [product, name], hint)
        return Value(product, shape)
    raise _unsupported(m)


def _onnx_axis(axis: int, rank: int) -> int:
    """The ONNX axis (batch first, NCHW for volumes) of one example's convmath ``axis``."""
    if rank == 3:
        return (2, 3, 1)[axis]
    return axis + 1


def _to_plain_perm(rank: int) -> list[int]:
    """The Transpose that takes ONNX's tensor of an example of ``rank`` to convmath's order."""
    return [0, 2, 3, 1] if rank == 3 else list(range(rank + 1))


def _to_onnx_perm(rank: int) -> list[int]:
    """The Transpose that takes convmath's order of an example of ``rank`` to ONNX's."""
    return [0, 3, 1, 2] if rank == 3 else list(range(rank + 1))


def _permute(b: _Builder, m: Permute, x: Value) -> Value:
    """One Transpose: to convmath's order, the example's axes permuted, back to ONNX's."""
    hint = _path(m, "permute")
    x = _plain(b, x, hint)
    out = m.output_shape(x.shape)
    steps = [_to_plain_perm(x.rank), [0, *(a + 1 for a in m.axes)], _to_onnx_perm(len(out))]
    perm = np.arange(x.rank + 1)
    for step in steps:  # Transpose(p) then Transpose(q) is Transpose(p[q])
        perm = perm[step]
    if list(perm) == list(range(x.rank + 1)):
        return Value(x.name, out)
    return Value(b.node("Transpose", [x.name], hint, perm=[int(a) for a in perm]), out)


def _reorder(b: _Builder, m: Reorder, x: Value) -> Value:
    hint = _path(m, "reorder")
    x = _plain(b, x, hint)
    indices = b.constant(f"{hint}.indices", m.indices.astype(np.int64))
    return Value(b.node("Gather", [x.name, indices], hint, axis=1), x.shape)


def _slice(b: _Builder, m: Slice, x: Value) -> Value:
    hint = _path(m, "slice")
    x = _plain(b, x, hint)
    starts, ends, steps = (np.array([r[k] for r in m.ranges], dtype=np.int64) for k in range(3))
    axes = np.array([_onnx_axis(a, x.rank) for a in range(x.rank)], dtype=np.int64)
    inputs = [x.name] + [
        b.constant(f"{hint}.{key}", array)
        for key, array in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps))
    ]
    return Value(b.node("Slice", inputs, hint), m.output_shape(x.shape))


def _zero_pad(b: _Builder, m: ZeroPad, x: Value) -> Value:
    hint = _path(m, "pad")
    x = _plain(b, x, hint)
    before, after = [0] * (x.rank + 1), [0] * (x.rank + 1)
    for axis, (a, z) in enumerate(m.widths):
        before[_onnx_axis(axis, x.rank)], after[_onnx_axis(axis, x.rank)] = a, z
    pads = b.constant(f"{hint}.pads", np.array(before + after, dtype=np.int64))
    name = b.node("Pad", [x.name, pads], hint, mode="constant")
    return Value(name, m.output_shape(x.shape))


def _reshape(b: _Builder, m: Reshape, x: Value) -> Value:
    """A vector to a vector is nothing; otherwise the values in convmath's order, Reshape,
    and the volume (if one comes out) back to NCHW."""
    if x.rank == 1 and len(m.shape) == 1:
        return x
    hint = _path(m, "reshape")
    x = _plain(b, x, hint)
    name = x.name
    if x.rank == 3:
        name = b.node("Transpose", [name], hint, perm=_to_plain_perm(3))
    target = b.constant(f"{hint}.shape", np.array([0, *m.shape], dtype=np.int64))  # 0: the batch
    name = b.node("Reshape", [name, target], hint)
    if len(m.shape) == 3:
        name = b.node("Transpose", [name], hint, perm=_to_onnx_perm(3))
    return Value(name, m.output_shape(x.shape))


def _float(b: _Builder, hint: str, value: float | np.ndarray) -> str:
    return b.constant(hint, np.asarray(value, dtype=np.float32))


def _clip_between(b: _Builder, x: Value, lo: float | None, hi: float | None, hint: str) -> Value:
    """Clip with its bounds as inputs (opset 11 on); a missing bound is an empty input name."""
    inputs = [
        x.name,
        "" if lo is None else _float(b, f"{hint}.min", lo),
        "" if hi is None else _float(b, f"{hint}.max", hi),
    ]
    while inputs[-1] == "":
        inputs.pop()
    return Value(b.node("Clip", inputs, hint), x.shape, x.chw)


def _relu6(b: _Builder, m: ReLU6, x: Value) -> Value:
    return _clip_between(b, x, 0.0, 6.0, _path(m, "relu6"))


def _clip(b: _Builder, m: Clip, x: Value) -> Value:
    return _clip_between(b, x, m.lo, m.hi, _path(m, "clip"))


def _hard_swish(b: _Builder, m: HardSwish, x: Value) -> Value:
    hint = _path(m, "hardswish")
    if b.opset >= HARD_SWISH_OPSET:
        return Value(b.node("HardSwish", [x.name], hint), x.shape, x.chw)
    gate = b.node("HardSigmoid", [x.name], hint, alpha=1 / 6, beta=0.5)  # relu6(x + 3)/6
    return Value(b.node("Mul", [x.name, gate], hint), x.shape, x.chw)


def _silu(b: _Builder, m: SiLU, x: Value) -> Value:
    hint = _path(m, "silu")
    gate = b.node("Sigmoid", [x.name], hint)
    return Value(b.node("Mul", [x.name, gate], hint), x.shape, x.chw)


def _gelu(b: _Builder, m: GELU, x: Value) -> Value:
    hint = _path(m, "gelu")
    if b.opset >= GELU_OPSET:
        return Value(b.node("Gelu", [x.name], hint, approximate=m.approximate), x.shape, x.chw)
    if m.approximate == "tanh":  # x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))/2
        cube = b.node("Mul", [b.node("Mul", [x.name, x.name], hint), x.name], hint)
        cubic = b.node("Mul", [cube, _float(b, f"{hint}.cubic", 0.044715)], hint)
        inner = b.node("Add", [x.name, cubic], hint)
        scaled = b.node(
            "Mul", [inner, _float(b, f"{hint}.sqrt_2_over_pi", np.sqrt(2 / np.pi))], hint
        )
        phi = b.node("Tanh", [scaled], hint)
    else:  # x (1 + erf(x/sqrt(2)))/2
        phi = b.node(
            "Erf", [b.node("Div", [x.name, _float(b, f"{hint}.sqrt_2", np.sqrt(2))], hint)], hint
        )
    one_plus = b.node("Add", [phi, _float(b, f"{hint}.one", 1.0)], hint)
    product = b.node("Mul", [x.name, one_plus], hint)
    return Value(b.node("Mul", [product, _float(b, f"{hint}.half", 0.5)], hint), x.shape, x.chw)


def _uniform_bins(n: int, o: int) -> tuple[int, int] | None:
    """(window, stride) when PyTorch's o adaptive bins of n are one sliding window, else None."""
    bins = adaptive_bins(n, o)
    window = bins[0][1] - bins[0][0]
    stride = bins[1][0] - bins[0][0] if o > 1 else 1
    if stride > 0 and all(e - a == window and a == i * stride for i, (a, e) in enumerate(bins)):
        return window, stride
    return None


def _adaptive_avg_pool(b: _Builder, m: AdaptiveAvgPool2D, x: Value) -> Value:
    """GlobalAveragePool to 1x1; AveragePool when the bins are one sliding window (o divides
    n, among others); otherwise the two averaging matrices, P_H A P_W^T, as two MatMuls."""
    hint = _path(m, "adaptive_pool")
    (n_H, n_W, _), (o_H, o_W) = x.shape, m.output_size
    out = m.output_shape(x.shape)
    if (o_H, o_W) == (1, 1):
        return Value(b.node("GlobalAveragePool", [x.name], hint), out)
    rows, columns = _uniform_bins(n_H, o_H), _uniform_bins(n_W, o_W)
    if rows is not None and columns is not None:
        name = b.node(
            "AveragePool", [x.name], hint, kernel_shape=[rows[0], columns[0]],
            strides=[rows[1], columns[1]], pads=[0, 0, 0, 0], count_include_pad=0,
        )  # fmt: skip
        return Value(name, out)
    P_H = b.constant(f"{hint}.P_H", averaging_matrix(n_H, o_H, np.float32))
    P_W_T = b.constant(f"{hint}.P_W_T", averaging_matrix(n_W, o_W, np.float32).T)
    rows_averaged = b.node("MatMul", [P_H, x.name], hint)  # (N, C, o_H, n_W)
    return Value(b.node("MatMul", [rows_averaged, P_W_T], hint), out)


def _spatial_mean(b: _Builder, m: SpatialMean, x: Value) -> Value:
    # GlobalAveragePool: ReduceMean over axes 2 and 3, keepdims, with no opset-dependent axes
    return Value(b.node("GlobalAveragePool", [x.name], _path(m, "mean")), m.output_shape(x.shape))


def _channel_shuffle(b: _Builder, m: ChannelShuffle, x: Value) -> Value:
    hint, g = _path(m, "shuffle"), m.groups
    n_H, n_W, n_C = m.output_shape(x.shape)
    grouped = b.constant(f"{hint}.grouped", np.array([0, g, n_C // g, n_H, n_W], np.int64))
    split = b.node("Reshape", [x.name, grouped], hint)  # (N, g, n_C/g, H, W)
    swapped = b.node("Transpose", [split], hint, perm=[0, 2, 1, 3, 4])
    joined = b.constant(f"{hint}.shape", np.array([0, n_C, n_H, n_W], np.int64))
    return Value(b.node("Reshape", [swapped, joined], hint), x.shape)


def _channel_slice(b: _Builder, m: ChannelSlice, x: Value) -> Value:
    hint = _path(m, "channels")
    inputs = [x.name] + [
        b.constant(f"{hint}.{key}", np.array([value], dtype=np.int64))
        for key, value in (("starts", m.start), ("ends", m.stop), ("axes", 1))
    ]
    return Value(b.node("Slice", inputs, hint), m.output_shape(x.shape))


def _per_channel(array: np.ndarray, rank: int) -> np.ndarray:
    """A (n_C,) vector shaped to broadcast over ONNX's (N, C, H, W), or (N, C) for a vector."""
    return array.reshape(-1, 1, 1) if rank == 3 else array


def _layer_norm(b: _Builder, m: LayerNorm, x: Value) -> Value:
    """LayerNormalization normalizes the last axes: a volume goes to NHWC and back. Before
    opset 17, the formula itself over axis 1 (the channels)."""
    hint = _path(m, "layernorm")
    x = _plain(b, x, hint)
    if b.opset >= LAYER_NORM_OPSET:
        gamma = _float(b, f"{hint}.gamma", m.gamma.data)
        beta = _float(b, f"{hint}.beta", m.beta.data)
        name = x.name
        if x.rank == 3:
            name = b.node("Transpose", [name], hint, perm=[0, 2, 3, 1])
        name = b.node(
            "LayerNormalization", [name, gamma, beta], hint, axis=-1, epsilon=float(m.eps)
        )
        if x.rank == 3:
            name = b.node("Transpose", [name], hint, perm=[0, 3, 1, 2])
        return Value(name, x.shape)
    mu = b.node("ReduceMean", [x.name], hint, axes=[1], keepdims=1)
    centred = b.node("Sub", [x.name, mu], hint)
    var = b.node(
        "ReduceMean", [b.node("Mul", [centred, centred], hint)], hint, axes=[1], keepdims=1
    )
    std = b.node("Sqrt", [b.node("Add", [var, _float(b, f"{hint}.eps", m.eps)], hint)], hint)
    normalized = b.node("Div", [centred, std], hint)
    gamma = _float(b, f"{hint}.gamma", _per_channel(m.gamma.data, x.rank))
    beta = _float(b, f"{hint}.beta", _per_channel(m.beta.data, x.rank))
    return Value(b.node("Add", [b.node("Mul", [normalized, gamma], hint), beta], hint), x.shape)


def _layer_scale(b: _Builder, m: LayerScale, x: Value) -> Value:
    hint = _path(m, "layerscale")
    x = _plain(b, x, hint)
    gamma = _float(b, f"{hint}.gamma", _per_channel(m.gamma.data, x.rank))
    return Value(b.node("Mul", [x.name, gamma], hint), x.shape)


def _squeeze_excitation(b: _Builder, m: SqueezeExcitation, x: Value) -> Value:
    gate = emit(b, m.squeeze, x)  # (N, C, 1, 1), broadcast over the map
    return Value(b.node("Mul", [x.name, gate.name], _path(m, "se")), x.shape)


def _inverted_residual(b: _Builder, m: InvertedResidual, x: Value) -> Value:
    z = emit(b, m.main, x)
    if not m.residual:
        return z
    return Value(b.node("Add", [z.name, x.name], _path(m, "block")), z.shape)


EMITTERS: dict[type, Callable[[_Builder, Any, Value], Value]] = {
    Conv2D: _conv,
    Dense: _dense,
    BatchNorm2D: _batch_norm,
    MaxPool2D: _pool,
    AvgPool2D: _pool,
    GlobalAvgPool2D: _global_avg_pool,
    Flatten: _flatten,
    ReLU: _activation("Relu"),
    LeakyReLU: _activation("LeakyRelu", alpha=lambda m: float(m.alpha)),
    Sigmoid: _activation("Sigmoid"),
    Tanh: _activation("Tanh"),
    Dropout: _dropout,
    Softmax: _softmax,
    Sequential: _sequential,
    ResidualBlock: _residual,
    InceptionModule: _inception,
    Graph: _graph,
    Reorder: _reorder,
    Slice: _slice,
    ZeroPad: _zero_pad,
    Reshape: _reshape,
    Permute: _permute,
    ReLU6: _relu6,
    Clip: _clip,
    HardSigmoid: _activation(
        "HardSigmoid", alpha=lambda m: float(m.alpha), beta=lambda m: float(m.beta)
    ),
    HardSwish: _hard_swish,
    SiLU: _silu,
    GELU: _gelu,
    AdaptiveAvgPool2D: _adaptive_avg_pool,
    SpatialMean: _spatial_mean,
    ChannelShuffle: _channel_shuffle,
    ChannelSlice: _channel_slice,
    LayerNorm: _layer_norm,
    LayerScale: _layer_scale,
    SqueezeExcitation: _squeeze_excitation,
    InvertedResidual: _inverted_residual,
}


def _unsupported(m: Module, why: str = "") -> InteropError:
    kinds = sorted(kind.__name__ for kind in EMITTERS)
    reason = why or f"ONNX export knows {', '.join(kinds)}"
    return InteropError(f"cannot export {m.label} ({type(m).__name__}): {reason}")


def emit(b: _Builder, module: Module, x: Value) -> Value:
    """Append the nodes of ``module`` applied to ``x``; return its output."""
    emitter = EMITTERS.get(type(module))  # the exact type: a subclass may compute otherwise
    if emitter is None:
        raise _unsupported(module)
    return emitter(b, module, x)


def to_onnx(
    model: Module,
    input_shape: tuple[int, int, int],
    *,
    opset: int = DEFAULT_OPSET,
    nchw_input: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """The ONNX ``ModelProto`` of ``model`` in eval mode, for examples of ``input_shape``.

    ``input_shape`` is one example's (n_H, n_W, n_C). ``metadata`` is stored
    as JSON in the model's ``convmath.config`` property (the preprocessing and
    class names a checkpoint holds, so that commands can use the file).
    """
    onnx, helper, numpy_helper = onnx_modules()
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise InteropError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}; got {opset}")
    if len(input_shape) != 3:
        raise InteropError(
            f"ONNX export takes images: input_shape must be (n_H, n_W, n_C), got {input_shape}"
        )
    n_H, n_W, n_C = input_shape
    model.name_modules()
    model.output_shape(tuple(input_shape))  # a model that does not fit fails here, by layer
    b = _Builder(helper, numpy_helper, opset)
    if nchw_input:
        dims: list[Any] = ["N", n_C, n_H, n_W]
        x = Value(INPUT, tuple(input_shape))
    else:
        dims = ["N", n_H, n_W, n_C]
        x = Value(b.node("Transpose", [INPUT], "input", perm=[0, 3, 1, 2]), tuple(input_shape))
    y = emit(b, model, x)
    y = _plain(b, y, "output")
    if y.rank == 3 and not nchw_input:  # a volume goes out channels-last, as it came in
        y = Value(b.node("Transpose", [y.name], "output", perm=[0, 2, 3, 1]), y.shape)
    b.nodes.append(helper.make_node("Identity", [y.name], [OUTPUT], name=b.fresh("output")))
    out_dims: list[Any] = ["N", *y.shape]
    if y.rank == 3 and nchw_input:
        out_dims = ["N", y.shape[2], y.shape[0], y.shape[1]]
    graph = helper.make_graph(
        b.nodes,
        "convmath",
        [helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, out_dims)],
        b.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="convmath")
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # older runtimes refuse newer IR

    proto.producer_version = __version__
    if metadata is not None:
        helper.set_model_props(proto, {CONFIG_KEY: json.dumps(metadata)})
    return proto


def export(
    model: Module,
    input_shape: tuple[int, int, int],
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    nchw_input: bool = False,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (see :func:`to_onnx`); returns the path.

    The file is written atomically; with ``overwrite=False`` a file already at
    ``path`` is kept and :class:`InvalidArgumentError` raised.
    """

    proto = to_onnx(model, input_shape, opset=opset, nchw_input=nchw_input, metadata=metadata)
    path = Path(path)
    atomic_write(path, proto.SerializeToString(), overwrite=overwrite)
    return path
