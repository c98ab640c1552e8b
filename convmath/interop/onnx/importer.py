"""The walk of an ONNX graph: values, constants, layer names, layouts, and refusals by node.

:class:`Importer` reads the graph's input, runs each node's translator (the
tables in :mod:`.load`), and holds what they share: the constants, the
imported values with their layouts (:mod:`.layouts`), unique layer names and
the parameter count. A translator returns a held value (or a constant) for
the node's output; anything it refuses names the node and its operator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import ConvMathError, InteropError
from convmath.interop.onnx import folding
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
from convmath.interop.onnx.read import attributes, tensor_array
from convmath.nn import Module, Parameter
from convmath.nn.graph import Graph, Merge, Node, unique

INPUT = "input"
# Attributes that ONNX defines as integers (INT or INTS).
INTEGER_ATTRIBUTES = frozenset(
    [
        "group",
        "kernel_shape",
        "strides",
        "pads",
        "dilations",
        "axis",
        "perm",
        "ceil_mode",
        "count_include_pad",
        "transA",
        "transB",
        "training_mode",
        "storage_order",
        "allowzero",
        "spatial",
        "is_test",
        "to",
        "start",
        "end",
    ]
)
Translator = Callable[["Importer", Any, dict[str, Any]], Any]


@dataclass
class Imported:
    """What :func:`from_onnx` found: the model, its input shape and the file's metadata."""

    model: Graph
    input_shape: tuple[int, ...]
    metadata: dict[str, str]
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class NodeView:
    """A node's fields read once from the protobuf (each read there makes new objects)."""

    name: str
    op_type: str
    domain: str
    input: list[str]
    output: list[str]
    attribute: Any

    @classmethod
    def of(cls, node: Any) -> NodeView:
        fields = {field.name: value for field, value in node.ListFields()}  # one call: the set
        get = fields.get
        return cls(
            get("name", ""), get("op_type", ""), get("domain", ""), list(get("input", ())),
            list(get("output", ())), get("attribute", ()),
        )  # fmt: skip


