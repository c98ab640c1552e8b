"""ONNX's matrix products as convmath Dense layers: Gemm, MatMul, and MatMul + Add of a bias;
a MatMul of (N, a, b, n) volumes as a 1x1 CONV layer (a Dense at each position).

The Dense after an NCHW flatten gets its rows in convmath's (H, W, C) order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.interop.onnx.importer import Importer
from convmath.interop.onnx.layouts import FlatHWC, Held, Permuted, Squeezed, identity
from convmath.nn import Conv2D, Dense
from convmath.nn.graph import Node


def gemm(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {"alpha": None, "beta": None, "transA": (0,), "transB": (0, 1)})
    x = im.flat(node)
    B = im.constant(node, 1)
    if B.ndim != 2:
        raise im.fail(node, f"has a weight of shape {B.shape}; expected a matrix")
    with np.errstate(over="ignore"):  # an overflow is refused with the layer's weights
        W = (B.T if attrs.get("transB", 0) else B) * np.float32(attrs.get("alpha", 1.0))
    n_out = W.shape[1]
    C = None
    if len(node.input) > 2 and node.input[2]:
        C = im.constant(node, 2)
        if C.size not in (1, n_out) or C.ndim > 2 or (C.ndim == 2 and C.shape[0] != 1):
            raise im.fail(node, f"has a bias of shape {C.shape} for {n_out} outputs")
        with np.errstate(over="ignore"):
            C = np.broadcast_to(C.reshape(-1), (n_out,)) * np.float32(attrs.get("beta", 1.0))
    return dense(im, node, x, W, C)


def dense(im: Importer, node: Any, x: Held, W: np.ndarray, bias: np.ndarray | None) -> Held:
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


def matmul(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    W = im.constant(node, 1)
    if W.ndim != 2:
        raise im.fail(node, f"multiplies by a constant of shape {W.shape}; expected a matrix")
    value = im.held(node)
    if len(value.onnx_shape) == 3 and not isinstance(value.layout, (FlatHWC, Squeezed)):
        return per_position(im, node, value, W)
    return dense(im, node, im.flat(node), W, None)


def per_position(im: Importer, node: Any, x: Held, W: np.ndarray) -> Held:
    """(N, a, b, n) @ (n, n_out): a Dense at each of the a*b positions, a 1x1 CONV layer.

    ConvNeXt's blocks hold their volumes as (N, H, W, C) and apply Linear
    layers: convmath keeps the ONNX last axis last and convolves by 1x1.
    """
    if x.layout.axes[-1] != 2:  # the ONNX last axis must be the one held last
        x = im.convert(x, identity(3))
    n_in, n_out = W.shape
    if x.onnx_shape[-1] != n_in:
        raise im.fail(node, f"has a weight for {n_in} inputs; its input has {x.onnx_shape[-1]}")
    layer = Conv2D(n_in, n_out, 1, bias=False, rng=im.rng)
    layer.W.data[...] = W.reshape(1, 1, n_in, n_out)
    return im.add(layer, [x], im.module_name(node), x.layout)


def bias(im: Importer, node: Any, name: str) -> Held:
    """MatMul + Add of a constant vector: the bias of the Dense (or 1x1 CONV) layer it became.

    The layer is made again with a bias, so that it records the arguments it
    computes with (a model file rebuilds it from them).
    """
    other = next(n for n in node.input if n != name)
    value = im.values.get(other)
    last = im.nodes[-1] if im.nodes else None
    channels_last = (  # the ONNX last axis is the layer's outputs: a bias broadcasts along it
        value is not None
        and isinstance(value.layout, Permuted)
        and value.layout.axes[-1] == len(value.onnx_shape) - 1
    )
    if (
        value is None
        or last is None
        or last.output != value.name
        or not isinstance(last.module, (Dense, Conv2D))
        or last.module.b is not None
        or (isinstance(last.module, Conv2D) and not channels_last)
        or len(im.readers.get(other, [])) != 1
    ):
        raise im.fail(node, "adds a constant; convmath adds one only as the bias of a MatMul")
    layer: Any = last.module
    n_out = layer.n_out if isinstance(layer, Dense) else layer.n_C
    bias = im.constant(node, list(node.input).index(name))  # never the batch size
    if bias.size not in (1, n_out) or (bias.size > 1 and bias.shape[-1] != n_out):
        raise im.fail(node, f"adds a constant of shape {bias.shape} to {n_out} outputs")
    if isinstance(layer, Dense):
        made: Any = Dense(layer.n_in, n_out, True, rng=im.rng)
    else:
        made = Conv2D(layer.n_C_prev, n_out, 1, bias=True, rng=im.rng)
    made.W.data[...] = layer.W.data
    made.b.data[...] = np.broadcast_to(bias.reshape(-1), (n_out,))
    im.nodes[-1] = Node(last.name, made, last.inputs, last.output)
    im.parameters += n_out
    im.check_weight(made, "weight 'b'", made.b.data)
    return value
