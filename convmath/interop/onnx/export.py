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
running statistics. Initializers keep convmath's parameter names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convmath.errors import InteropError
from convmath.interop.onnx.runtime import onnx_modules
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
from convmath.nn.activation import Softmax
from convmath.nn.graph import Add, Concatenate, Graph, Merge, unique
from convmath.nn.layout import Permute, Reorder, Reshape, Slice, ZeroPad
from convmath.train.checkpoint import atomic_write
from convmath.version import __version__

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Slice, Pad and Split take their sizes as inputs from 11 and 13 on
MAX_OPSET = 21
INPUT, OUTPUT = "input", "output"
CHW_TO_HWC = (1, 2, 0)


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
    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
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
    raise _unsupported(m)


def _onnx_axis(axis: int, rank: int) -> int:
    """The ONNX axis (batch first, NCHW for volumes) of one example's convmath ``axis``."""
    if rank == 3:
        return (2, 3, 1)[axis]
    return axis + 1


def _permute(b: _Builder, m: Permute, x: Value) -> Value:
    raise _unsupported(m, "a graph that permutes a volume's axes cannot be exported yet")


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
    if x.rank == 3 or len(m.shape) != 1:
        raise _unsupported(m, "only a reshape of a flat vector to a flat vector exports")
    return x


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
    b = _Builder(helper, numpy_helper)
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
        helper.set_model_props(proto, {"convmath.config": json.dumps(metadata)})
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
