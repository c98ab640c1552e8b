"""ONNX's matrix products as convmath Dense layers: Gemm, MatMul, and MatMul + Add of a bias.

The Dense after an NCHW flatten gets its rows in convmath's (H, W, C) order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.interop.onnx.importer import Importer
from convmath.interop.onnx.layouts import FlatHWC, Held, identity
from convmath.nn import Dense, Parameter


def gemm(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
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
    x = im.flat(node)
    W = im.constant(node, 1)
    if W.ndim != 2:
        raise im.fail(node, f"multiplies by a constant of shape {W.shape}; expected a matrix")
    return dense(im, node, x, W, None)


def bias(im: Importer, node: Any, name: str) -> Held:
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

    dense.b = Parameter(np.broadcast_to(bias.reshape(-1), (dense.n_out,)).astype(np.float32))
    return value
