"""The number behind a number: how one value of one layer's output was computed.

``explain_value(trace, row, position)`` takes a :class:`~convmath.inspect.trace.Trace`
and gives, with the real numbers, the computation of the value at
``position`` of row ``row``'s output, as the article writes it, with the
layer's number l (:mod:`convmath.inspect.notation`) and the article's
indices, which count from 1 (position [i, j, c], counted from 0 as NumPy
does, is the article's x = i+1, y = j+1, c+1):

- CONV: Z^[l]_(x,y,c) = sum_(i=1..f) sum_(j=1..f) sum_(k=1..n_C_prev)
  W^[l]_(i,j,k,c) A^[l-1]_(x+i-1, y+j-1, k) + b^[l]_c (A^[l-1] zero-padded;
  at stride s the window starts at s(x-1)+1): the window, the filter, their
  elementwise products, the sum, the bias, Z^[l] and the activation
  A^[l] = psi(Z^[l]) that follows;
- POOL: the f x f window of channel c and its max or mean, A^[l];
- FC: Z^[l]_j = sum_i A^[l-1]_i W^[l]_(i,j) + b^[l]_j, its largest contributions and the rest;
- batch norm (eval): Z~^[l] = gamma (Z^[l] - mu) / sigma + beta with sigma = sqrt(var + eps);
- the activations A^[l] = psi(Z^[l]); the output's softmax, p_k = exp(z_k) / sum_j exp(z_j).

Each answer holds ``value``, what the library's own forward computed there,
beside the numbers recomputed from the equation, so anyone can check that
the two agree; ``equation`` in plain text and ``tex`` typeset (TeX), both
with the numbers filled in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.inspect.activations import ACTIVATIONS
from convmath.inspect.explain import explain
from convmath.inspect.notation import Name
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
    name, received = _names(trace, row)
    at = _article_index(where)
    if isinstance(module, Conv2D):
        answer = _conv(trace, row, module, where, name, received)
    elif isinstance(module, Dense):
        answer = _dense(trace.input_of(row), module, where[0], name, received)
    elif isinstance(module, MaxPool2D | AvgPool2D):
        answer = _pool(trace.input_of(row), module, where, name, received)
    elif isinstance(module, GlobalAvgPool2D | SpatialMean):
        channel = trace.input_of(row)[:, :, where[-1]]
        mean = channel.astype(np.float64).mean()
        c1 = where[-1] + 1
        answer = {
            "kind": "average",
            "window": channel,
            "equation": f"{name.text}_({at}) = mean of {received.text}_(x,y,{c1}) over"
            f" {channel.size} positions = {mean:.6g}",
            "tex": f"{name.tex}_{{{at}}} = \\frac{{1}}{{{channel.size}}} \\sum_{{x,y}}"
            f" {received.tex}_{{x,y,{c1}}} = {_tex_number(mean)}",
        }
    elif isinstance(module, AdaptiveAvgPool2D):
        answer = _adaptive_pool(trace.input_of(row), module, where, name, received)
    elif isinstance(module, ChannelShuffle | ChannelSlice):
        source = (*where[:2], _source_channel(module, trace.input_of(row).shape[2], where[2]))
        answer = {
            "kind": "elementwise",
            "source": [int(n) for n in source],
            "equation": f"{name.text}_({at}) = {received.text}_({_article_index(source)})"
            f" ({module.details()})",
            "tex": f"{name.tex}_{{{at}}} = {received.tex}_{{{_article_index(source)}}}"
            f" = {_tex_number(value)}",
        }
    elif isinstance(module, BatchNorm2D):
        answer = _batch_norm(trace.input_of(row), module, where, name, received)
    elif isinstance(module, LayerNorm):
        answer = _layer_norm(trace.input_of(row), module, where, name, received)
    elif isinstance(module, ACTIVATIONS):
        z = float(trace.input_of(row)[where])
        function = type(module).__name__
        answer = {
            "kind": "activation",
            "function": function,
            "z": z,
            "a": value,
            "equation": f"{name.text}_({at}) = psi({received.text}_({at})) = {function}({z:.6g})"
            f" = {value:.6g}",
            "tex": f"{name.tex}_{{{at}}} = \\psi({received.tex}_{{{at}}}) ="
            f" \\mathrm{{{function}}}({_tex_number(z)}) = {_tex_number(value)}",
        }
    elif isinstance(module, Flatten):
        source = np.unravel_index(where[0], trace.input_of(row).shape)
        from_at = _article_index(tuple(int(n) for n in source))
        answer = {
            "kind": "elementwise",
            "source": [int(n) for n in source],
            "equation": f"{name.text}_({at}) = {received.text}_({from_at}) (channels-last order)",
            "tex": f"{name.tex}_{{{at}}} = {received.tex}_{{{from_at}}}",
        }
    elif isinstance(module, ResidualBlock):
        answer = _residual_add(trace, path, module, where, name, at)
    elif isinstance(module, InceptionModule):
        answer = _concat(trace, path, module, where, name, at)
    elif isinstance(module, SqueezeExcitation):
        a_prev = float(trace.inputs[path].data[0][where])
        gate = float(trace.outputs[f"{path}.squeeze"].data[0][0, 0, where[2]])
        answer = {
            "kind": "scale",
            "a_prev": a_prev,
            "s": gate,
            "equation": f"A{list(where)} = A_prev{list(where)} * s[{where[2]}]"
            f" = {a_prev:.6g} * {gate:.6g} = {a_prev * gate:.6g}",
            "tex": f"{name.tex}_{{{at}}} = A^{{\\mathrm{{prev}}}}_{{{at}}}\\, s_{{{where[2] + 1}}}"
            f" = {_tex_number(a_prev)} \\times {_tex_number(gate)} = {_tex_number(value)}",
        }
    elif isinstance(module, InvertedResidual):
        z = float(trace.outputs[f"{path}.main"].data[0][where])
        if module.residual:
            a = float(trace.inputs[path].data[0][where])
            equation = f"a_out = z + a = {z:.6g} + {a:.6g} = {z + a:.6g} (no activation)"
            tex = f"{name.tex}_{{{at}}} = z_{{{at}}} + a^{{\\mathrm{{in}}}}_{{{at}}} ="
            tex += f" {_tex_number(z)} + {_tex_number(a)} = {_tex_number(value)}"
        else:
            equation = f"a_out = z, the projection's output (no shortcut: s = {module.stride}"
            equation += f", {module.n_C_prev} -> {module.n_C} channels) = {z:.6g}"
            tex = f"{name.tex}_{{{at}}} = z_{{{at}}} = {_tex_number(value)}"
        answer = {"kind": "residual_add" if module.residual else "elementwise", "z": z}
        answer |= {"equation": equation, "tex": tex}
    else:
        raise InvalidArgumentError(
            f"layer {row!r} ({type(module).__name__}) has no explanation of its values"
        )
    answer.update(layer=row, position=list(where), value=value, name=name.text, article_index=at)
    return answer


def _names(trace: Trace, row: str) -> tuple[Name, Name]:
    """What row ``row``'s output is called, and what its input is (the row before it)."""
    x = trace.inputs[""]
    explanation = explain(trace.model, tuple(x.data.shape[1:]))
    listed = [(r.name, n) for r, n in zip(explanation.rows, explanation.names, strict=True) if n]
    path, _ = trace.module_of(row)
    for k, (name, found) in enumerate(listed):
        if name in (row, path):
            return found, listed[k - 1][1] if k else Name("A", 0)
    return Name("A", 0), Name("A", 0)


