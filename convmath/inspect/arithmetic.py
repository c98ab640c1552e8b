"""The number behind a number: how one value of one layer's output was computed.

``explain_value(trace, row, position)`` takes a :class:`~convmath.inspect.trace.Trace`
and gives, with the real numbers, the computation of the value at
``position`` of row ``row``'s output, as the article writes it:

- CONV: Z[i, j, c] = sum over u, v, k of A_prev_pad[i*s + u, j*s + v, k] * W[u, v, k, c] + b[c]:
  the f x f x n_C_prev window of the zero-padded input, the filter, their
  elementwise products, the sum, the bias, Z and the activation that follows;
- POOL: the f x f window of channel c and its max or mean;
- FC: z_k = sum_i a_i W[i, k] + b_k, its largest contributions and the rest;
- batch norm (eval): y = gamma (x - mu) / sigma + beta with sigma = sqrt(var + eps);
- the activations psi(z); the output's softmax, p_k = exp(z_k) / sum_j exp(z_j).

Each answer holds ``value``, what the library's own forward computed there,
beside the numbers recomputed from the equation, so anyone can check that
the two agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.inspect.activations import ACTIVATIONS
from convmath.inspect.trace import Trace
from convmath.nn import (
    AdaptiveAvgPool2D,
    AvgPool2D,
    BatchNorm2D,
    ChannelShuffle,
    ChannelSlice,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool2D,
    InceptionModule,
    InvertedResidual,
    LayerNorm,
    MaxPool2D,
    ResidualBlock,
    SpatialMean,
    SqueezeExcitation,
)
from convmath.nn.module import Module
from convmath.schema import shown
from convmath.shapes import adaptive_bins, resolve_padding

TOP_CONTRIBUTIONS = 10
SOFTMAX = "softmax"  # the pseudo-row of the output's softmax


def explainable(module: Module) -> bool:
    """Whether :func:`explain_value` opens the values of this module's output."""
    explained = (Conv2D, Dense, MaxPool2D, AvgPool2D, GlobalAvgPool2D, BatchNorm2D, Flatten)
    explained += (AdaptiveAvgPool2D, SpatialMean, ChannelShuffle, ChannelSlice, LayerNorm)
    blocks = (ResidualBlock, InceptionModule, SqueezeExcitation, InvertedResidual)
    return isinstance(module, explained + ACTIVATIONS + blocks)


def explain_value(trace: Trace, row: str, position: list[int] | tuple[int, ...]) -> dict[str, Any]:
    """The computation of row ``row``'s output at ``position`` ([i, j, c] or [k])."""
    if row == SOFTMAX:
        return _softmax(trace, _checked(position, trace.logits.shape, "softmax"))
    path, module = trace.module_of(row)
    out = trace.outputs[path].data[0]
    where = _checked(position, out.shape, row)
    value = float(out[where])
    if isinstance(module, Conv2D):
        answer = _conv(trace, row, module, where)
    elif isinstance(module, Dense):
        answer = _dense(trace.input_of(row), module, where[0])
    elif isinstance(module, MaxPool2D | AvgPool2D):
        answer = _pool(trace.input_of(row), module, where)
    elif isinstance(module, GlobalAvgPool2D | SpatialMean):
        channel = trace.input_of(row)[:, :, where[-1]]
        answer = {
            "kind": "average",
            "window": channel,
            "equation": f"mean of channel {where[-1]} over {channel.size} positions"
            f" = {channel.astype(np.float64).mean():.6g}",
        }
    elif isinstance(module, AdaptiveAvgPool2D):
        answer = _adaptive_pool(trace.input_of(row), module, where)
    elif isinstance(module, ChannelShuffle | ChannelSlice):
        source = (*where[:2], _source_channel(module, trace.input_of(row).shape[2], where[2]))
        answer = {
            "kind": "elementwise",
            "source": [int(n) for n in source],
            "equation": f"A{list(where)} = A_prev{list(map(int, source))} ({module.details()})",
        }
    elif isinstance(module, BatchNorm2D):
        answer = _batch_norm(trace.input_of(row), module, where)
    elif isinstance(module, LayerNorm):
        answer = _layer_norm(trace.input_of(row), module, where)
    elif isinstance(module, ACTIVATIONS):
        z = float(trace.input_of(row)[where])
        answer = {
            "kind": "activation",
            "function": type(module).__name__,
            "z": z,
            "a": value,
            "equation": f"A = {type(module).__name__}(Z) = {type(module).__name__}({z:.6g})"
            f" = {value:.6g}",
        }
    elif isinstance(module, Flatten):
        source = np.unravel_index(where[0], trace.input_of(row).shape)
        answer = {
            "kind": "elementwise",
            "source": [int(n) for n in source],
            "equation": f"a[{where[0]}] = A_prev{list(map(int, source))} (channels-last order)",
        }
    elif isinstance(module, ResidualBlock):
        answer = _residual_add(trace, path, module, where)
    elif isinstance(module, InceptionModule):
        answer = _concat(trace, path, module, where)
    elif isinstance(module, SqueezeExcitation):
        a_prev = float(trace.inputs[path].data[0][where])
        gate = float(trace.outputs[f"{path}.squeeze"].data[0][0, 0, where[2]])
        answer = {
            "kind": "scale",
            "a_prev": a_prev,
            "s": gate,
            "equation": f"A{list(where)} = A_prev{list(where)} * s[{where[2]}]"
            f" = {a_prev:.6g} * {gate:.6g} = {a_prev * gate:.6g}",
        }
    elif isinstance(module, InvertedResidual):
        z = float(trace.outputs[f"{path}.main"].data[0][where])
        if module.residual:
            a = float(trace.inputs[path].data[0][where])
            equation = f"a_out = z + a = {z:.6g} + {a:.6g} = {z + a:.6g} (no activation)"
        else:
            equation = f"a_out = z, the projection's output (no shortcut: s = {module.stride}"
            equation += f", {module.n_C_prev} -> {module.n_C} channels) = {z:.6g}"
        answer = {"kind": "residual_add" if module.residual else "elementwise", "z": z}
        answer["equation"] = equation
    else:
        raise InvalidArgumentError(
            f"layer {row!r} ({type(module).__name__}) has no explanation of its values"
        )
    answer.update(layer=row, position=list(where), value=value)
    return answer