class Importer:
    def __init__(
        self,
        proto: Any,
        source: str,
        translators: dict[str, Translator],
        max_outputs: int | None = None,
    ) -> None:
        self.source = source
        self.max_outputs = max_outputs
        self.max_parameters = limits.max_parameters()
        self.max_memory = limits.max_memory()
        self.values_bytes = 0  # every value of one example, float32, as the model computes them
        self.scratch_bytes = 0  # the largest working memory of one layer, for one example
        self.index_bytes = 0  # the layers' own index arrays (reorderings)
        self.folded_bytes = 0  # the constants folded at import (.folding), held while it runs
        self.node: Any = None  # the node being translated, which any refusal names
        self.producers: dict[str, Any] = {}
        self.hints: dict[str, str] = {}
        self.translators = translators
        self.metadata = {p.key: p.value for p in proto.metadata_props}
        self.graph = proto.graph
        self.opset = max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        self.constants: dict[str, np.ndarray] = {}
        self.batch_marks: dict[str, np.ndarray] = {}  # constants with entries that are the batch
        self.values: dict[str, Held] = {}
        self.nodes: list[Node] = []
        self.names: set[str] = {INPUT}
        self.counts: dict[str, int] = {}
        self.parameters = 0
        self.notes: list[str] = []
        self.rng = np.random.default_rng(0)  # layers are drawn, then given the file's weights
        self.readers: dict[str, list[Any]] = {}
        self.graph_nodes = [NodeView.of(node) for node in self.graph.node]
        self.taken: set[int] = set()  # nodes a translator computed with an earlier one (take)
        self._makers: dict[str, Any] | None = None  # the node writing each value, when asked
        for node in self.graph_nodes:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    # ------------------------------------------------------------ helpers
    def fail(self, node: Any, message: str) -> InteropError:
        label = f"{node.name!r} " if node.name else ""
        return InteropError(f"{self.source}: node {label}({node.op_type}) {message}")

    def fresh(self, hint: str) -> str:
        clean = self.hints.get(hint)
        if clean is None:
            clean = self.hints[hint] = re.sub(r"[^A-Za-z0-9_.]+", "_", hint).strip("._") or "node"
        return unique(clean, self.names, self.counts)

    def module_name(self, node: Any) -> str:
        """A node's layer name: its weight's prefix ("conv1" for "conv1.weight"), else its own."""
        for name in node.input[1:]:
            if name in self.constants and "." in name:
                return name.rsplit(".", 1)[0]
        return node_name(node)

    def add(self, module: Module, inputs: list[Held], hint: str, layout: Any) -> Held:
        arrays = weights(module)
        if arrays:
            self.parameters += sum(a.size for w, a in arrays if w.startswith("weight"))
            if self.parameters > self.max_parameters:  # each layer holds its own copy
                raise InteropError(
                    f"{self.source}: the layers would hold over {self.max_parameters:,} weights"
                    f" (set CONVMATH_MAX_PARAMETERS to allow more)"
                )
            for what, array in arrays:  # after every cast and folding: what it computes with
                self.check_weight(module, what, array)
        first = inputs[0].stored_shape
        stored = (
            module.merged_shape([v.stored_shape for v in inputs])
            if isinstance(module, Merge)
            else module.output_shape(first)
        )
        size = math.prod(stored)
        self.values_bytes += 4 * size
        if type(module).scratch_bytes is Module.scratch_bytes:  # the default, without a 2nd shape
            scratch = 8 * max(size, math.prod(first))
        else:
            scratch = module.scratch_bytes(first, 1, 4, training=False)
        self.scratch_bytes = max(self.scratch_bytes, scratch)
        if self.needed() > self.max_memory:
            what = "gives" if self.node is not None else "the graph's output, converted, is"
            self.check_memory(f"{what} {('N', *onnx_shape(stored, layout))}")
        name = self.fresh(hint)
        self.nodes.append(Node(name, module, tuple(v.name for v in inputs), name))
        return Held(name, onnx_shape(stored, layout), layout)

    def check_memory(self, what: str, extra: int = 0) -> None:
        """Refuse the graph once one example's values, scratch and indices pass the limit."""
        needed = self.needed() + extra
        if needed > self.max_memory:
            at = self.fail(self.node, what) if self.node is not None else f"{self.source}: {what}"
            raise InteropError(
                f"{at}: one example would need about {limits.format_bytes(needed)}, over the"
                f" {limits.format_bytes(self.max_memory)} limit (set CONVMATH_MAX_MEMORY to"
                f" allow more)"
            )

    def needed(self) -> int:
        """One example's memory so far: values, the largest scratch, indices, weights."""
        return (
            self.values_bytes + self.scratch_bytes + self.index_bytes + self.folded_bytes
            + 4 * self.parameters
        )  # fmt: skip

    def reserve_indices(self, count: int) -> None:
        """Count an index array of ``count`` entries (and its making) before it is made."""
        self.index_bytes += 8 * count
        self.check_memory(f"reorders {count:,} values", 16 * count)

    def check_weight(self, module: Module, what: str, array: np.ndarray) -> None:
        if array.dtype.kind != "f":
            return
        if not np.isfinite(array).all():
            raise self.fail(self.node, f"gives its layer a {what} with NaN or infinite values")
        reach = reach_of(module, what, array)
        if reach is not None and not reach < FLOAT32_MAX:
            raise self.fail(
                self.node,
                f"has weights whose sum reaches {reach:.3g} for inputs within [-1, 1]; the"
                f" forward pass would overflow float32",
            )

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
        if name in self.batch_marks:
            raise self.fail(
                node, f"reads the batch size in its input {k} ({name!r}); convmath leaves the"
                " batch free, and reads it only as a Reshape's first size"
            )  # fmt: skip
        return self.constants[name]

    def batch_mark(self, node: Any, k: int) -> np.ndarray | None:
        """Which entries of constant input ``k`` stand for the batch size (None: none)."""
        return self.batch_marks.get(node.input[k]) if k < len(node.input) else None

    def convert(self, value: Held, wanted: Permuted) -> Held:
        if isinstance(value.layout, FlatHWC):  # a reordering: an index per value
            self.reserve_indices(math.prod(value.onnx_shape))
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

    def maker(self, name: str) -> Any:
        """The node that writes the value ``name`` (None: none does); the table made once."""
        if self._makers is None:
            self._makers = {out: node for node in self.graph_nodes for out in node.output}
        return self._makers.get(name)

    def take(self, steps: list[Any], held: Held) -> None:
        """Nodes after this one that its translation computed too: the last one gives ``held``."""
        for step in steps:
            self.taken.add(id(step))
        self.values[steps[-1].output[0]] = held
        self.producers[steps[-1].output[0]] = steps[-1]

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
        unused = set()
        for tensor in graph.initializer:  # only those a node reads are decoded
            if tensor.name in self.readers:
                self.constants[tensor.name] = tensor_array(tensor, self.source)
            else:
                unused.add(tensor.name)
        total = sum(a.size for a in self.constants.values() if a.dtype.kind == "f")
        if total > limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS:
            raise InteropError(
                f"{self.source}: {total:,} weights, over the parameter limit of"
                f" {limits.max_parameters():,} (set CONVMATH_MAX_PARAMETERS to allow more)"
            )
        inputs = [v for v in graph.input if v.name not in self.constants and v.name not in unused]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise InteropError(
                f"{self.source}: convmath imports graphs of one input and one output; this one"
                f" has {len(inputs)} inputs ({[v.name for v in inputs]}) and {len(graph.output)}"
                f" outputs"
            )
        x, input_shape = self._input(inputs[0])
        self.values[inputs[0].name] = x
        self.values_bytes = 4 * math.prod(input_shape)
        self.check_memory(f"the input {inputs[0].name!r} of {('N', *x.onnx_shape)}")
        for node in self.graph_nodes:
            self._node(node)
        self.node = None
        output = graph.output[0].name
        if output not in self.values:
            raise InteropError(f"{self.source}: no node computes the graph's output {output!r}")
        y = self.values[output]
        size = math.prod(y.onnx_shape)
        if self.max_outputs is not None and size > self.max_outputs:
            last = self.producers.get(output)
            where = self.fail(last, "") if last is not None else f"{self.source}: the input "
            raise InteropError(
                f"{where}gives the graph's output {output!r} {('N', *y.onnx_shape)}:"
                f" {size:,} values, over the limit of {self.max_outputs:,} classes"
            )
        wanted = preferred(len(y.onnx_shape)) if self.nchw else identity(len(y.onnx_shape))
        y = self.convert(y, wanted)
        if not self.nodes:
            raise InteropError(f"{self.source}: the graph computes nothing convmath can hold")
        model = Graph(self.nodes, INPUT, y.name)
        for node in self.nodes:  # name_modules() for a graph of layers without sub-modules
            node.module.path = node.name
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
        if self.taken and id(node) in self.taken:
            return
        if node.domain not in ("", "ai.onnx"):
            raise self.fail(
                node, f"is from the operator set {node.domain!r}; convmath reads ONNX's own"
            )
        fold = self._folding(node)
        translate = self.translators.get(node.op_type)
        if translate is None and fold is None:
            if node.op_type in folding.FOLDERS:
                raise self.fail(
                    node, "computes from a value that is not a constant; convmath computes it"
                    " only at import, from constants (it folds shapes and constants)"
                )  # fmt: skip
            supported = sorted({*self.translators, *folding.FOLDERS})
            raise self.fail(node, f"is not supported; convmath imports {', '.join(supported)}")
        if len(node.output) < 1 or not node.output[0]:
            raise self.fail(node, "has no output")
        self.node = node
        attrs = attributes(node, self.source) if node.attribute else {}
        for key, value in attrs.items():  # LeakyRelu alpha=NaN, epsilon=inf: refused here
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(node, f"has {key}={value}; convmath needs finite numbers")
            if isinstance(value, list) and not all(
                math.isfinite(v) for v in value if isinstance(v, float)
            ):
                raise self.fail(node, f"has {key} with NaN or infinite values")
        for key in INTEGER_ATTRIBUTES.intersection(attrs):  # never truncate group=1.5 to 1
            value = attrs[key]
            if not all(isinstance(v, int) for v in (value if isinstance(value, list) else [value])):
                raise self.fail(node, f"has {key}={value!r}; expected integers")
        try:
            if fold is not None:
                out: Any = self._fold(node, attrs, fold)
            else:
                out = translate(self, node, attrs)
        except InteropError:
            raise
        except folding.FoldError as error:
            raise self.fail(node, str(error)) from None
        except ConvMathError as error:  # a layer that refuses these sizes, naming the node
            raise self.fail(node, str(error)) from None
        except (ArithmeticError, ValueError, TypeError, IndexError, KeyError) as error:  # malformed
            raise self.fail(node, f"is malformed ({type(error).__name__}: {error})") from None
        if isinstance(out, np.ndarray):
            self.constants[node.output[0]] = out
        else:
            self.values[node.output[0]] = out
            self.producers[node.output[0]] = node
        for extra in node.output[1:]:
            if extra and self.readers.get(extra):
                raise self.fail(node, f"has its output {extra!r} read; convmath gives one output")

    def _folding(self, node: Any) -> folding.Fold | None:
        """The node's folding, where it computes a constant from constants (or Shape of a value)."""
        fold = folding.FOLDERS.get(node.op_type)
        if fold is None or (node.op_type == "Slice" and self.opset < 10):
            return None
        names = [name for name in node.input if name]
        if not names:
            return None
        if node.op_type == "Shape":
            known = len(names) == 1 and (names[0] in self.values or names[0] in self.constants)
            return fold if known else None
        return fold if all(name in self.constants for name in names) else None

    def _fold(self, node: Any, attrs: dict[str, Any], fold: folding.Fold) -> np.ndarray:
        """Compute the node's constant (bounded: see .folding), record its batch mark."""
        inputs: list[folding.Folded | None] = []
        if node.op_type == "Shape" and node.input[0] in self.values:
            held = self.values[node.input[0]]
            out = folding.shape_of((1, *held.onnx_shape), attrs, batch=True)
        else:
            optional = folding.OPTIONAL_INPUTS.get(node.op_type, set())
            missing = [k for k, name in enumerate(node.input) if not name and k not in optional]
            if missing:
                raise self.fail(node, f"leaves out its input {missing[0]}, which it needs")
            inputs = [
                folding.Folded(self.constants[name], self.batch_marks.get(name)) if name else None
                for name in node.input
            ]
            out = fold(node, inputs, attrs)
        shared = node.op_type == "Shape" or any(
            x is not None and np.may_share_memory(out.value, x.value) for x in inputs
        )  # an Identity, or a Reshape's view: no new array
        if not shared:
            self.folded_bytes += out.value.nbytes
            self.check_memory(f"folds a constant of shape {out.value.shape}")
        if out.marked():
            self.batch_marks[node.output[0]] = out.batch
        return out.value