def _article_index(where: tuple[int, ...]) -> str:
    """A position counted from 0 as the article counts it, from 1: [2, 5, 3] -> '3,6,4'."""
    return ",".join(str(n + 1) for n in where)


def _tex_number(x: float) -> str:
    """A number for TeX: 6 significant digits, 1.2e-05 as 1.2 \\times 10^{-5}."""
    text = f"{x:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa} \\times 10^{{{int(exponent)}}}"
    return text


def _tex_text(text: str) -> str:
    """``text`` for TeX's \\text{}: its special characters escaped (a name may come from an
    imported file), and at most 40 characters."""
    special = {c: f"\\{c}" for c in "#$%&_{}"} | {
        "\\": "\\textbackslash{}",
        "^": "\\^{}",
        "~": "\\~{}",
    }
    return "".join(special.get(c, c) for c in text[:40] if c.isprintable())


def _start(s: int, d: int, out: int, tap: str) -> str:
    """The article's input index of tap ``tap`` for output ``out`` (from 0): s*out + d(tap-1)+1."""
    first = s * out
    if d == 1:
        return f"{first}+{tap}" if first else tap
    return f"{first + 1}+{d}({tap}-1)"


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


def _conv(
    trace: Trace, row: str, conv: Conv2D, where: tuple[int, ...], name: Name, received: Name
) -> dict[str, Any]:
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
    (f_h, f_w), (s_h, s_w), (d_h, d_w) = conv.f, conv.stride, conv.dilation
    x, y, n = i + 1, j + 1, c + 1
    row_at, col_at = _start(s_h, d_h, i, "i"), _start(s_w, d_w, j, "j")
    weights = name.tex.replace("Z", "W", 1)  # W^{[l]}, numbered as Z^{[l]} is
    bias_tex = f"{name.tex.replace('Z', 'b', 1)}_{{{n}}}"
    padding = " (zero-padded)" if top or left or any(padded.ravel()) else ""
    has_bias = conv.b is not None
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
        "equation": f"{name.text}_({x},{y},{n}) = sum_(i=1..{f_h}) sum_(j=1..{f_w})"
        f" sum_(k=1..{per_group}) W{name.text[1:]}_(i,j,k,{n})"
        f" {received.text}_({row_at}, {col_at}, k){padding}"
        + (f" + b{name.text[1:]}_{n} = {total:.6g} + {bias:.6g}" if has_bias else "")
        + f" = {total + bias:.6g}",
        "tex": f"{name.tex}_{{{x},{y},{n}}} = \\sum_{{i=1}}^{{{f_h}}} \\sum_{{j=1}}^{{{f_w}}}"
        f" \\sum_{{k=1}}^{{{per_group}}} {weights}_{{i,j,k,{n}}}\\,"
        f" {received.tex}_{{{row_at},\\,{col_at},\\,k}}"
        + (f" + {bias_tex} = {_tex_number(total)} + {_tex_number(bias)}" if has_bias else "")
        + f" = {_tex_number(total + bias)}",
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


