"""The im2col matrix of a chunk of examples, and col2im, its adjoint: how conv2d becomes a GEMM.

For a convolution with g groups, row r = (i, h, w) of group k's matrix holds
the window that output position (h, w) of example i sees, restricted to the
group's n_C_prev/g channels:

    cols[k, (i, h, w), (u, v, c')] = A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w, k*n_C_prev/g + c']

so that Z = cols W is one GEMM per group. col2im goes the other way: each
entry of a (g, rows, f_h*f_w*n_C_prev/g) matrix is added back at the input
position it was read from (overlapping windows add up), then the padding is
cropped; that turns dcols = dZ W^T into dA_prev.

A 1x1 convolution at stride 1 without padding needs no matrix: the input,
read as (rows, n_C_prev), is it. Otherwise, two memory layouts of the same matrix:

- rows: (g, rows, K'), one window per row, K' = f_h*f_w*n_C_prev/g;
- columns: the transpose (K, rows) stored row by row, for one group and fewer
  than rules.FEW_CHANNELS input channels. With one or two channels the rows layout
  copies a float or two at a time; this one copies whole image rows, and
  BLAS reads the transposed operand as it is.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convmath.kernels import rules
from convmath.ops.conv import im2col
from convmath.ops.windows import add_windows, offset_slice
from convmath.shapes import Pair

NO_PADDING = ((0, 0), (0, 0))


class Im2col:
    """The geometry of one convolution: builds and inverts the im2col matrix of a chunk.

    a_shape (m, n_H_prev, n_W_prev, n_C_prev), w_shape (f_h, f_w, n_C_prev/g, n_C).
    """

    def __init__(
        self,
        a_shape: tuple[int, ...],
        w_shape: tuple[int, ...],
        *,
        stride: Pair,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        groups: int,
        n_out: Pair,
        itemsize: int,
    ) -> None:
        self.a_shape, self.w_shape = a_shape, w_shape
        self.stride, self.padding, self.dilation, self.n_out = stride, padding, dilation, n_out
        self.groups = groups
        f_h, f_w, n_C_group, _ = w_shape
        (top, bottom), (left, right) = padding
        self.pad_hw = (a_shape[1] + top + bottom, a_shape[2] + left + right)
        self.depth = f_h * f_w * n_C_group  # K', the length of one window (per group)
        self.pointwise = (f_h, f_w) == (1, 1) and stride == (1, 1) and self.pad_hw == a_shape[1:3]
        self.transposed = rules.columns_layout(n_C_group, groups, self.pointwise)
        self.bytes_per_example = n_out[0] * n_out[1] * self.depth * groups * itemsize

    def matrix(self, a_chunk: np.ndarray) -> np.ndarray:
        """cols (g, rows, K') of a chunk (c, n_H_prev, n_W_prev, n_C_prev) of A_prev."""
        f_h, f_w, n_C_group, _ = self.w_shape
        c, g = len(a_chunk), self.groups
        rows = c * self.n_out[0] * self.n_out[1]
        if self.pointwise:  # a 1x1 window at stride 1 is the input itself: no copy
            return a_chunk.reshape(rows, g, n_C_group).transpose(1, 0, 2)
        a_pad = self._padded(a_chunk)
        if self.transposed:  # one strided copy: cols_t[u, v, c', i, h, w] = A_pad[i, h*s + u*d..]
            (s_h, s_w), (d_h, d_w) = self.stride, self.dilation
            st_i, st_h, st_w, st_c = a_pad.strides
            windows = as_strided(
                a_pad,
                shape=(f_h, f_w, n_C_group, c, *self.n_out),
                strides=(d_h * st_h, d_w * st_w, st_c, st_i, s_h * st_h, s_w * st_w),
                writeable=False,
            )
            cols_t = np.empty(windows.shape, dtype=a_chunk.dtype)
            np.copyto(cols_t, windows)
            return cols_t.reshape(self.depth, rows).T[None]
        # the rows layout: the equation's own im2col, on the chunk padded here
        return im2col(a_pad, self.w_shape, self.stride, NO_PADDING, self.dilation, g, self.n_out)

    def gradient(self, dz: np.ndarray, w_groups: np.ndarray) -> np.ndarray:
        """dA_prev of a chunk: col2im(dZ W^T), cropped.

        dz (g, rows, n_C/g) and w_groups (g, K', n_C/g) give (c, n_H_prev, n_W_prev, n_C_prev).
        """
        f_h, f_w, n_C_group, _ = self.w_shape
        g, rows = dz.shape[:2]
        c = rows // (self.n_out[0] * self.n_out[1])
        da_pad = np.zeros((c, *self.pad_hw, g, n_C_group), dtype=dz.dtype)
        s, d, n_out = self.stride, self.dilation, self.n_out
        if self.transposed:
            dcols_t = (w_groups[0] @ dz[0].T).reshape(f_h, f_w, n_C_group, c, *n_out)
            for u in range(f_h):
                for v in range(f_w):
                    da_pad[offset_slice(u, v, s, d, n_out)][..., 0, :] += dcols_t[u, v].transpose(
                        1, 2, 3, 0
                    )
        elif g == 1:
            # offset by offset: dZ W[u, v]^T is a small (rows, n_C_prev) product, added
            # into the window it came from while both are still in cache
            w = w_groups[0].reshape(f_h, f_w, n_C_group, -1)
            for u in range(f_h):
                for v in range(f_w):
                    window = da_pad[offset_slice(u, v, s, d, n_out)][..., 0, :]
                    window += (dz[0] @ w[u, v].T).reshape(window.shape)
        else:
            dcols = np.matmul(dz, w_groups.transpose(0, 2, 1))
            dcols = dcols.reshape(g, c, *n_out, f_h, f_w, n_C_group)
            add_windows(da_pad, np.moveaxis(dcols, 0, 5), s, d, n_out)
        (top, _), (left, _) = self.padding
        da_pad = da_pad.reshape(c, *self.pad_hw, g * n_C_group)
        return da_pad[:, top : top + self.a_shape[1], left : left + self.a_shape[2]]

    def _padded(self, a_chunk: np.ndarray) -> np.ndarray:
        (top, bottom), (left, right) = self.padding
        if top == bottom == left == right == 0:
            return a_chunk
        a_pad = np.zeros((len(a_chunk), *self.pad_hw, a_chunk.shape[3]), dtype=a_chunk.dtype)
        a_pad[:, top : top + self.a_shape[1], left : left + self.a_shape[2]] = a_chunk
        return a_pad
