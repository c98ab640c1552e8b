"""An ONNX graph as a convmath model: each node becomes the convmath layer that computes it.

:func:`load` reads a file (bounded and checked, see :mod:`.read`) and returns
a :class:`convmath.nn.graph.Graph` that takes convmath's channels-last input
and gives what the ONNX graph gives (a volume channels-last). Weights come
from the initializers (also those listed as graph inputs, as older exporters
write them) and from Constant nodes. A graph's final Softmax is left out:
convmath models give logits and every command applies the softmax itself.
Anything convmath cannot compute exactly is refused, naming the node, its
operator and what is supported; nothing is half-built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import ConvMathError, InteropError
from convmath.interop.onnx.layouts import (
    CHANNELS_LAST,
    FlatHWC,
    Held,
    Permuted,
    Squeezed,
    conversion,
    identity,
    preferred,
)
from convmath.interop.onnx.read import attributes, read_model, tensor_array
from convmath.nn import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    LeakyReLU,
    MaxPool2D,
    Module,
    ReLU,
    Sigmoid,
    Tanh,
)
from convmath.nn.graph import Add, Concatenate, Graph, Node, unique
from convmath.nn.layout import Reorder, Slice, Softmax, ZeroPad

INPUT = "input"


@dataclass
class Imported:
    """What :func:`from_onnx` found: the model, its input shape and the file's metadata."""

    model: Graph
    input_shape: tuple[int, ...]
    metadata: dict[str, str]
    notes: list[str] = field(default_factory=list)


