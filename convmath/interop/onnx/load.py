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

import gc
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits, strict_json
from convmath.errors import ConvMathError, InteropError
from convmath.interop.onnx.dense_ops import gemm, matmul
from convmath.interop.onnx.importer import Imported, Importer, Translator, node_name
from convmath.interop.onnx.layout_ops import (
    add,
    concat,
    flatten,
    gather,
    mul,
    pad,
    reshape,
    slice_,
    transpose,
)
from convmath.interop.onnx.layouts import Held, identity
from convmath.interop.onnx.read import CONFIG_KEY, attributes, read_model
from convmath.interop.onnx.volume_ops import (
    batch_norm,
    conv,
    global_average_pool,
    layer_norm,
    pool,
    reduce_mean,
)
from convmath.nn import (
    GELU,
    Clip,
    HardSigmoid,
    HardSwish,
    LeakyReLU,
    Module,
    ReLU,
    ReLU6,
    Sigmoid,
    Tanh,
)
from convmath.nn.activation import Softmax
from convmath.nn.graph import Graph


def _elementwise(make: Callable[[dict[str, Any]], Module], allowed: dict[str, Any]) -> Any:
    def translate(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
        if attrs:
            im.check_only(node, attrs, allowed)
        value = im.held(node)
        return im.add(make(attrs), [value], node_name(node), value.layout)

    return translate


def _alias(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(
        node, attrs, {"ratio": None, "seed": None, "is_test": None, "training_mode": None}
    )
    training = len(node.input) > 2 and node.input[2] and im.constant(node, 2).reshape(-1)[0]
    if node.op_type == "Dropout" and training:
        raise im.fail(node, "runs in training mode; convmath imports graphs for inference")
    return im.held(node)


def _softmax(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
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
    return im.add(Softmax(), [value], node_name(node), identity(1))


def _clip(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """Clip(lo, hi): ReLU6 for (0, 6) (MobileNetV2's), ReLU for (0, none), else a Clip layer."""
    im.check_only(node, attrs, {"min": None, "max": None})
    if im.opset >= 11:
        bounds = [im.constant(node, k, np.full(1, np.nan)).reshape(-1) for k in (1, 2)]
        if any(b.size != 1 for b in bounds):
            raise im.fail(node, f"has bounds of {[b.size for b in bounds]} values; expected one")
        lo, hi = (None if np.isnan(b[0]) else float(b[0]) for b in bounds)
    else:
        lo, hi = attrs.get("min"), attrs.get("max")
    if any(b is not None and not math.isfinite(b) for b in (lo, hi)):
        raise im.fail(node, f"has bounds {lo} and {hi}; convmath needs finite numbers")
    layer: Module = (
        ReLU6() if (lo, hi) == (0, 6) else ReLU() if (lo, hi) == (0, None) else Clip(lo, hi)
    )
    value = im.held(node)
    return im.add(layer, [value], node_name(node), value.layout)


def _gelu(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """PyTorch's exact GELU as its exporter writes it before opset 20, read as one GELU layer.

    x / sqrt(2) -> Erf -> + 1 -> x * . -> * 0.5: the Div that starts it
    becomes convmath's GELU, and the four nodes after it are taken with it
    (each read only by the next). A Div of any other kind is refused.
    """
    im.check_only(node, attrs, {})
    steps = _gelu_steps(im, node)
    if steps is None:
        raise im.fail(
            node, "divides; convmath reads a Div only as the start of PyTorch's exact GELU"
            " (x / sqrt(2) -> Erf -> + 1 -> x * . -> * 0.5)"
        )  # fmt: skip
    value = im.held(node)
    held = im.add(GELU(), [value], node_name(node), value.layout)
    im.take(steps, held)
    return held


def _gelu_steps(im: Importer, node: Any) -> list[Any] | None:
    """The Erf, Add, Mul and Mul after ``node`` if they compute a GELU of its input, else None."""
    x = node.input[0] if node.input else ""
    if len(node.input) != 2 or x not in im.values or not _near(im, node.input[1], math.sqrt(2)):
        return None
    steps, current = [], node
    for op, other in (("Erf", None), ("Add", 1.0), ("Mul", x), ("Mul", 0.5)):
        readers = im.readers.get(current.output[0], [])
        if len(readers) != 1 or readers[0].op_type != op or readers[0].attribute:
            return None
        step = readers[0]
        rest = [name for name in step.input if name != current.output[0]]
        if len(rest) != (0 if op == "Erf" else 1):
            return None
        if isinstance(other, float) and not _near(im, rest[0], other):
            return None
        if isinstance(other, str) and rest[0] != other:
            return None
        steps.append(step)
        current = step
    return steps


def _near(im: Importer, name: str, number: float) -> bool:
    """Whether ``name`` is a constant of one number within 1e-6 of ``number``.

    A Constant node written after the node that looks ahead counts too.
    """
    if name in im.batch_marks:  # the batch size, folded as 1: a number only at import
        return False
    value = im.constants.get(name)
    maker = im.maker(name) if value is None else None
    if value is None and maker is not None and maker.op_type == "Constant":
        value = np.asarray(_constant(im, maker, attributes(maker, im.source)))
    if value is None or value.size != 1 or value.dtype.kind != "f":
        return False
    return abs(float(value.reshape(-1)[0]) - number) < 1e-6


def _constant(im: Importer, node: Any, attrs: dict[str, Any]) -> np.ndarray:
    if set(attrs) == {"value"}:
        return attrs["value"]
    for key in ("value_float", "value_int"):
        if set(attrs) == {key}:
            return np.array(attrs[key])
    for key in ("value_floats", "value_ints"):
        if set(attrs) == {key}:
            return np.array(attrs[key])
    raise im.fail(node, f"has attributes {sorted(attrs)}; convmath reads a tensor or numbers")


TRANSLATORS: dict[str, Translator] = {
    "Conv": conv,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Mul": mul,
    "Sum": add,
    "Concat": concat,
    "Flatten": flatten,
    "Gather": gather,
    "Reshape": reshape,
    "Transpose": transpose,
    "Pad": pad,
    "Slice": slice_,
    "Relu": _elementwise(lambda a: ReLU(), {}),
    "LeakyRelu": _elementwise(lambda a: LeakyReLU(float(a.get("alpha", 0.01))), {"alpha": None}),
    "Sigmoid": _elementwise(lambda a: Sigmoid(), {}),
    "HardSigmoid": _elementwise(
        lambda a: HardSigmoid(float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))),
        {"alpha": None, "beta": None},
    ),
    "HardSwish": _elementwise(lambda a: HardSwish(), {}),
    "Clip": _clip,
    "Div": _gelu,
    "Tanh": _elementwise(lambda a: Tanh(), {}),
    "Dropout": _alias,
    "Identity": _alias,
    "Softmax": _softmax,
    "Constant": _constant,
}


def from_onnx(
    proto: Any, source: str = "the ONNX model", *, max_outputs: int | None = None
) -> Imported:
    """A parsed ``ModelProto`` as a convmath model (see the module's docstring).

    Every value's shape is worked out and one example's memory bounded by
    :func:`convmath.limits.max_memory` before a layer is made; ``max_outputs``
    bounds the graph's output (the commands: the class limit).
    """
    collecting = gc.isenabled()
    gc.disable()  # a graph is many small objects and no cycles: the collector only slows it
    try:
        return Importer(proto, source, TRANSLATORS, max_outputs).run()
    finally:
        if collecting:
            gc.enable()


def load(path: str | Path) -> Graph:
    """The convmath model of the ONNX file ``path``, in eval mode."""
    model = read(path).model
    model.eval()
    return model


def read(path: str | Path, *, max_outputs: int | None = None) -> Imported:
    """The ONNX file ``path`` imported: the model, its input shape and its metadata."""
    return from_onnx(read_model(path), str(path), max_outputs=max_outputs)


def stored_config(imported: Imported, source: str) -> dict[str, Any] | None:
    """The run configuration convmath stored in an exported file, parsed, or None."""
    text = imported.metadata.get(CONFIG_KEY)
    if text is None:
        return None

    try:
        return strict_json.loads(
            text, f"{source}: its convmath.config", max_bytes=limits.MAX_HEADER_BYTES
        )
    except ConvMathError as error:
        raise InteropError(str(error)) from None