def node_name(node: Any) -> str:
    """PyTorch's "/features/0/Conv" becomes "features.0"; a plain name stays; else the operator."""
    parts = [part for part in node.name.split("/") if part]
    if node.name.startswith("/") and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts) or node.op_type.lower()


def onnx_shape(stored: tuple[int, ...], layout: Any) -> tuple[int, ...]:
    if isinstance(layout, Permuted):
        shape = [0] * len(stored)
        for i, a in enumerate(layout.axes):
            shape[a] = stored[i]
        return tuple(shape)
    if isinstance(layout, Squeezed):
        return (stored[0], 1, 1)
    return stored


FLOAT32_MAX = float(np.finfo(np.float32).max)


_HOLDS_WEIGHTS: dict[type, bool] = {}  # layer classes seen, and whether they hold any


def weights(module: Module) -> list[tuple[str, np.ndarray]]:
    """A layer's parameters ("weight 'W'") and buffers ("buffer 'running_var'"), as arrays."""
    kind = type(module)
    if _HOLDS_WEIGHTS.get(kind) is False:  # ReLU, Flatten...: never a weight or a buffer
        return []
    arrays = [
        (f"weight {name!r}", value.data)
        for name, value in vars(module).items()
        if isinstance(value, Parameter)
    ]
    arrays += [(f"buffer {name!r}", getattr(module, name)) for name in module._buffer_names]
    if kind not in _HOLDS_WEIGHTS:
        _HOLDS_WEIGHTS[kind] = bool(arrays) or any(
            value is None for value in vars(module).values()
        )  # a Dense without its bias now may hold one next time
    return arrays


def reach_of(module: Module, what: str, array: np.ndarray) -> float | None:
    """The largest output a weight can give for inputs within [-1, 1], or None: not a product.

    A convolution's or a Dense layer's output is at most the sum of its
    filter's absolute values; a batch norm's is at most |scale| + |shift|.
    """
    kind = type(module).__name__
    if what == "weight 'W'" and kind in ("Conv2D", "Dense") and array.ndim >= 2:
        axes = tuple(range(array.ndim - 1))  # every axis but the outputs'
        return float(np.abs(array, dtype=np.float64).sum(axis=axes).max(initial=0.0))
    if what == "buffer 'running_var'" and kind.startswith("BatchNorm"):
        norm: Any = module
        with np.errstate(all="ignore"):  # 1e30 / sqrt(1e-30): an overflow, refused below
            scale = norm.gamma.data / np.sqrt(array.astype(np.float64) + float(norm.eps))
            shift = norm.beta.data - norm.running_mean.astype(np.float64) * scale
            reach = np.abs(scale) + np.abs(shift)
        return float(np.nan_to_num(reach, nan=np.inf).max(initial=0.0))
    return None


# ---------------------------------------------------------------- the operators