def _dense(a: np.ndarray, dense: Dense, k: int, name: Name, received: Name) -> dict[str, Any]:
    w = dense.W.data[:, k]
    products = a.astype(np.float64) * w
    order = np.argsort(-np.abs(products), kind="stable")
    top = order[:TOP_CONTRIBUTIONS]
    rest = float(products[order[TOP_CONTRIBUTIONS:]].sum())
    bias = 0.0 if dense.b is None else float(dense.b.data[k])
    z = float(products.sum()) + bias
    j, n = k + 1, a.size
    weights, b = name.tex.replace("Z", "W", 1), name.tex.replace("Z", "b", 1)
    return {
        "kind": "dense",
        "contributions": [
            {"index": int(i), "a": float(a[i]), "w": float(w[i]), "product": float(products[i])}
            for i in top
        ],
        "rest": rest,
        "n_in": int(n),
        "bias": bias,
        "z": z,
        "equation": f"{name.text}_{j} = sum_(i=1..{n}) {received.text}_i W{name.text[1:]}_(i,{j})"
        f" + b{name.text[1:]}_{j} = {float(products.sum()):.6g} + {bias:.6g} = {z:.6g}",
        "tex": f"{name.tex}_{{{j}}} = \\sum_{{i=1}}^{{{n}}} {received.tex}_i\\, {weights}_{{i,{j}}}"
        f" + {b}_{{{j}}} = {_tex_number(float(products.sum()))} + {_tex_number(bias)}"
        f" = {_tex_number(z)}",
    }