def _checked(position: Any, shape: tuple[int, ...], row: str) -> tuple[int, ...]:
    if (
        not isinstance(position, list | tuple)
        or len(position) != len(shape)
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in position)
    ):
        raise InvalidArgumentError(
            f"position for {row!r} must be {len(shape)} integers (its output is {shape}),"
            f" got {shown(position)}"
        )
    if not all(0 <= n < size for n, size in zip(position, shape, strict=True)):
        raise InvalidArgumentError(
            f"position {list(position)} is outside {row!r}'s output of shape {shape}"
        )
    return tuple(position)


def _window(
    a_prev: np.ndarray,
    i: int,
    j: int,
    f: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    top_left: tuple[int, int],
) -> tuple[np.ndarray, list[int], list[int], np.ndarray, np.ndarray]:
    """The window of output (i, j): its values (zeros in the padding), its rows and columns
    in the unpadded input, and which of its places are padding and which are inside."""
    rows = [i * s[0] - top_left[0] + u * d[0] for u in range(f[0])]
    cols = [j * s[1] - top_left[1] + v * d[1] for v in range(f[1])]
    inside_r = np.array([0 <= r < a_prev.shape[0] for r in rows])
    inside_c = np.array([0 <= c < a_prev.shape[1] for c in cols])
    inside = inside_r[:, None] & inside_c[None, :]
    window = np.zeros((f[0], f[1], a_prev.shape[2]), dtype=a_prev.dtype)
    for u, r in enumerate(rows):
        for v, c in enumerate(cols):
            if inside[u, v]:
                window[u, v] = a_prev[r, c]
    return window, rows, cols, ~inside, inside


def _conv(trace: Trace, row: str, conv: Conv2D, where: tuple[int, ...]) -> dict[str, Any]:
    i, j, c = where
    a_prev = trace.input_of(row)
    (top, _), (left, _) = resolve_padding(
        conv.padding, a_prev.shape[:2], conv.f, conv.stride, conv.dilation
    )
    window, rows, cols, padded, _ = _window(
        a_prev, i, j, conv.f, conv.stride, conv.dilation, (top, left)
    )
    per_group = conv.n_C_prev // conv.groups
    group = c // (conv.n_C // conv.groups)
    window = window[:, :, group * per_group : (group + 1) * per_group]
    w = conv.W.data[:, :, :, c]
    products = window.astype(np.float64) * w
    total = float(products.sum())
    bias = 0.0 if conv.b is None else float(conv.b.data[c])
    f_h, f_w = conv.f
    answer: dict[str, Any] = {
        "kind": "conv",
        "window": window,
        "rows": rows,
        "cols": cols,
        "padded": padded,
        "filter": w,
        "products": products,
        "sum": total,
        "bias": bias,
        "z": total + bias,
        "stride": list(conv.stride),
        "padding": [top, left],
        "equation": f"Z[{i}, {j}, {c}] = sum over the {f_h}x{f_w}x{per_group} window of"
        f" A_prev_pad * W[:, :, :, {c}] + b[{c}] = {total:.6g} + {bias:.6g} = {total + bias:.6g}",
        "activation": _activation_after(trace, row, where),
    }
    return answer


