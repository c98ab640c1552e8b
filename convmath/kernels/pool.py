"""The max-pooling kernel: two 1-D passes with recorded winners, part by part on the workers."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_part
from convmath.ops import pool as ops
from convmath.ops.windows import crop_padding, spatial_padding
from convmath.shapes import Pair


class MaxPool2DKernel(ops.MaxPool2D):
    """Computes :class:`convmath.ops.pool.MaxPool2D` as two 1-D poolings, part by part.

    The max over a rectangle is the max over its rows of the max along each
    row (f_h + f_w - 2 np.maximum passes instead of f_h*f_w - 1, and no
    f_h*f_w times larger copy):

        M[i, r, w, c] = max over v of A_pad[i, r, w*s_w + v, c]    (every padded row r)
        Z[i, h, w, c] = max over u of M[i, h*s_h + u, w, c]

    When a gradient is needed, each pass records its winning tap (in the
    smallest unsigned type that counts a window side's taps: uint8 up to
    256); a later tap takes over only when strictly greater, so the winner is
    the first maximum in row-major order, as the op's: the first row holding
    the maximum, then its first column. Backward retraces both passes. A
    pass whose maxima hold a NaN takes its winners again as an argmax over
    the taps, where the first NaN wins, as in the op (and PyTorch).
    """

    def forward(self, a: np.ndarray, *, f: Pair, s: Pair, padding: Pair, n_out: Pair) -> np.ndarray:
        sides = ((padding[0], padding[0]), (padding[1], padding[1]))
        m, n_C = len(a), a.shape[3]
        n_H_pad = a.shape[1] + 2 * padding[0]
        z = np.empty((m, *n_out, n_C), dtype=a.dtype)
        winners = None
        if self.needs_grad[0]:
            winners = (
                np.empty((m, n_H_pad, n_out[1], n_C), dtype=_tap_type(f[1])),  # v, per padded row
                np.empty(z.shape, dtype=_tap_type(f[0])),  # u
            )

        def forward_part(part: slice) -> None:
            a_pad = spatial_padding(a[part], sides, value=-np.inf)
            v_won, u_won = (None, None) if winners is None else (w[part] for w in winners)
            rows = _max_along(a_pad, 2, f[1], s[1], n_out[1], v_won)
            _max_along(rows, 1, f[0], s[0], n_out[0], u_won, out=z[part])

        for_each_part(m, a[:1].nbytes * 3, forward_part)
        self.winners = winners
        self.geometry = (a.shape, f, s, sides)
        return z

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a_shape, f, s, sides = self.geometry
        (top, _), (left, _) = sides
        pad_hw = (a_shape[1] + 2 * top, a_shape[2] + 2 * left)
        da = np.empty(a_shape, dtype=grad.dtype)

        def backward_part(part: slice) -> None:
            d_rows = _route_along(grad[part], self.winners[1][part], 1, f[0], s[0], pad_hw[0])
            da_pad = _route_along(d_rows, self.winners[0][part], 2, f[1], s[1], pad_hw[1])
            da[part] = crop_padding(da_pad, sides, a_shape[1:3])

        for_each_part(len(grad), da[:1].nbytes * 3, backward_part)
        return da


def _tap_type(f: int) -> type:
    """The smallest unsigned type that numbers the f taps of a window side."""
    return np.uint8 if f <= 256 else np.uint16 if f <= 65536 else np.uint32


def _tap(axis: int, k: int, s: int, n_out: int) -> tuple[slice, ...]:
    """Index of tap k of every window along ``axis``: positions k, k + s, ..., k + s*(n_out-1)."""
    return (slice(None),) * axis + (slice(k, k + s * (n_out - 1) + 1, s),)


def _max_along(
    x: np.ndarray,
    axis: int,
    f: int,
    s: int,
    n_out: int,
    winner: np.ndarray | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """1-D max pooling of ``x`` along ``axis``, each window's first winning tap into ``winner``."""
    first = x[_tap(axis, 0, s, n_out)]
    if out is None:
        out = first.copy()
    else:
        np.copyto(out, first)
    if winner is not None:
        winner.fill(0)
    for k in range(1, f):
        window = x[_tap(axis, k, s, n_out)]
        if winner is not None:  # the last tap to take over wins, and k only grows: a running max
            taken = np.greater(window, out).view(np.uint8)
            np.maximum(winner, taken * winner.dtype.type(k), out=winner)
        np.maximum(out, window, out=out)
    # a NaN never compares greater, so its window's winner is taken again by argmax. One sum
    # flags it without a temporary: NaN in, NaN out (the -inf of the padded rows alone stays
    # -inf; -inf with an inf or an overflow makes NaN too and only costs the argmax, which
    # gives the same winners there)
    if winner is not None and _nan_sum(out):
        _argmax_winners(x, axis, f, s, n_out, winner)
    return out


def _argmax_winners(
    x: np.ndarray, axis: int, f: int, s: int, n_out: int, winner: np.ndarray
) -> None:
    """Each window's first maximum, a NaN counting as the largest (the slow path, for NaNs)."""
    taps = np.stack([x[_tap(axis, k, s, n_out)] for k in range(f)])
    np.copyto(winner, taps.argmax(axis=0), casting="unsafe")


def _nan_sum(values: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isnan(values.sum()))


def _route_along(
    grad: np.ndarray, winner: np.ndarray, axis: int, f: int, s: int, length: int
) -> np.ndarray:
    """The backward of :func:`_max_along`: ``grad`` goes to each window's winning tap."""
    shape = list(grad.shape)
    shape[axis] = length
    routed = np.zeros(shape, dtype=grad.dtype)
    for k in range(f):
        target = routed[_tap(axis, k, s, grad.shape[axis])]
        won = winner == k
        if s >= f:  # disjoint windows: each position is written once
            np.multiply(grad, won, out=target)
        else:
            target += grad * won
    return routed
