"""Depthwise convolutions tap by tap: no im2col matrix, no GEMM of one column per channel.

A depthwise convolution (g = n_C_prev: each channel convolved with its own
k = n_C / g filters of f_h x f_w, MobileNet's and ShuffleNet's middle layer,
where k = 1) is, for im2col, g products of a (rows, f_h*f_w) matrix by an
(f_h*f_w, k) one: a matrix built f_h*f_w times larger than the input, then
read once, with next to nothing for BLAS to reuse. Read tap by tap instead,
each of the f_h*f_w offsets (u, v) is a whole-volume multiply-add of channel
vectors; output channel c reads input channel c' = c // k:

    Z[i, h, w, c]   = sum_{u,v} A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w, c'] W[u, v, 0, c]
    dW[u, v, 0, c]  = sum_{i,h,w} A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w, c'] dZ[i, h, w, c]
    dA_pad[i, h*s_h + u*d_h, w*s_w + v*d_w, c'] += dZ[i, h, w, c] W[u, v, 0, c]

(the op's equations, :mod:`convmath.ops.conv`, with n_C_prev / g = 1). Here in
NumPy, one pass over the chunk per tap; the compiled tier
(:mod:`convmath.kernels.compiled.depthwise`) visits each output once, every tap
in registers. dW is summed in float64 per chunk (a tap's sum runs over the
whole chunk's positions), and the chunks' sums are added in batch order by the
caller, so a seed gives the same bits on any number of workers.
"""

from __future__ import annotations

import numpy as np

from convmath.ops.windows import crop_padding, offset_slice, spatial_padding
from convmath.shapes import Pair


def is_depthwise(w_shape: tuple[int, ...], groups: int) -> bool:
    """Whether W (f_h, f_w, n_C_prev/g, n_C) with ``groups`` is depthwise: one input channel
    per group."""
    return groups > 1 and w_shape[2] == 1


class DepthwiseTaps:
    """The geometry of one depthwise convolution; forward, dW and dA_prev of a chunk, tap by tap."""

    def __init__(
        self,
        a_shape: tuple[int, ...],
        w: np.ndarray,
        *,
        stride: Pair,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        n_out: Pair,
    ) -> None:
        self.a_shape, self.w = a_shape, np.ascontiguousarray(w)
        self.k = w.shape[3] // a_shape[3]  # filters per input channel
        self.stride, self.padding, self.dilation, self.n_out = stride, padding, dilation, n_out
        (top, bottom), (left, right) = padding
        pad_hw = (a_shape[1] + top + bottom, a_shape[2] + left + right)
        # the padded chunk and one product, per example
        self.bytes_per_example = (pad_hw[0] * pad_hw[1] + n_out[0] * n_out[1]) * w.shape[3]
        self.bytes_per_example *= w.itemsize

    def taps(self) -> list[tuple[int, int, tuple[slice, slice, slice]]]:
        """(u, v, the slice of A_pad that offset (u, v) reads for every output position)."""
        f_h, f_w = self.w.shape[:2]
        return [
            (u, v, offset_slice(u, v, self.stride, self.dilation, self.n_out))
            for u in range(f_h)
            for v in range(f_w)
        ]

    def padded(self, a: np.ndarray) -> np.ndarray:
        """A_pad, each channel repeated k times: channel c of the result is input channel c // k."""
        a_pad = spatial_padding(a, self.padding)
        return a_pad if self.k == 1 else np.repeat(a_pad, self.k, axis=3)

    def forward(self, a: np.ndarray, z: np.ndarray) -> None:
        """Z of the chunk ``a`` into ``z`` (no bias)."""
        a_pad = self.padded(a)
        product = np.empty_like(z)
        z[...] = 0
        for u, v, window in self.taps():
            np.multiply(a_pad[window], self.w[u, v, 0], out=product)
            z += product

    def filter_gradient(self, a: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """This chunk's dW, summed in float64: (f_h, f_w, 1, n_C)."""
        a_pad = self.padded(a)
        dw = np.zeros(self.w.shape, dtype=np.float64)
        product = np.empty_like(dz)
        for u, v, window in self.taps():
            np.multiply(a_pad[window], dz, out=product)
            dw[u, v, 0] = product.reshape(-1, product.shape[3]).sum(axis=0, dtype=np.float64)
        return dw

    def input_gradient(self, dz: np.ndarray, da: np.ndarray) -> None:
        """dA_prev of the chunk into ``da``: each tap's dZ W[u, v] added back where it read."""
        (top, bottom), (left, right) = self.padding
        m, n_H_prev, n_W_prev, n_C_prev = da.shape
        shape = (m, n_H_prev + top + bottom, n_W_prev + left + right, n_C_prev * self.k)
        da_pad = np.zeros(shape, dtype=da.dtype)
        for u, v, window in self.taps():
            da_pad[window] += dz * self.w[u, v, 0]
        if self.k > 1:  # input channel c' gathers its k filters' shares
            da_pad = da_pad.reshape(*shape[:3], n_C_prev, self.k).sum(axis=4)
        da[...] = crop_padding(da_pad, self.padding, (n_H_prev, n_W_prev))