def _pool(
    a_prev: np.ndarray,
    pool: MaxPool2D | AvgPool2D,
    where: tuple[int, ...],
    name: Name,
    received: Name,
) -> dict:
    i, j, c = where
    p_h, p_w = pool.padding
    window, rows, cols, padded, inside = _window(
        a_prev, i, j, pool.f, pool.stride, (1, 1), (p_h, p_w)
    )
    values = window[:, :, c].astype(np.float64)
    f_h, f_w = pool.f
    at = _article_index(where)
    row_at, col_at = _start(pool.stride[0], 1, i, "i"), _start(pool.stride[1], 1, j, "j")
    tapped = f"{received.text}_({row_at}, {col_at}, {c + 1})"
    tapped_tex = f"{received.tex}_{{{row_at},\\,{col_at},\\,{c + 1}}}"
    answer: dict[str, Any] = {"window": values, "rows": rows, "cols": cols, "padded": padded}
    if isinstance(pool, MaxPool2D):
        masked = np.where(inside, values, -np.inf)  # padding never wins
        u, v = np.unravel_index(int(np.argmax(masked)), masked.shape)
        answer.update(
            kind="max",
            argmax=[int(u), int(v)],
            equation=f"{name.text}_({at}) = max over i = 1..{f_h}, j = 1..{f_w} of {tapped}"
            f" = {masked[u, v]:.6g}",
            tex=f"{name.tex}_{{{at}}} = \\max_{{1 \\le i \\le {f_h},\\, 1 \\le j \\le {f_w}}}"
            f" {tapped_tex} = {_tex_number(float(masked[u, v]))}",
        )
    else:
        count = values.size if pool.count_include_pad else int(inside.sum())
        mean = float(values.sum() / count)
        answer.update(
            kind="average",
            equation=f"{name.text}_({at}) = (1/{count}) sum_(i=1..{f_h}) sum_(j=1..{f_w})"
            f" {tapped} = {values.sum():.6g} / {count} = {mean:.6g}",
            tex=f"{name.tex}_{{{at}}} = \\frac{{1}}{{{count}}} \\sum_{{i=1}}^{{{f_h}}}"
            f" \\sum_{{j=1}}^{{{f_w}}} {tapped_tex} = \\frac{{{_tex_number(values.sum())}}}"
            f"{{{count}}} = {_tex_number(mean)}",
        )
    return answer


def _adaptive_pool(
    a_prev: np.ndarray,
    pool: AdaptiveAvgPool2D,
    where: tuple[int, ...],
    name: Name,
    received: Name,
) -> dict:
    i, j, c = where
    (top, bottom) = adaptive_bins(a_prev.shape[0], pool.output_size[0])[i]
    (left, right) = adaptive_bins(a_prev.shape[1], pool.output_size[1])[j]
    values = a_prev[top:bottom, left:right, c].astype(np.float64)
    return {
        "kind": "average",
        "window": values,
        "rows": list(range(top, bottom)),
        "cols": list(range(left, right)),
        "equation": f"{name.text}_({_article_index(where)}) = mean of {received.text}_(x,y,{c + 1})"
        f" over rows x = {top + 1}..{bottom}, columns y = {left + 1}..{right}"
        f" = {values.sum():.6g} / {values.size} = {values.mean():.6g}",
        "tex": f"{name.tex}_{{{_article_index(where)}}} = \\frac{{1}}{{{values.size}}}"
        f" \\sum_{{x={top + 1}}}^{{{bottom}}} \\sum_{{y={left + 1}}}^{{{right}}}"
        f" {received.tex}_{{x,y,{c + 1}}} = \\frac{{{_tex_number(values.sum())}}}"
        f"{{{values.size}}} = {_tex_number(values.mean())}",
    }