def _activation_after(trace: Trace, row: str, where: tuple[int, ...]) -> dict[str, Any] | None:
    """The psi applied straight to this layer's output, if the next module is one."""
    path, _ = trace.module_of(row)
    produced = trace.outputs[path]
    for next_path, module in trace.model.named_modules():
        if isinstance(module, ACTIVATIONS) and trace.inputs.get(next_path) is produced:
            value = float(trace.outputs[next_path].data[0][where])
            return {"layer": next_path, "kind": type(module).__name__, "value": value}
    return None


def _dense(a: np.ndarray, dense: Dense, k: int) -> dict[str, Any]:
    w = dense.W.data[:, k]
    products = a.astype(np.float64) * w
    order = np.argsort(-np.abs(products), kind="stable")
    top = order[:TOP_CONTRIBUTIONS]
    rest = float(products[order[TOP_CONTRIBUTIONS:]].sum())
    bias = 0.0 if dense.b is None else float(dense.b.data[k])
    z = float(products.sum()) + bias
    return {
        "kind": "dense",
        "contributions": [
            {"index": int(n), "a": float(a[n]), "w": float(w[n]), "product": float(products[n])}
            for n in top
        ],
        "rest": rest,
        "n_in": int(a.size),
        "bias": bias,
        "z": z,
        "equation": f"z[{k}] = sum of a_i W[i, {k}] over {a.size} inputs + b[{k}]"
        f" = {float(products.sum()):.6g} + {bias:.6g} = {z:.6g}",
    }


def _pool(a_prev: np.ndarray, pool: MaxPool2D | AvgPool2D, where: tuple[int, ...]) -> dict:
    i, j, c = where
    p_h, p_w = pool.padding
    window, rows, cols, padded, inside = _window(
        a_prev, i, j, pool.f, pool.stride, (1, 1), (p_h, p_w)
    )
    values = window[:, :, c].astype(np.float64)
    f_h, f_w = pool.f
    answer: dict[str, Any] = {"window": values, "rows": rows, "cols": cols, "padded": padded}
    if isinstance(pool, MaxPool2D):
        masked = np.where(inside, values, -np.inf)  # padding never wins
        u, v = np.unravel_index(int(np.argmax(masked)), masked.shape)
        answer.update(
            kind="max",
            argmax=[int(u), int(v)],
            equation=f"A[{i}, {j}, {c}] = max of the {f_h}x{f_w} window = {masked[u, v]:.6g}",
        )
    else:
        count = values.size if pool.count_include_pad else int(inside.sum())
        mean = float(values.sum() / count)
        answer.update(
            kind="average",
            equation=f"A[{i}, {j}, {c}] = sum of the {f_h}x{f_w} window / {count}"
            f" = {values.sum():.6g} / {count} = {mean:.6g}",
        )
    return answer


def _adaptive_pool(a_prev: np.ndarray, pool: AdaptiveAvgPool2D, where: tuple[int, ...]) -> dict:
    i, j, c = where
    (top, bottom) = adaptive_bins(a_prev.shape[0], pool.output_size[0])[i]
    (left, right) = adaptive_bins(a_prev.shape[1], pool.output_size[1])[j]
    values = a_prev[top:bottom, left:right, c].astype(np.float64)
    return {
        "kind": "average",
        "window": values,
        "rows": list(range(top, bottom)),
        "cols": list(range(left, right)),
        "equation": f"A[{i}, {j}, {c}] = mean of rows {top}:{bottom}, columns {left}:{right}"
        f" = {values.sum():.6g} / {values.size} = {values.mean():.6g}",
    }


