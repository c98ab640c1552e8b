"""Max pooling on compiled loops: each window's maximum and its winner in one pass, any geometry.

The NumPy kernel (:mod:`convmath.kernels.pool`) pools in two 1-D passes of
whole-array np.maximum calls, each with a winner array; here one loop per
part visits each window once, tap by tap in row-major order, and keeps its
first maximum and where it is (row * n_W_prev + column, int32: the vector
unit compares and selects 32-bit lanes side by side, and backward needs no
division). The padding is never built: a padded tap is -inf, which the
running maximum starts from, so a real value wins only when strictly greater
(as the op's argmax over the -inf-padded window: where every tap is -inf the
first one wins, padded or not; -1 stands for a padded winner). A part that
holds a NaN is taken again by a slower loop in which the first NaN wins, as
in the op. Backward routes each dZ to its winner;
a dZ that is not finite is spread as the op's mask spreads it (NaN * 0 is
NaN): dZ to the winner, dZ * 0 to the window's other positions.
"""

from __future__ import annotations

import numpy as np

from convmath.kernels import rules
from convmath.kernels.compiled.loops import compiled_loop
from convmath.kernels.parallel import for_each_part
from convmath.kernels.pool import MaxPool2DKernel
from convmath.shapes import Pair


@compiled_loop
def _max_pool(a, f_h, f_w, s_h, s_w, p_h, p_w, record, z, winners):
    """Z = each window's first maximum, its position (row * n_W_prev + column) into ``winners``.

    The fast loop: a strict comparison of numbers, which the compiler turns into vector
    selects. A NaN never compares greater, so it returns whether it met one (the caller then
    takes the part again with :func:`_max_pool_nan`).
    """
    m, n_H_prev, n_W_prev, n_C = a.shape
    n_H, n_W = z.shape[1], z.shape[2]
    seen_nan = False
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                top, left = h * s_h - p_h, w * s_w - p_w
                zr = z[i, h, w]
                first = top * n_W_prev + left if top >= 0 and left >= 0 else -1  # -1: padding
                for c in range(n_C):
                    zr[c] = -np.inf
                if record:
                    wr = winners[i, h, w]
                    for c in range(n_C):
                        wr[c] = first
                for u in range(f_h):
                    row = top + u
                    if row < 0 or row >= n_H_prev:
                        continue
                    for v in range(f_w):
                        column = left + v
                        if column < 0 or column >= n_W_prev:
                            continue
                        ar = a[i, row, column]
                        if record:
                            position = row * n_W_prev + column
                            for c in range(n_C):
                                x, best = ar[c], zr[c]
                                take = x > best
                                seen_nan |= x != x
                                zr[c] = x if take else best
                                wr[c] = position if take else wr[c]
                        else:
                            for c in range(n_C):
                                x, best = ar[c], zr[c]
                                seen_nan |= x != x
                                zr[c] = x if x > best else best
    return seen_nan


@compiled_loop
def _max_pool_nan(a, f_h, f_w, s_h, s_w, p_h, p_w, record, z, winners):
    """:func:`_max_pool` where a NaN may be: a NaN takes a window over from a number, never
    from an earlier NaN (the first NaN wins, as in the op's argmax)."""
    m, n_H_prev, n_W_prev, n_C = a.shape
    n_H, n_W = z.shape[1], z.shape[2]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                top, left = h * s_h - p_h, w * s_w - p_w
                first = top * n_W_prev + left if top >= 0 and left >= 0 else -1
                for c in range(n_C):
                    best, won = -np.inf, first
                    for u in range(f_h):
                        row = top + u
                        for v in range(f_w):
                            column = left + v
                            if 0 <= row < n_H_prev and 0 <= column < n_W_prev:
                                x = a[i, row, column, c]
                                if x > best or (x != x and best == best):
                                    best, won = x, row * n_W_prev + column
                    z[i, h, w, c] = best
                    if record:
                        winners[i, h, w, c] = won


@compiled_loop
def _route(grad, winners, f_h, f_w, s_h, s_w, p_h, p_w, da):
    """dA_prev (zeroed) += each dZ at its window's winner (a non-finite dZ: see the module)."""
    m, n_H, n_W, n_C = grad.shape
    n_H_prev, n_W_prev = da.shape[1], da.shape[2]
    for i in range(m):
        flat = da[i].reshape(n_H_prev * n_W_prev, n_C)
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    g = grad[i, h, w, c]
                    won = winners[i, h, w, c]
                    if g - g == 0:  # finite: the winner alone receives it (-1: a padded tap)
                        if won >= 0:
                            flat[won, c] += g
                        continue
                    for u in range(f_h):  # NaN or inf: dZ * [tap wins], over the whole window
                        row = h * s_h - p_h + u
                        for v in range(f_w):
                            column = w * s_w - p_w + v
                            if 0 <= row < n_H_prev and 0 <= column < n_W_prev:
                                position = row * n_W_prev + column
                                flat[position, c] += g if position == won else g * 0


class CompiledMaxPool2D(MaxPool2DKernel):
    """Computes :class:`convmath.ops.pool.MaxPool2D` in one compiled pass per part.

    With fewer than rules.COMPILED_POOL_MIN_CHANNELS channels, the NumPy kernel's passes.
    """

    numpy_passes = False  # this call ran the NumPy kernel's (few channels)

    def forward(self, a: np.ndarray, *, f: Pair, s: Pair, padding: Pair, n_out: Pair) -> np.ndarray:
        if a.shape[3] < rules.COMPILED_POOL_MIN_CHANNELS:
            self.numpy_passes = True
            return super().forward(a, f=f, s=s, padding=padding, n_out=n_out)
        a = np.ascontiguousarray(a)
        z = np.empty((len(a), *n_out, a.shape[3]), dtype=a.dtype)
        record = self.needs_grad[0]
        winners = np.empty(z.shape if record else (1, 1, 1, 1), dtype=np.int32)
        geometry = (*f, *s, *padding)

        def forward_part(part: slice) -> None:
            won = winners[part] if record else winners
            if _max_pool(a[part], *geometry, record, z[part], won):
                _max_pool_nan(a[part], *geometry, record, z[part], won)

        for_each_part(len(a), a[:1].nbytes + 2 * z[:1].nbytes, forward_part)
        self.winners = winners if record else None
        self.geometry = (a.shape, geometry)
        return z

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.numpy_passes:
            return super().backward(grad)
        a_shape, geometry = self.geometry
        grad = np.ascontiguousarray(grad)
        da = np.zeros(a_shape, dtype=grad.dtype)

        def backward_part(part: slice) -> None:
            _route(grad[part], self.winners[part], *geometry, da[part])

        for_each_part(len(grad), da[:1].nbytes + 2 * grad[:1].nbytes, backward_part)
        return da
