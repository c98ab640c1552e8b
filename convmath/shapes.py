"""Shape arithmetic of convolution and pooling, and the argument checks, in one place.

The output size of a convolution or pooling window along one spatial axis is

    n_out = floor((n_prev + p_before + p_after - d*(f - 1) - 1) / s) + 1

with ``n_prev`` the input size, ``f`` the filter size, ``p`` the zero padding
on each side, ``s`` the stride and ``d`` the dilation. With d = 1 and
symmetric padding it is the article's  n_H = floor((n_H_prev + 2p - f) / s) + 1.
Ops, layers, summaries and error messages all call :func:`conv_output_size`.
The checks of sizes and settings (:func:`positive_int`, :func:`pair`,
:func:`number_in`) quote what they received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError

PaddingSpec = int | str | Sequence[int] | Sequence[Sequence[int]]
SidePadding = tuple[int, int]
Pair = tuple[int, int]  # (height, width): a filter size, a stride, a dilation
Shape = tuple[int, ...]  # one example's shape: (n_H, n_W, n_C) or (n,)
ImageShape = tuple[int, int, int]  # (n_H, n_W, n_C)


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r}")
    return int(value)


def positive_int(value: object, name: str) -> int:
    """``value`` as an int >= 1 (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def number_in(
    value: object, name: str, low: float, high: float = math.inf, *, low_open: bool = False
) -> float:
    """``value`` as a finite float in [low, high] (or (low, high] if ``low_open``).

    NaN and the infinities are refused whatever the bounds: no setting of an
    op, a layer or an optimizer means anything at infinity.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{name} must be a finite number, got {value!r}")
    above = number > low if low_open else number >= low
    if not (above and number <= high):
        if math.isinf(high):
            wanted = f"{'>' if low_open else '>='} {low:g}"
        else:
            wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")
    return number


def pair(value: int | Sequence[int], name: str, *, minimum: int = 1) -> tuple[int, int]:
    """Return ``value`` as a (height, width) pair of ints, each >= ``minimum``.

    >>> pair(2, "stride")
    (2, 2)
    >>> pair((1, 3), "stride")
    (1, 3)
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise InvalidArgumentError(
                f"{name} must be an int or a pair (height, width), got {tuple(value)!r}"
            )
        result = (_as_int(value[0], name), _as_int(value[1], name))
    else:
        number = _as_int(value, name)
        result = (number, number)
    if min(result) < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def conv_output_size(
    n_prev: int,
    f: int,
    p: int | SidePadding = 0,
    s: int = 1,
    d: int = 1,
    *,
    axis: str = "n",
    op: str = "",
) -> int:
    """Output size of a window of size ``f`` sliding over ``n_prev`` positions.

    ``n_out = floor((n_prev + p_before + p_after - d*(f-1) - 1) / s) + 1``.
    ``p`` is the padding on each side, or a pair (before, after).

    >>> conv_output_size(6, 3)            # the article's 6x6 * 3x3 -> 4x4
    4
    >>> conv_output_size(28, 5, p=2)      # LeNet-5's first layer keeps 28
    28
    >>> conv_output_size(7, 3, p=1, s=2)
    4

    Raises :class:`ShapeError` when the (padded) input is smaller than the
    dilated filter, i.e. when the formula gives less than 1; ``op`` (e.g.
    "conv2d") and ``axis`` (e.g. "n_H") name the culprit in the message.
    """
    prefix = f"{op}: " if op else ""
    p_before, p_after = (p, p) if isinstance(p, int) else p
    if f < 1 or s < 1 or d < 1 or p_before < 0 or p_after < 0:
        raise InvalidArgumentError(
            f"{prefix}need f >= 1, s >= 1, d >= 1, p >= 0; got f={f}, p={p}, s={s}, d={d}"
        )
    padded = n_prev + p_before + p_after
    span = d * (f - 1) + 1
    n_out = (padded - span) // s + 1
    if n_out < 1:
        p_text = f"p={p_before}" if p_before == p_after else f"p=({p_before}, {p_after})"
        dilation = f", d={d} (the filter spans {span})" if d != 1 else ""
        raise ShapeError(
            f"{prefix}the window does not fit: {axis}_prev={n_prev}, f={f}, {p_text},"
            f" s={s}{dilation}"
            f" gives {axis} = floor(({n_prev} + {p_before + p_after} - {span}) / {s}) + 1"
            f" = {n_out} < 1; use a smaller f, more padding or a larger input"
        )
    return n_out


def size_formula(axis: str, n: int, f: int, sides: SidePadding, s: int, d: int, result: int) -> str:
    """The output-size formula, numbers filled in: ``n_H = floor((28 + 2*2 - 5)/1) + 1 = 28``."""
    before, after = sides
    padding = f"2*{before}" if before == after else f"{before}+{after}"
    if d == 1:
        return f"{axis} = floor(({n} + {padding} - {f})/{s}) + 1 = {result}"
    return f"{axis} = floor(({n} + {padding} - {d}*({f}-1) - 1)/{s}) + 1 = {result}"


def same_padding(n_prev: int, f: int, s: int = 1, d: int = 1) -> SidePadding:
    """Padding (before, after) that gives ``n_out = ceil(n_prev / s)``.

    At stride 1 this keeps the size: n_out = n_prev. The total padding is
    ``(n_out - 1)*s + d*(f-1) + 1 - n_prev``; when it is odd (an even filter at
    stride 1, for example) the extra row or column goes after (bottom/right),
    as in PyTorch and TensorFlow.
    """
    n_out = math.ceil(n_prev / s)
    total = max((n_out - 1) * s + d * (f - 1) + 1 - n_prev, 0)
    return (total // 2, total - total // 2)


def resolve_padding(
    padding: PaddingSpec,
    n_prev: tuple[int, int],
    f: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int] = (1, 1),
) -> tuple[SidePadding, SidePadding]:
    """Turn a padding spec into ((top, bottom), (left, right)).

    Accepted specs: an int ``p`` (all four sides), a pair ``(p_h, p_w)``, a pair
    of pairs ``((top, bottom), (left, right))``, ``"valid"`` (no padding) and
    ``"same"`` (see :func:`same_padding`).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            return (
                same_padding(n_prev[0], f[0], s[0], d[0]),
                same_padding(n_prev[1], f[1], s[1], d[1]),
            )
        raise InvalidArgumentError(
            f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
        )
    if isinstance(padding, Sequence):
        if len(padding) != 2:
            raise InvalidArgumentError(
                f"padding must be an int, a pair (p_h, p_w) or ((top, bottom), (left, right)),"
                f" got {padding!r}"
            )
        # An int item pads both sides of its axis; a pair item is (before, after).
        top_bottom, left_right = (pair(item, "padding", minimum=0) for item in padding)
        return (top_bottom, left_right)
    p = _as_int(padding, "padding")
    if p < 0:
        raise InvalidArgumentError(f"padding must be >= 0, got {padding!r}")
    return ((p, p), (p, p))


def tap_index(out: str, tap: str, s: int, d: int = 1) -> str:
    """The article's (1-based) input index that tap ``tap`` of output ``out`` reads.

    At stride 1 the article's ``x+i-1``; at stride s ``s(x-1)+i``; with a
    dilation d the taps are d apart: ``s(x-1)+d(i-1)+1``.

    >>> tap_index("x", "i", 1), tap_index("x", "i", 2), tap_index("y", "j", 1, 2)
    ('x+i-1', '2(x-1)+i', 'y+2(j-1)')
    """
    if d == 1:
        return f"{out}+{tap}-1" if s == 1 else f"{s}({out}-1)+{tap}"
    return f"{out}+{d}({tap}-1)" if s == 1 else f"{s}({out}-1)+{d}({tap}-1)+1"


def adaptive_bins(n: int, o: int, first: int | None = None) -> list[tuple[int, int]]:
    """The o windows [start, end) of adaptive pooling over n positions, as PyTorch cuts them:
    start_i = floor(i n / o), end_i = ceil((i + 1) n / o). They cover every position; they
    overlap when o does not divide n, and repeat positions when o > n. ``first``: only the
    first that many windows.

    >>> adaptive_bins(7, 3)
    [(0, 3), (2, 5), (4, 7)]
    >>> adaptive_bins(6, 3)
    [(0, 2), (2, 4), (4, 6)]
    """
    return [((i * n) // o, -((-(i + 1) * n) // o)) for i in range(min(o, first or o))]