def _source_channel(module: ChannelShuffle | ChannelSlice, n_C: int, c: int) -> int:
    """The input channel that output channel ``c`` of a shuffle or a slice holds."""
    if isinstance(module, ChannelSlice):
        return module.start + c
    g = module.groups
    return (c % g) * (n_C // g) + c // g  # c = j*g + k came from k*(n_C/g) + j


def _batch_norm(
    x_prev: np.ndarray, bn: BatchNorm2D, where: tuple[int, ...], name: Name, received: Name
) -> dict[str, Any]:
    c = where[-1]
    x = float(x_prev[where])
    mu, var = float(bn.running_mean[c]), float(bn.running_var[c])
    sigma = float(np.sqrt(var + bn.eps))
    gamma, beta = float(bn.gamma.data[c]), float(bn.beta.data[c])
    y = gamma * (x - mu) / sigma + beta
    at = _article_index(where)
    return {
        "kind": "batch_norm",
        "x": x,
        "mu": mu,
        "sigma": sigma,
        "eps": float(bn.eps),
        "gamma": gamma,
        "beta": beta,
        "y": y,
        "equation": f"{name.text}_({at}) = gamma ({received.text}_({at}) - mu)/sigma + beta"
        f" = {gamma:.6g} ({x:.6g} - {mu:.6g})/{sigma:.6g} + {beta:.6g} = {y:.6g}"
        " (running mu and sigma: eval mode)",
        "tex": _normalised_tex(name, received, at, (gamma, x, mu, sigma, beta, y)),
    }


def _normalised_tex(
    name: Name, received: Name, at: str, numbers: tuple[float, float, float, float, float, float]
) -> str:
    """Z~ = gamma (Z - mu) / sigma + beta in TeX, with this value's numbers."""
    gamma, x, mu, sigma, beta, y = map(_tex_number, numbers)
    return (
        f"{name.tex}_{{{at}}} = \\gamma \\frac{{{received.tex}_{{{at}}} - \\mu}}{{\\sigma}}"
        f" + \\beta = {gamma} \\cdot \\frac{{{x} - ({mu})}}{{{sigma}}} + ({beta}) = {y}"
    )


def _layer_norm(
    x_prev: np.ndarray, ln: LayerNorm, where: tuple[int, ...], name: Name, received: Name
) -> dict[str, Any]:
    c = where[-1]
    channels = x_prev[where[:-1]].astype(np.float64)  # the n_C values of this position
    x, mu = float(channels[c]), float(channels.mean())
    sigma = float(np.sqrt(channels.var() + ln.eps))
    gamma, beta = float(ln.gamma.data[c]), float(ln.beta.data[c])
    y = gamma * (x - mu) / sigma + beta
    at = _article_index(where)
    return {
        "kind": "layer_norm",
        "x": x,
        "mu": mu,
        "sigma": sigma,
        "eps": float(ln.eps),
        "gamma": gamma,
        "beta": beta,
        "y": y,
        "channels": channels.size,
        "equation": f"{name.text}_({at}) = gamma ({received.text}_({at}) - mu)/sigma + beta"
        f" = {gamma:.6g} ({x:.6g} - {mu:.6g})/{sigma:.6g} + {beta:.6g} = {y:.6g} (mu and"
        f" sigma of this position's {channels.size} channels)",
        "tex": _normalised_tex(name, received, at, (gamma, x, mu, sigma, beta, y)),
    }


def _residual_add(
    trace: Trace, path: str, block: ResidualBlock, where: tuple[int, ...], name: Name, at: str
) -> dict[str, Any]:
    value = float(trace.outputs[path].data[0][where])  # what the forward computed
    main = float(trace.outputs[f"{path}.main"].data[0][where])
    shortcut = _shortcut_value(trace, path, block, where)
    a_l = "a^{[l]}" if block.identity else "\\mathrm{shortcut}(a^{[l]})"
    return {
        "kind": "residual_add",
        "main": main,
        "shortcut": shortcut,
        "z": main + shortcut,
        "equation": f"a[l+2] = relu(z[l+2] + shortcut(a[l])) = relu({main:.6g} + {shortcut:.6g})"
        f" = {max(main + shortcut, 0.0):.6g}",
        # the article's a^[l+2] = g(z^[l+2] + a^[l]), numbered as the page numbers the block
        "tex": f"{name.tex}_{{{at}}} = \\mathrm{{ReLU}}\\big(z^{{[l+2]}} + {a_l}\\big)_{{{at}}}"
        f" = \\mathrm{{ReLU}}({_tex_number(main)} + {_tex_number(shortcut)})"
        f" = {_tex_number(value)}",
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
    trace: Trace, path: str, block: InceptionModule, where: tuple[int, ...], name: Name, at: str
) -> dict[str, Any]:
    c = where[2]
    start = 0
    for index, branch in enumerate(block.branches):
        branch_path = next(p for p, m in trace.model.named_modules() if m is branch)
        produced = trace.outputs[branch_path].data[0]
        if c < start + produced.shape[2]:
            label = branch_path.rpartition(".")[2] or str(index)
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
                f" branch {label} (channels {start}..{start + produced.shape[2] - 1})",
                "tex": f"{name.tex}_{{{at}}} = A^{{(\\text{{{_tex_text(label)}}})}}"
                f"_{{{_article_index((*where[:2], c - start))}}}"
                f" = {_tex_number(float(produced[(*where[:2], c - start)]))}",
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
        "equation": f"p_{k + 1} = exp(z_{k + 1} - {shift:.6g}) / sum_j exp(z_j - {shift:.6g})"
        f" = {exps[k]:.6g} / {total:.6g} = {p[k]:.6g}",
        "tex": f"p_{{{k + 1}}} = \\frac{{e^{{z_{{{k + 1}}} - {_tex_number(shift)}}}}}"
        f"{{\\sum_j e^{{z_j - {_tex_number(shift)}}}}} = \\frac{{{_tex_number(float(exps[k]))}}}"
        f"{{{_tex_number(total)}}} = {_tex_number(float(p[k]))}",
    }


__all__ = ["SOFTMAX", "explain_value", "explainable"]
