"""Pooling: max, average and global average, per channel, with no parameters.

A pooling window of f x f slides with stride s over each channel separately,
so n_C is unchanged and
n_H = floor((n_H_prev + 2p - f) / s) + 1  (the same formula as convolution).
All loops below run over the f*f kernel offsets, never over pixels.
"""

from __future__ import annotations

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.windows import crop_padding, offset_slice, spatial_padding
from convmath.parallel import for_each_part
from convmath.shapes import Pair, conv_output_size, pair
from convmath.tensor import Function, Tensor, equations_from

_NO_DILATION = (1, 1)


def _offsets(f: Pair) -> list[tuple[int, int]]:
    return [(i, j) for i in range(f[0]) for j in range(f[1])]


class MaxPool2D(Function):
    """Z[i, h, w, c] = max over the window (u, v) of A_pad[i, h*s_h + u, w*s_w + v, c].

    Shapes: A (m, n_H_prev, n_W_prev, n_C) -> Z (m, n_H, n_W, n_C).
    Padding uses -inf, so a padded position never wins.

    The max over a rectangle is the max over its rows of the max along each
    row, so it runs as two 1-D poolings, part by part over the batch on the
    workers (f_h + f_w - 2 np.maximum passes instead of f_h*f_w - 1):

        M[i, r, w, c] = max over v of A_pad[i, r, w*s_w + v, c]    (every padded row r)
        Z[i, h, w, c] = max over u of M[i, h*s_h + u, w, c]

    A NaN propagates, as in PyTorch (though its gradient goes to the window's
    largest number, where PyTorch sends it to the NaN). When a gradient is needed, each pass
    records its winning tap (in the smallest unsigned type that counts the
    window's taps: uint8 up to 256); a later tap takes over only when strictly
    greater, so the winner is the first maximum in row-major order, as
    PyTorch picks: the first row holding the maximum, then its first column.

    Backward retraces both passes: dM[window rows] += dZ at each winning u,
    then dA_pad[window columns] += dM at each winning v (overlapping windows
    add up), and the padding is cropped.
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
    return out


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


class AvgPool2D(Function):
    """Z[i, h, w, c] = (1/N) * sum over the window (u, v) of A_pad[i, h*s_h + u, w*s_w + v, c].

    Shapes: A (m, n_H_prev, n_W_prev, n_C) -> Z (m, n_H, n_W, n_C).
    N = f_h*f_w when padded zeros count (``count_include_pad=True``, PyTorch's
    default), else the number of real (unpadded) positions in each window.

    Backward: every position of a window receives dZ / N; overlaps add up.
    """

    def forward(
        self,
        a: np.ndarray,
        *,
        f: Pair,
        s: Pair,
        padding: Pair,
        n_out: Pair,
        count_include_pad: bool,
    ) -> np.ndarray:
        sides = ((padding[0], padding[0]), (padding[1], padding[1]))
        a_pad = spatial_padding(a, sides)
        offsets = _offsets(f)
        total = a_pad[offset_slice(0, 0, s, _NO_DILATION, n_out)].copy()
        for i, j in offsets[1:]:
            total += a_pad[offset_slice(i, j, s, _NO_DILATION, n_out)]
        if count_include_pad or padding == (0, 0):
            divisor = np.asarray(len(offsets), dtype=a.dtype)
        else:
            real = spatial_padding(np.ones((1, *a.shape[1:3], 1), dtype=a.dtype), sides)
            divisor = sum(real[offset_slice(i, j, s, _NO_DILATION, n_out)] for i, j in offsets)
        self.divisor = divisor
        self.geometry = (a.shape, a_pad.shape, f, s, sides, n_out)
        return total / divisor

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a_shape, pad_shape, f, s, sides, n_out = self.geometry
        share = grad / self.divisor
        da_pad = np.zeros(pad_shape, dtype=grad.dtype)
        for i, j in _offsets(f):
            da_pad[offset_slice(i, j, s, _NO_DILATION, n_out)] += share
        return crop_padding(da_pad, sides, a_shape[1:3])


class GlobalAvgPool2D(Function):
    """Z[i, c] = (1 / (n_H n_W)) * sum over h, w of A[i, h, w, c].

    Shapes: A (m, n_H, n_W, n_C) -> Z (m, n_C), ready for a dense layer.
    Backward: dA[i, h, w, c] = dZ[i, c] / (n_H n_W).
    """

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return a.mean(axis=(1, 2))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        count = self.shape[1] * self.shape[2]
        return np.broadcast_to((grad / count)[:, None, None, :], self.shape)


def _pool_geometry(
    a: Tensor, f: int | Pair, stride: int | Pair | None, padding: int | Pair, name: str
) -> tuple[Pair, Pair, Pair, Pair]:
    if a.ndim != 4:
        raise ShapeError(
            f"{name} expects A of shape (m, n_H_prev, n_W_prev, n_C), got {a.shape} ({a.ndim} axes)"
        )
    f_pair = pair(f, f"{name} f")
    s_pair = f_pair if stride is None else pair(stride, f"{name} stride")
    p_pair = pair(padding, f"{name} padding", minimum=0)
    if p_pair[0] > f_pair[0] // 2 or p_pair[1] > f_pair[1] // 2:
        raise InvalidArgumentError(
            f"{name}: padding {p_pair} must be at most half the window f={f_pair}, otherwise"
            f" some windows would hold only padding"
        )
    n_out = (
        conv_output_size(a.shape[1], f_pair[0], p_pair[0], s_pair[0], axis="n_H", op=name),
        conv_output_size(a.shape[2], f_pair[1], p_pair[1], s_pair[1], axis="n_W", op=name),
    )
    return f_pair, s_pair, p_pair, n_out


@equations_from(MaxPool2D)
def max_pool2d(
    a: Tensor, f: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> Tensor:
    """Max pooling with an f x f window, stride s (default f) and -inf padding p <= f/2.

    Example: f = 2, s = 2 halves n_H and n_W.
    """
    f_pair, s_pair, p_pair, n_out = _pool_geometry(a, f, stride, padding, "max_pool2d")
    return MaxPool2D.apply(a, f=f_pair, s=s_pair, padding=p_pair, n_out=n_out)


@equations_from(AvgPool2D)
def avg_pool2d(
    a: Tensor,
    f: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    *,
    count_include_pad: bool = True,
) -> Tensor:
    """Average pooling with an f x f window, stride s (default f) and zero padding p <= f/2.

    Padded zeros count in the average by default (``count_include_pad=True``,
    as in PyTorch).
    """
    f_pair, s_pair, p_pair, n_out = _pool_geometry(a, f, stride, padding, "avg_pool2d")
    return AvgPool2D.apply(
        a,
        f=f_pair,
        s=s_pair,
        padding=p_pair,
        n_out=n_out,
        count_include_pad=bool(count_include_pad),
    )


@equations_from(GlobalAvgPool2D)
def global_avg_pool2d(a: Tensor) -> Tensor:
    """Average each channel over the whole n_H x n_W map: (m, n_H, n_W, n_C) -> (m, n_C)."""
    if a.ndim != 4:
        raise ShapeError(f"global_avg_pool2d expects A of shape (m, n_H, n_W, n_C), got {a.shape}")
    return GlobalAvgPool2D.apply(a)