def _source_channel(module: ChannelShuffle | ChannelSlice, n_C: int, c: int) -> int:
    """The input channel that output channel ``c`` of a shuffle or a slice holds."""
    if isinstance(module, ChannelSlice):
        return module.start + c
    g = module.groups
    return (c % g) * (n_C // g) + c // g  # c = j*g + k came from k*(n_C/g) + j


def _batch_norm(x_prev: np.ndarray, bn: BatchNorm2D, where: tuple[int, ...]) -> dict[str, Any]:
    c = where[-1]
    x = float(x_prev[where])
    mu, var = float(bn.running_mean[c]), float(bn.running_var[c])
    sigma = float(np.sqrt(var + bn.eps))
    gamma, beta = float(bn.gamma.data[c]), float(bn.beta.data[c])
    y = gamma * (x - mu) / sigma + beta
    return {
        "kind": "batch_norm",
        "x": x,
        "mu": mu,
        "sigma": sigma,
        "eps": float(bn.eps),
        "gamma": gamma,
        "beta": beta,
        "y": y,
        "equation": f"y = gamma (x - mu)/sigma + beta = {gamma:.6g} ({x:.6g} - {mu:.6g})"
        f"/{sigma:.6g} + {beta:.6g} = {y:.6g} (running mu and sigma: eval mode)",
    }


def _layer_norm(x_prev: np.ndarray, ln: LayerNorm, where: tuple[int, ...]) -> dict[str, Any]:
    c = where[-1]
    channels = x_prev[where[:-1]].astype(np.float64)  # the n_C values of this position
    x, mu = float(channels[c]), float(channels.mean())
    sigma = float(np.sqrt(channels.var() + ln.eps))
    gamma, beta = float(ln.gamma.data[c]), float(ln.beta.data[c])
    y = gamma * (x - mu) / sigma + beta
    return {
        "kind": "batch_norm",  # the same numbers, drawn the same way on the page
        "x": x,
        "mu": mu,
        "sigma": sigma,
        "eps": float(ln.eps),
        "gamma": gamma,
        "beta": beta,
        "y": y,
        "equation": f"y = gamma (x - mu)/sigma + beta = {gamma:.6g} ({x:.6g} - {mu:.6g})"
        f"/{sigma:.6g} + {beta:.6g} = {y:.6g} (mu and sigma of this position's"
        f" {channels.size} channels)",
    }


def _residual_add(
    trace: Trace, path: str, block: ResidualBlock, where: tuple[int, ...]
) -> dict[str, Any]:
    main = float(trace.outputs[f"{path}.main"].data[0][where])
    shortcut = _shortcut_value(trace, path, block, where)
    return {
        "kind": "residual_add",
        "main": main,
        "shortcut": shortcut,
        "z": main + shortcut,
        "equation": f"a[l+2] = relu(z[l+2] + shortcut(a[l])) = relu({main:.6g} + {shortcut:.6g})"
        f" = {max(main + shortcut, 0.0):.6g}",
    }


def _shortcut_value(trace: Trace, path: str, block: ResidualBlock, where: tuple[int, ...]) -> float:
    if block.projection is not None:
        return float(trace.outputs[f"{path}.projection"].data[0][where])
    a = trace.inputs[path].data[0]
    if block.identity:
        return float(a[where])
    i, j, c = where
    extra = block.n_C - block.n_C_prev
    source = c - extra // 2
    inside = 0 <= source < block.n_C_prev
    return float(a[i * block.stride, j * block.stride, source]) if inside else 0.0


def _concat(
    trace: Trace, path: str, block: InceptionModule, where: tuple[int, ...]
) -> dict[str, Any]:
    c = where[2]
    start = 0
    for index, branch in enumerate(block.branches):
        branch_path = next(p for p, m in trace.model.named_modules() if m is branch)
        produced = trace.outputs[branch_path].data[0]
        if c < start + produced.shape[2]:
            name = branch_path.rpartition(".")[2] or str(index)
            produced_by = trace.outputs[branch_path]
            last_row = next(  # the branch's last layer, whose output the branch gives
                (
                    p
                    for p, t in reversed(trace.outputs.items())
                    if t is produced_by and p != branch_path
                ),
                branch_path,
            )
            return {
                "kind": "concat",
                "branch": branch_path,
                "branch_row": last_row,
                "channel": c - start,
                "equation": f"channel {c} of the concatenation is channel {c - start} of"
                f" branch {name} (channels {start}..{start + produced.shape[2] - 1})",
            }
        start += produced.shape[2]
    raise InvalidArgumentError(f"channel {c} is beyond the concatenation of {path!r}")


def _softmax(trace: Trace, where: tuple[int, ...]) -> dict[str, Any]:
    z = trace.logits.astype(np.float64)
    shift = float(z.max())
    exps = np.exp(z - shift)
    total = float(exps.sum())
    p = exps / total
    k = where[0]
    return {
        "kind": "softmax",
        "layer": SOFTMAX,
        "position": [k],
        "logits": z,
        "shift": shift,
        "exps": exps,
        "sum": total,
        "probabilities": p,
        "value": float(p[k]),
        "equation": f"p[{k}] = exp(z[{k}] - {shift:.6g}) / sum_j exp(z_j - {shift:.6g})"
        f" = {exps[k]:.6g} / {total:.6g} = {p[k]:.6g}",
    }


__all__ = ["SOFTMAX", "explain_value", "explainable"]