class _Importer:
    def __init__(self, proto: Any, source: str) -> None:
        self.source = source
        self.metadata = {p.key: p.value for p in proto.metadata_props}
        self.graph = proto.graph
        self.opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        self.constants: dict[str, np.ndarray] = {}
        self.values: dict[str, Held] = {}
        self.nodes: list[Node] = []
        self.names: set[str] = {INPUT}
        self.counts: dict[str, int] = {}
        self.parameters = 0
        self.notes: list[str] = []
        self.rng = np.random.default_rng(0)  # layers are drawn, then given the file's weights
        self.readers: dict[str, list[Any]] = {}
        for node in self.graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    # ------------------------------------------------------------ helpers
    def fail(self, node: Any, message: str) -> InteropError:
        label = f"{node.name!r} " if node.name else ""
        return InteropError(f"{self.source}: node {label}({node.op_type}) {message}")

    def fresh(self, hint: str) -> str:
        hint = re.sub(r"[^A-Za-z0-9_.]+", "_", hint).strip("._") or "node"
        return unique(hint, self.names, self.counts)

    def module_name(self, node: Any) -> str:
        """A node's layer name: its weight's prefix ("conv1" for "conv1.weight"), else its own."""
        for name in node.input[1:]:
            if name in self.constants and "." in name:
                return name.rsplit(".", 1)[0]
        return _node_name(node)

    def add(self, module: Module, inputs: list[Held], hint: str, layout: Any) -> Held:
        self.parameters += module.num_parameters()  # every layer holds its own copy
        if self.parameters > limits.max_parameters():
            raise InteropError(
                f"{self.source}: the layers would hold over {limits.max_parameters():,} weights"
                f" (set CONVMATH_MAX_PARAMETERS to allow more)"
            )
        name = self.fresh(hint)
        self.nodes.append(Node(name, module, tuple(v.name for v in inputs), name))
        stored = (
            module.merged_shape([v.stored_shape for v in inputs])
            if isinstance(module, (Add, Concatenate))
            else module.output_shape(inputs[0].stored_shape)
        )
        return Held(name, _onnx_shape(stored, layout), layout)

    def held(self, node: Any, k: int = 0) -> Held:
        name = node.input[k] if k < len(node.input) else ""
        if name not in self.values:
            what = "a constant" if name in self.constants else "a value no earlier node computes"
            raise self.fail(node, f"reads {name!r} as its input {k}, which is {what}")
        return self.values[name]

    def constant(self, node: Any, k: int, default: np.ndarray | None = None) -> np.ndarray:
        name = node.input[k] if k < len(node.input) else ""
        if not name:
            if default is None:
                raise self.fail(node, f"needs its input {k}")
            return default
        if name not in self.constants:
            raise self.fail(
                node, f"needs its input {k} ({name!r}) to be a constant (an initializer)"
            )
        return self.constants[name]

    def convert(self, value: Held, wanted: Permuted) -> Held:
        module = conversion(value, wanted)
        if module is None:
            return value
        return self.add(module, [value], f"{value.name}.layout", wanted)

    def volume(self, node: Any, k: int = 0) -> Held:
        """Input ``k`` as a channels-last volume (what CONV, POOL and BN layers read)."""
        value = self.held(node, k)
        if len(value.onnx_shape) != 3 and not isinstance(value.layout, Squeezed):
            raise self.fail(node, f"expects an (N, C, H, W) input; got {('N', *value.onnx_shape)}")
        return self.convert(value, Permuted(CHANNELS_LAST))

    def flat(self, node: Any, k: int = 0) -> Held:
        """Input ``k`` as an (N, n) matrix: FlatHWC kept (a Dense permutes its rows instead)."""
        value = self.held(node, k)
        if isinstance(value.layout, FlatHWC):
            return value
        if isinstance(value.layout, Squeezed):
            return Held(value.name, value.onnx_shape[:1], identity(1))
        if len(value.onnx_shape) != 1:
            raise self.fail(node, f"expects an (N, n) input; got {('N', *value.onnx_shape)}")
        return value

    def check_only(self, node: Any, attrs: dict[str, Any], allowed: dict[str, Any]) -> None:
        """Refuse attributes convmath does not compute (or values other than the allowed)."""
        for key, value in attrs.items():
            if key not in allowed:
                raise self.fail(node, f"has attribute {key!r}, which convmath does not support")
            if allowed[key] is not None and value not in allowed[key]:
                raise self.fail(
                    node, f"has {key}={value!r}; convmath supports {key} in {allowed[key]}"
                )

    # ------------------------------------------------------------ the walk
    def run(self) -> Imported:
        graph = self.graph
        for tensor in graph.initializer:
            self.constants[tensor.name] = tensor_array(tensor, self.source)
        total = sum(a.size for a in self.constants.values() if a.dtype.kind == "f")
        if total > limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS:
            raise InteropError(
                f"{self.source}: {total:,} weights, over the parameter limit of"
                f" {limits.max_parameters():,} (set CONVMATH_MAX_PARAMETERS to allow more)"
            )
        inputs = [v for v in graph.input if v.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise InteropError(
                f"{self.source}: convmath imports graphs of one input and one output; this one"
                f" has {len(inputs)} inputs ({[v.name for v in inputs]}) and {len(graph.output)}"
                f" outputs"
            )
        x, input_shape = self._input(inputs[0])
        self.values[inputs[0].name] = x
        for node in graph.node:
            self._node(node)
        output = graph.output[0].name
        if output not in self.values:
            raise InteropError(f"{self.source}: no node computes the graph's output {output!r}")
        y = self.values[output]
        wanted = preferred(len(y.onnx_shape)) if self.nchw else identity(len(y.onnx_shape))
        y = self.convert(y, wanted)
        if not self.nodes:
            raise InteropError(f"{self.source}: the graph computes nothing convmath can hold")
        model = Graph(self.nodes, INPUT, y.name)
        model.name_modules()
        try:
            model.output_shape(input_shape)
        except ConvMathError as error:
            raise InteropError(f"{self.source}: the imported graph does not fit: {error}") from None
        return Imported(model, input_shape, self.metadata, self.notes)

    def _input(self, value: Any) -> tuple[Held, tuple[int, ...]]:
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type != 1:
            raise InteropError(f"{self.source}: the input {value.name!r} is not float32")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        example = dims[1:]
        if len(dims) not in (2, 4) or any(n is None or n < 1 for n in example):
            raise InteropError(
                f"{self.source}: the input {value.name!r} has shape {dims}; convmath needs"
                f" (N, C, H, W), (N, H, W, C) or (N, n) with fixed sizes after the batch"
            )
        if len(example) == 3 and any(n > limits.MAX_SIDE for n in example):
            raise InteropError(
                f"{self.source}: the input {value.name!r} has shape {dims}, over"
                f" {limits.MAX_SIDE} along a side"
            )
        readers = self.readers.get(value.name, [])
        nhwc = len(example) == 3 and any(
            r.op_type == "Transpose" and attributes(r, self.source).get("perm") == [0, 3, 1, 2]
            for r in readers
        )
        self.nchw = len(example) == 3 and not nhwc
        layout = preferred(len(example)) if self.nchw else identity(len(example))
        held = Held(INPUT, tuple(example), layout)
        return held, held.stored_shape

    def _node(self, node: Any) -> None:
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(
                node, f"is from the operator set {node.domain!r}; convmath reads ONNX's own"
            )
        translate = TRANSLATORS.get(node.op_type)
        if translate is None:
            raise self.fail(
                node, f"is not supported; convmath imports {', '.join(sorted(TRANSLATORS))}"
            )
        if len(node.output) < 1 or not node.output[0]:
            raise self.fail(node, "has no output")
        try:
            out = translate(self, node, attributes(node, self.source))
        except InteropError:
            raise
        except ConvMathError as error:  # a layer that refuses these sizes, naming the node
            raise self.fail(node, str(error)) from None
        except (ValueError, TypeError, IndexError, KeyError) as error:  # a malformed attribute
            raise self.fail(node, f"is malformed ({type(error).__name__}: {error})") from None
        if isinstance(out, np.ndarray):
            self.constants[node.output[0]] = out
        else:
            self.values[node.output[0]] = out
        for extra in node.output[1:]:
            if extra and self.readers.get(extra):
                raise self.fail(node, f"has its output {extra!r} read; convmath gives one output")


def _node_name(node: Any) -> str:
    """PyTorch's "/features/0/Conv" becomes "features.0"; a plain name stays; else the operator."""
    parts = [part for part in node.name.split("/") if part]
    if node.name.startswith("/") and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts) or node.op_type.lower()


