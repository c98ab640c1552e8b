"""Depthwise convolutions on compiled loops: each output visited once, its taps in registers.

The NumPy twin (:mod:`convmath.kernels.depthwise`) walks the chunk once per
tap; here one loop visits each output position and adds its f_h*f_w taps,
the channel loop on the vector unit (where k = 1; with k filters per channel
input channel c // k is gathered). The padding is never built: a tap in it
adds 0 * W[u, v] (forward) or 0 * dZ (dW), so that a NaN or an infinity in W
or dZ reaches the outputs it reaches in the op's equation (0 * inf is NaN).
dW is summed in float64, per chunk, as there; dA_prev is built by adding
each dZ W[u, v] where its tap read (the padding's share is cropped anyway).
"""

from __future__ import annotations

import numpy as np

from convmath.kernels.compiled.loops import compiled_loop
from convmath.kernels.depthwise import DepthwiseTaps


@compiled_loop
def _forward(a, w, s_h, s_w, p_h, p_w, d_h, d_w, z):
    m, n_H_prev, n_W_prev, n_C_prev = a.shape
    f_h, f_w, n_C = w.shape[0], w.shape[1], w.shape[3]
    k = n_C // n_C_prev
    n_H, n_W = z.shape[1], z.shape[2]
    for i in range(m):
        for h in range(n_H):
            for x in range(n_W):
                zr = z[i, h, x]
                for c in range(n_C):
                    zr[c] = 0.0
                for u in range(f_h):
                    row = h * s_h - p_h + u * d_h
                    for v in range(f_w):
                        column = x * s_w - p_w + v * d_w
                        wr = w[u, v, 0]
                        if row < 0 or row >= n_H_prev or column < 0 or column >= n_W_prev:
                            for c in range(n_C):  # a padded tap: 0 * W, as in the equation
                                zr[c] += 0.0 * wr[c]
                            continue
                        ar = a[i, row, column]
                        if k == 1:  # the usual case, on the vector unit
                            for c in range(n_C):
                                zr[c] += ar[c] * wr[c]
                        else:
                            for c in range(n_C):
                                zr[c] += ar[c // k] * wr[c]


@compiled_loop
def _filter_gradient(a, dz, s_h, s_w, p_h, p_w, d_h, d_w, dw):
    m, n_H_prev, n_W_prev, n_C_prev = a.shape
    f_h, f_w, n_C = dw.shape[0], dw.shape[1], dw.shape[3]
    k = n_C // n_C_prev
    n_H, n_W = dz.shape[1], dz.shape[2]
    for i in range(m):
        for h in range(n_H):
            for x in range(n_W):
                dzr = dz[i, h, x]
                for u in range(f_h):
                    row = h * s_h - p_h + u * d_h
                    for v in range(f_w):
                        column = x * s_w - p_w + v * d_w
                        dwr = dw[u, v, 0]
                        if row < 0 or row >= n_H_prev or column < 0 or column >= n_W_prev:
                            for c in range(n_C):  # a padded tap: 0 * dZ, as in the equation
                                dwr[c] += 0.0 * dzr[c]
                            continue
                        ar = a[i, row, column]
                        if k == 1:
                            for c in range(n_C):
                                dwr[c] += ar[c] * dzr[c]
                        else:
                            for c in range(n_C):
                                dwr[c] += ar[c // k] * dzr[c]


@compiled_loop
def _input_gradient(dz, w, s_h, s_w, p_h, p_w, d_h, d_w, da):
    m, n_H_prev, n_W_prev, n_C_prev = da.shape
    f_h, f_w, n_C = w.shape[0], w.shape[1], w.shape[3]
    k = n_C // n_C_prev
    n_H, n_W = dz.shape[1], dz.shape[2]
    for i in range(m):
        for row in range(n_H_prev):
            for column in range(n_W_prev):
                dar = da[i, row, column]
                for c in range(n_C_prev):
                    dar[c] = 0.0
    for i in range(m):
        for h in range(n_H):
            for x in range(n_W):
                dzr = dz[i, h, x]
                for u in range(f_h):
                    row = h * s_h - p_h + u * d_h
                    if row < 0 or row >= n_H_prev:
                        continue
                    for v in range(f_w):
                        column = x * s_w - p_w + v * d_w
                        if column < 0 or column >= n_W_prev:
                            continue
                        dar, wr = da[i, row, column], w[u, v, 0]
                        if k == 1:
                            for c in range(n_C):
                                dar[c] += dzr[c] * wr[c]
                        else:
                            for c in range(n_C):
                                dar[c // k] += dzr[c] * wr[c]


class CompiledDepthwiseTaps(DepthwiseTaps):
    """:class:`DepthwiseTaps` on compiled loops (the padding is never built)."""

    def geometry(self) -> tuple[int, ...]:
        (s_h, s_w), (d_h, d_w) = self.stride, self.dilation
        (top, _), (left, _) = self.padding
        return s_h, s_w, top, left, d_h, d_w

    def forward(self, a: np.ndarray, z: np.ndarray) -> None:
        _forward(np.ascontiguousarray(a), self.w, *self.geometry(), z)

    def filter_gradient(self, a: np.ndarray, dz: np.ndarray) -> np.ndarray:
        dw = np.zeros(self.w.shape, dtype=np.float64)
        _filter_gradient(np.ascontiguousarray(a), np.ascontiguousarray(dz), *self.geometry(), dw)
        return dw

    def input_gradient(self, dz: np.ndarray, da: np.ndarray) -> None:
        _input_gradient(np.ascontiguousarray(dz), self.w, *self.geometry(), da)
