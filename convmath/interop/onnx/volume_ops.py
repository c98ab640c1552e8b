"""ONNX's volume operators as convmath layers: Conv, MaxPool, AveragePool, GlobalAveragePool,
BatchNormalization. Each reads a channels-last volume and checks every attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.errors import ConvMathError
from convmath.interop.onnx.importer import Importer, node_name
from convmath.interop.onnx.layouts import CHANNELS_LAST, Held, Permuted, Squeezed, identity
from convmath.nn import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    GlobalAvgPool2D,
    LayerNorm,
    MaxPool2D,
    Module,
)
from convmath.nn.graph import Concatenate
from convmath.nn.layout import Slice
from convmath.shapes import same_padding


def conv(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
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
        layer.b.data[...] = vector(im, node, 2, n_C)
    return im.add(layer, [x], im.module_name(node), Permuted(CHANNELS_LAST))


def _pads(
    im: Importer, node: Any, attrs: dict[str, Any], x: Held, f: tuple[int, int],
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
        sides = [same_padding(x.stored_shape[i], f[i], stride[i], dilation[i]) for i in (0, 1)]
        return tuple((after, before) for before, after in sides)
    pads = [int(p) for p in attrs.get("pads", (0, 0, 0, 0))]
    if len(pads) != 4 or min(pads) < 0:
        raise im.fail(node, f"has pads {pads}; convmath needs four pads of 0 or more")
    top, left, bottom, right = pads
    return ((top, bottom), (left, right))


def vector(im: Importer, node: Any, k: int, n: int) -> np.ndarray:
    value = im.constant(node, k)
    if value.size != n:
        raise im.fail(node, f"has input {k} of shape {value.shape}; expected {n} values")
    return value.reshape(n)


def pool(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    average = node.op_type == "AveragePool"
    allowed: dict[str, Any] = {
        "kernel_shape": None, "strides": None, "pads": None, "auto_pad": ("NOTSET", "VALID"),
        "ceil_mode": (0, 1), "dilations": ([1, 1],), "storage_order": (0,),
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
    if attrs.get("ceil_mode", 0):
        x = _ceil_windows(im, node, x, f, stride, (top, left), average)
    try:
        if average:
            include = bool(attrs.get("count_include_pad", 0))  # ONNX's default: not counted
            layer: Module = AvgPool2D(f, stride, (top, left), count_include_pad=include)
        else:
            layer = MaxPool2D(f, stride, (top, left))
    except ConvMathError as error:
        raise im.fail(node, str(error)) from None
    return im.add(layer, [x], node_name(node), Permuted(CHANNELS_LAST))


def _ceil_windows(
    im: Importer, node: Any, x: Held, f: tuple[int, ...], stride: tuple[int, ...],
    pads: tuple[int, int], average: bool,
) -> Held:  # fmt: skip
    """ceil_mode=1: the partial windows at the bottom and right, for a max pool.

    Where the sizes give whole windows, ceil_mode changes nothing. Otherwise a
    max pool gets its last row (column) repeated until the last window is
    whole: every window that reaches past the input starts inside it (ONNX's
    and PyTorch's rule), so it holds that row already, and its maximum is
    the maximum of its real values. An average would count the copies: refused.
    """
    extra = []
    for axis, (n, k, s, p) in enumerate(zip(x.stored_shape[:2], f, stride, pads, strict=True)):
        floor = (n + 2 * p - k) // s + 1
        ceil = -(-(n + 2 * p - k) // s) + 1
        if (ceil - 1) * s >= n + p:  # no window may start in the padding after the input
            ceil -= 1
        if ceil != floor and average:
            side = "n_H" if axis == 0 else "n_W"
            raise im.fail(
                node, f"has ceil_mode=1, which adds a partial window along {side} ({n} values,"
                f" f={k}, s={s}, p={p}: {ceil} windows instead of {floor}); convmath computes"
                " it for a max pool only (an average would count the repeated edge)"
            )  # fmt: skip
        extra.append((ceil - 1) * s + k - n - 2 * p if ceil != floor else 0)
    for axis, count in enumerate(extra):
        if count:
            x = _repeat_edge(im, node, x, axis, count)
    return x


def _repeat_edge(im: Importer, node: Any, x: Held, axis: int, count: int) -> Held:
    """``x`` (channels-last) with its last row (axis 0) or column (axis 1) repeated."""
    ranges = [(0, n, 1) for n in x.stored_shape]
    n = x.stored_shape[axis]
    ranges[axis] = (n - 1, n, 1)
    hint = f"{node_name(node)}.ceil_mode"
    edge = im.add(Slice(ranges), [x], hint, x.layout)
    return im.add(Concatenate(axis), [x] + [edge] * count, hint, x.layout)


def global_average_pool(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    im.check_only(node, attrs, {})
    x = im.volume(node)
    return im.add(GlobalAvgPool2D(), [x], node_name(node), Squeezed())


def reduce_mean(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """The mean over a volume's height and width: a global average pool (what torch.mean gives)."""
    im.check_only(node, attrs, {"axes": None, "keepdims": (0, 1), "noop_with_empty_axes": (0,)})
    if im.opset >= 18:
        axes = [int(a) for a in im.constant(node, 1, np.zeros(0, np.int64)).reshape(-1)]
    else:
        axes = [int(a) for a in attrs.get("axes", [])]
    x = im.held(node)
    rank = len(x.onnx_shape) + 1
    if rank != 4 or sorted(a % rank for a in axes) != [2, 3]:
        raise im.fail(
            node, f"averages {('N', *x.onnx_shape)} over axes {axes}; convmath averages a"
            " volume over its height and width (2 and 3), a global average pool"
        )  # fmt: skip
    x = im.volume(node)
    layout = Squeezed() if attrs.get("keepdims", 1) else identity(1)
    return im.add(GlobalAvgPool2D(), [x], node_name(node), layout)


def layer_norm(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
    """LayerNormalization over the last axis: convmath's LayerNorm of the values held last.

    ConvNeXt normalises the channels of each position: PyTorch permutes its
    (N, C, H, W) volume to (N, H, W, C) first, which convmath holds as it is.
    """
    im.check_only(node, attrs, {"axis": None, "epsilon": None, "stash_type": (1,)})
    x = im.held(node)
    rank = len(x.onnx_shape) + 1
    axis = int(attrs.get("axis", -1))
    if axis % rank != rank - 1 or rank < 2:
        raise im.fail(
            node, f"normalizes {('N', *x.onnx_shape)} over the axes from {axis}; convmath"
            " normalizes the last axis (the channels of each position)"
        )  # fmt: skip
    if not isinstance(x.layout, Permuted) or x.layout.axes[-1] != rank - 2:
        x = im.convert(x, identity(rank - 1))  # the ONNX last axis held last
    n = x.onnx_shape[-1]
    gamma = vector(im, node, 1, n)
    beta = vector(im, node, 2, n) if len(node.input) > 2 and node.input[2] else np.zeros(n)
    epsilon = float(attrs.get("epsilon", 1e-5))
    if not epsilon > 0:
        raise im.fail(node, f"has epsilon={epsilon}; convmath needs epsilon > 0")
    layer = LayerNorm(n, eps=epsilon)
    layer.gamma.data[...], layer.beta.data[...] = gamma, beta
    return im.add(layer, [x], im.module_name(node), x.layout)


def batch_norm(im: Importer, node: Any, attrs: dict[str, Any]) -> Held:
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
    gamma, beta, mean, var = (vector(im, node, k, n_C) for k in (1, 2, 3, 4))
    if (var < 0).any():
        raise im.fail(node, "has a negative running variance")
    epsilon = float(attrs.get("epsilon", 1e-5))
    if not epsilon > 0:
        raise im.fail(node, f"has epsilon={epsilon}; convmath needs epsilon > 0")
    momentum = 1.0 - float(attrs.get("momentum", 0.9))
    layer = BatchNorm2D(n_C, momentum=min(max(momentum, 0.0), 1.0), eps=epsilon)
    layer.gamma.data[...], layer.beta.data[...] = gamma, beta
    layer.running_mean[...], layer.running_var[...] = mean, var
    return im.add(layer, [x], im.module_name(node), layout)