def _gather(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """A fixed reordering of the features of an (N, n) matrix."""
    im.check_only(node, attrs, {"axis": None})
    if int(attrs.get("axis", 0)) not in (1, -1):  # ONNX's default, 0, is the batch axis
        raise im.fail(
            node, f"gathers along axis {attrs.get('axis', 0)}; convmath reorders features"
        )
    value = im.flat(node)
    indices = im.constant(node, 1)
    n = value.onnx_shape[0]
    if indices.ndim != 1 or indices.dtype.kind != "i" or ((indices < -n) | (indices >= n)).any():
        raise im.fail(
            node, f"gathers {indices.shape} indices; convmath reorders features in 0..{n - 1}"
        )
    if len(indices) != n:
        raise im.fail(
            node, f"gathers {len(indices)} of {n} features; convmath reorders all of them"
        )
    indices = indices % n
    if isinstance(value.layout, FlatHWC):  # compose with the held order: one gather
        indices = value.layout.stored_index_of_onnx()[indices]
    if np.array_equal(indices, np.arange(n)):
        return Held(value.name, (n,), identity(1))
    return im.add(Reorder(indices), [value], _node_name(node), identity(1))


def _onnx_shape(stored: tuple[int, ...], layout: Any) -> tuple[int, ...]:
    if isinstance(layout, Permuted):
        shape = [0] * len(stored)
        for i, a in enumerate(layout.axes):
            shape[a] = stored[i]
        return tuple(shape)
    if isinstance(layout, Squeezed):
        return (stored[0], 1, 1)
    return stored


# ---------------------------------------------------------------- the operators
def _conv(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {
        "kernel_shape": None, "strides": None, "dilations": None, "pads": None, "group": None,
        "auto_pad": ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"),
    })  # fmt: skip
    x = im.volume(node)
    W = im.constant(node, 1)
    if W.ndim != 4:
        raise im.fail(node, f"has a weight of shape {W.shape}; convmath convolves 2-D images")
    n_C, per_group, f_h, f_w = W.shape
    groups = int(attrs.get("group", 1))
    n_C_prev = x.stored_shape[2]
    if groups < 1 or per_group * groups != n_C_prev or n_C % groups:
        raise im.fail(
            node, f"has a weight {W.shape} and group={groups} for an input of {n_C_prev} channels"
        )
    if list(attrs.get("kernel_shape", [f_h, f_w])) != [f_h, f_w]:
        raise im.fail(
            node, f"kernel_shape {attrs['kernel_shape']} differs from its weight {W.shape}"
        )
    stride = tuple(attrs.get("strides", (1, 1)))
    dilation = tuple(attrs.get("dilations", (1, 1)))
    padding = _pads(im, node, attrs, x, (f_h, f_w), stride, dilation)
    bias = len(node.input) > 2 and bool(node.input[2])
    try:
        layer = Conv2D(
            n_C_prev, n_C, (f_h, f_w), stride, padding, dilation, groups, bias, rng=im.rng
        )
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None
    layer.W.data[...] = W.transpose(2, 3, 1, 0)
    if bias:
        layer.b.data[...] = _vector(im, node, 2, n_C)
    return im.add(layer, [x], im.module_name(node), Permuted(CHANNELS_LAST))


def _pads(
    im: _Importer, node: Any, attrs: dict[str, Any], x: Held, f: tuple[int, int],
    stride: tuple[int, ...], dilation: tuple[int, ...],
) -> Any:  # fmt: skip
    if len(stride) != 2 or len(dilation) != 2 or min(*stride, *dilation) < 1:
        raise im.fail(node, f"has strides {list(stride)} and dilations {list(dilation)}")
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return "valid"
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        from convmath.shapes import same_padding

        sides = [same_padding(x.stored_shape[i], f[i], stride[i], dilation[i]) for i in (0, 1)]
        return tuple((after, before) for before, after in sides)
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    if len(pads) != 4 or min(pads) < 0:
        raise im.fail(node, f"has pads {pads}; convmath needs four pads of 0 or more")
    top, left, bottom, right = pads
    return ((top, bottom), (left, right))


def _vector(im: _Importer, node: Any, k: int, n: int) -> np.ndarray:
    value = im.constant(node, k)
    if value.size != n:
        raise im.fail(node, f"has input {k} of shape {value.shape}; expected {n} values")
    return value.reshape(n)


def _pool(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    average = node.op_type == "AveragePool"
    allowed: dict[str, Any] = {
        "kernel_shape": None, "strides": None, "pads": None, "auto_pad": ("NOTSET", "VALID"),
        "ceil_mode": (0,), "dilations": ([1, 1],), "storage_order": (0,),
    }  # fmt: skip
    if average:
        allowed["count_include_pad"] = (0, 1)
    im.check_only(node, attrs, allowed)
    x = im.volume(node)
    f = tuple(attrs.get("kernel_shape", ()))
    if len(f) != 2:
        raise im.fail(node, f"has kernel_shape {list(f)}; convmath pools 2-D windows")
    stride = tuple(attrs.get("strides", (1, 1)))
    top, left, bottom, right = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    if attrs.get("auto_pad", "NOTSET") == "VALID":
        top = left = bottom = right = 0
    if top != bottom or left != right or min(top, left) < 0:
        raise im.fail(
            node, f"has pads {[top, left, bottom, right]}; convmath pools with equal pads on"
            " opposite sides"
        )  # fmt: skip
    try:
        if average:
            include = bool(attrs.get("count_include_pad", 0))  # ONNX's default: not counted
            layer: Module = AvgPool2D(f, stride, (top, left), count_include_pad=include)
        else:
            layer = MaxPool2D(f, stride, (top, left))
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None
    return im.add(layer, [x], _node_name(node), Permuted(CHANNELS_LAST))


def _global_average_pool(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    x = im.volume(node)
    return im.add(GlobalAvgPool2D(), [x], _node_name(node), Squeezed())


def _batch_norm(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(
        node, attrs, {"epsilon": None, "momentum": None, "training_mode": (0,), "spatial": (1,)}
    )
    x = im.held(node)
    if isinstance(x.layout, Squeezed):  # per channel of a pooled (C, 1, 1), held as (C,)
        layout = x.layout
    elif len(x.onnx_shape) == 1:
        x = im.convert(im.flat(node), identity(1))  # per feature: in ONNX's order
        layout = identity(1)
    else:
        x, layout = im.volume(node), Permuted(CHANNELS_LAST)
    n_C = x.stored_shape[-1]
    gamma, beta, mean, var = (_vector(im, node, k, n_C) for k in (1, 2, 3, 4))
    if (var < 0).any():
        raise im.fail(node, "has a negative running variance")
    momentum = 1.0 - float(attrs.get("momentum", 0.9))
    layer = BatchNorm2D(
        n_C, momentum=min(max(momentum, 0.0), 1.0), eps=float(attrs.get("epsilon", 1e-5))
    )
    layer.gamma.data[...], layer.beta.data[...] = gamma, beta
    layer.running_mean[...], layer.running_var[...] = mean, var
    return im.add(layer, [x], im.module_name(node), layout)


def _gemm(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"alpha": None, "beta": None, "transA": (0,), "transB": (0, 1)})
    x = im.flat(node)
    B = im.constant(node, 1)
    if B.ndim != 2:
        raise im.fail(node, f"has a weight of shape {B.shape}; expected a matrix")
    W = (B.T if attrs.get("transB", 0) else B) * np.float32(attrs.get("alpha", 1.0))
    n_out = W.shape[1]
    C = None
    if len(node.input) > 2 and node.input[2]:
        C = im.constant(node, 2)
        if C.size not in (1, n_out) or C.ndim > 2 or (C.ndim == 2 and C.shape[0] != 1):
            raise im.fail(node, f"has a bias of shape {C.shape} for {n_out} outputs")
        C = np.broadcast_to(C.reshape(-1), (n_out,)) * np.float32(attrs.get("beta", 1.0))
    return _dense(im, node, x, W, C)


def _dense(im: _Importer, node: Any, x: Held, W: np.ndarray, bias: np.ndarray | None) -> Held:
    n_in, n_out = W.shape
    if x.onnx_shape != (n_in,):
        raise im.fail(node, f"has a weight for {n_in} inputs; its input has {x.onnx_shape[0]}")
    if isinstance(x.layout, FlatHWC):  # ONNX's (C, H, W) rows to convmath's (H, W, C) order
        rows = np.empty_like(W)
        rows[x.layout.stored_index_of_onnx()] = W
        W = rows
    layer = Dense(n_in, n_out, bias is not None, rng=im.rng)
    layer.W.data[...] = W
    if bias is not None:
        layer.b.data[...] = bias
    return im.add(layer, [x], im.module_name(node), identity(1))


def _matmul(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    x = im.flat(node)
    W = im.constant(node, 1)
    if W.ndim != 2:
        raise im.fail(node, f"multiplies by a constant of shape {W.shape}; expected a matrix")
    return _dense(im, node, x, W, None)


def _add(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    constants = [name for name in node.input if name in im.constants]
    if node.op_type == "Add" and len(constants) == 1 and len(node.input) == 2:
        return _bias(im, node, constants[0])
    if constants:
        raise im.fail(node, "adds a constant; convmath adds one only as the bias of a MatMul")
    values = [im.held(node, k) for k in range(len(node.input))]
    if len({v.onnx_shape for v in values}) != 1:
        raise im.fail(
            node, f"adds shapes {[v.onnx_shape for v in values]}; convmath adds equal shapes only"
        )
    if len(values) == 1:
        return values[0]
    wanted = _common_layout(values)
    values = [im.convert(v, wanted) for v in values]
    return im.add(Add(), values, _node_name(node), wanted)


def _common_layout(values: list[Held]) -> Permuted:
    first = values[0].layout
    if isinstance(first, Permuted) and all(v.layout == first for v in values):
        return first
    return preferred(len(values[0].onnx_shape))


def _bias(im: _Importer, node: Any, name: str) -> Held:
    """MatMul + Add of a constant vector: the bias of the Dense layer the MatMul became."""
    other = next(n for n in node.input if n != name)
    value = im.values.get(other)
    last = im.nodes[-1] if im.nodes else None
    if (
        value is None
        or last is None
        or last.output != value.name
        or not isinstance(last.module, Dense)
        or last.module.b is not None
        or len(im.readers.get(other, [])) != 1
    ):
        raise im.fail(node, "adds a constant; convmath adds one only as the bias of a MatMul")
    dense = last.module
    bias = im.constants[name]
    if bias.size not in (1, dense.n_out) or bias.ndim > 2:
        raise im.fail(node, f"adds a constant of shape {bias.shape} to {dense.n_out} outputs")
    from convmath.nn import Parameter

    dense.b = Parameter(np.broadcast_to(bias.reshape(-1), (dense.n_out,)).astype(np.float32))
    return value


def _concat(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"axis": None})
    values = [im.held(node, k) for k in range(len(node.input))]
    rank = len(values[0].onnx_shape)
    axis = int(attrs.get("axis", 1))
    axis = axis + rank + 1 if axis < 0 else axis
    if axis < 1 or axis > rank:
        raise im.fail(node, f"joins along axis {attrs.get('axis')}; convmath joins after the batch")
    wanted = _common_layout(values)
    values = [im.convert(v, wanted) for v in values]
    module = Concatenate(values[0].stored_axis(axis - 1))
    try:
        return im.add(module, values, _node_name(node), wanted)
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None


def _flatten(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"axis": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    axis = int(attrs.get("axis", 1))
    if (axis + rank if axis < 0 else axis) != 1:
        raise im.fail(node, f"has axis={axis}; convmath flattens all but the batch axis (1)")
    return _flattened(im, node, value)


def _flattened(im: _Importer, node: Any, value: Held) -> Held:
    if isinstance(value.layout, Squeezed):
        return Held(value.name, value.onnx_shape[:1], identity(1))
    if len(value.onnx_shape) == 1:
        return value
    if value.layout == Permuted(CHANNELS_LAST):
        c, h, w = value.onnx_shape
        return im.add(Flatten(), [value], _node_name(node), FlatHWC(c, h, w))
    plain = im.convert(value, identity(len(value.onnx_shape)))
    return im.add(Flatten(), [plain], _node_name(node), identity(1))


def _reshape(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"allowzero": (0,)})
    value = im.held(node)
    shape = [int(n) for n in im.constant(node, 1).reshape(-1)]
    size = math.prod(value.onnx_shape)
    batch = len(shape) == 2 and shape[0] in (0, -1)
    if batch and shape[1] in (-1, size) and shape != [-1, -1]:
        return _flattened(im, node, value)  # (0, -1), (-1, size), (0, size): a flatten
    raise im.fail(
        node, f"reshapes {('N', *value.onnx_shape)} to {shape}; convmath reshapes only to"
        " (N, -1), a flatten"
    )  # fmt: skip


def _transpose(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"perm": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    perm = [int(p) for p in attrs.get("perm", reversed(range(rank)))]
    if sorted(perm) != list(range(rank)) or perm[0] != 0:
        raise im.fail(node, f"has perm {perm}; convmath keeps the batch axis first")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, identity(rank - 1))
    p = [a - 1 for a in perm[1:]]  # onnx_out = onnx_in.transpose(p)
    inverse = np.argsort(p)
    axes = tuple(int(inverse[a]) for a in value.layout.axes)  # the same stored array
    shape = tuple(value.onnx_shape[a] for a in p)
    return Held(value.name, shape, Permuted(axes))


def _pad(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"mode": ("constant",), "pads": None, "value": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    pads = attrs.get("pads") if im.opset < 11 else im.constant(node, 1).reshape(-1)
    fill = attrs.get("value", 0.0)
    if im.opset >= 11 and len(node.input) > 2 and node.input[2]:
        fill = float(im.constant(node, 2).reshape(-1)[0])
    if len(node.input) > 3 and node.input[3]:
        raise im.fail(node, "pads chosen axes; convmath reads pads for every axis")
    pads = [int(p) for p in pads]
    if fill != 0 or len(pads) != 2 * rank or min(pads) < 0 or pads[0] or pads[rank]:
        raise im.fail(node, f"pads {pads} with {fill}; convmath pads zeros, not along the batch")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, preferred(rank - 1))
    widths = [(0, 0)] * (rank - 1)
    for a in range(rank - 1):
        widths[value.stored_axis(a)] = (pads[a + 1], pads[rank + a + 1])
    return im.add(ZeroPad(widths), [value], _node_name(node), value.layout)


def _slice(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"starts": None, "ends": None, "axes": None})
    value = im.held(node)
    rank = len(value.onnx_shape) + 1
    if im.opset < 10:
        starts, ends = attrs.get("starts", []), attrs.get("ends", [])
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = im.constant(node, 1).reshape(-1), im.constant(node, 2).reshape(-1)
        axes = im.constant(node, 3, np.arange(len(starts))).reshape(-1)
        steps = im.constant(node, 4, np.ones(len(starts), dtype=np.int64)).reshape(-1)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise im.fail(node, "has starts, ends, axes and steps of different lengths")
    if not isinstance(value.layout, Permuted):
        value = im.convert(value, preferred(rank - 1))
    ranges = [(0, n, 1) for n in value.stored_shape]
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = int(axis) + rank if int(axis) < 0 else int(axis)
        if axis < 1 or axis >= rank or int(step) < 1:
            raise im.fail(node, f"slices axis {axis} with step {step}; convmath slices past the"
                          " batch, with positive steps")  # fmt: skip
        n = value.onnx_shape[axis - 1]
        begin, stop, stride = slice(int(start), int(end), int(step)).indices(n)
        ranges[value.stored_axis(axis - 1)] = (begin, stop, stride)
    return im.add(Slice(ranges), [value], _node_name(node), value.layout)


def _elementwise(make: Callable[[dict[str, Any]], Module], allowed: dict[str, Any]) -> Any:
    def translate(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
        im.check_only(node, attrs, allowed)
        value = im.held(node)
        return im.add(make(attrs), [value], _node_name(node), value.layout)

    return translate


def _alias(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(
        node, attrs, {"ratio": None, "seed": None, "is_test": None, "training_mode": None}
    )
    training = len(node.input) > 2 and node.input[2] and im.constant(node, 2).reshape(-1)[0]
    if node.op_type == "Dropout" and training:
        raise im.fail(node, "runs in training mode; convmath imports graphs for inference")
    return im.held(node)


def _softmax(im: _Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"axis": None})
    value = im.flat(node)
    axis = int(attrs.get("axis", -1 if im.opset >= 13 else 1))
    if axis not in (-1, 1):
        raise im.fail(node, f"has axis {axis}; convmath takes the softmax over the classes")
    if node.output[0] == im.graph.output[0].name:
        im.notes.append(
            f"the final Softmax {node.name or ''} is left out: the model gives logits, and"
            " convmath applies the softmax where it reports probabilities"
        )
        return value
    value = im.convert(value, identity(1))
    return im.add(Softmax(), [value], _node_name(node), identity(1))


def _constant(im: _Importer, node: Any, attrs: dict[str, Any]) -> np.ndarray:
    if set(attrs) == {"value"}:
        return attrs["value"]
    for key in ("value_float", "value_int"):
        if set(attrs) == {key}:
            return np.array(attrs[key])
    for key in ("value_floats", "value_ints"):
        if set(attrs) == {key}:
            return np.array(attrs[key])
    raise im.fail(node, f"has attributes {sorted(attrs)}; convmath reads a tensor or numbers")


TRANSLATORS: dict[str, Callable[[_Importer, Any, dict[str, Any]], Any]] = {
    "Conv": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_average_pool,
    "BatchNormalization": _batch_norm,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add,
    "Sum": _add,
    "Concat": _concat,
    "Flatten": _flatten,
    "Gather": _gather,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Pad": _pad,
    "Slice": _slice,
    "Relu": _elementwise(lambda a: ReLU(), {}),
    "LeakyRelu": _elementwise(lambda a: LeakyReLU(float(a.get("alpha", 0.01))), {"alpha": None}),
    "Sigmoid": _elementwise(lambda a: Sigmoid(), {}),
    "Tanh": _elementwise(lambda a: Tanh(), {}),
    "Dropout": _alias,
    "Identity": _alias,
    "Softmax": _softmax,
    "Constant": _constant,
}


def from_onnx(proto: Any, source: str = "the ONNX model") -> Imported:
    """A parsed ``ModelProto`` as a convmath model (see the module's docstring)."""
    return _Importer(proto, source).run()


def load(path: str | Path) -> Graph:
    """The convmath model of the ONNX file ``path``, in eval mode."""
    model = read(path).model
    model.eval()
    return model


def read(path: str | Path) -> Imported:
    """The ONNX file ``path`` imported: the model, its input shape and its metadata."""
    return from_onnx(read_model(path), str(path))


def stored_config(imported: Imported, source: str) -> dict[str, Any] | None:
    """The run configuration convmath stored in an exported file, parsed, or None."""
    text = imported.metadata.get("convmath.config")
    if text is None:
        return None
    from convmath import strict_json

    try:
        return strict_json.loads(
            text, f"{source}: its convmath.config", max_bytes=limits.MAX_HEADER_BYTES
        )
    except ConvMathError as error:
        raise InteropError(str(error)) from None
