"""The convolution product over volumes, with padding, stride, dilation and groups."""

from __future__ import annotations

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.reduce import column_sums
from convmath.ops.windows import (
    add_windows,
    crop_padding,
    offset_slice,
    spatial_padding,
    window_view,
)
from convmath.shapes import PaddingSpec, conv_output_size, pair, resolve_padding
from convmath.tensor import Function, Tensor, equations_from, same_dtype

Pair = tuple[int, int]


class Conv2D(Function):
    r"""Z = conv(A_prev, W) + b, channels-last (a CNN's "convolution" is a cross-correlation).

    Notation
    --------
    A_prev (m, n_H_prev, n_W_prev, n_C_prev)   input volume
    W      (f_h, f_w, n_C_prev / g, n_C)        filters, g = groups
    b      (n_C,)                               biases
    Z      (m, n_H, n_W, n_C)                   output volume
    n_H = floor((n_H_prev + p_top + p_bottom - d_h*(f_h-1) - 1) / s_h) + 1, same for n_W.

    Forward
    -------
    With A_pad the zero-padded input and channel c of group k = c // (n_C/g),

        Z[i, h, w, c] = b[c] + sum_{u, v, c'} A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w,
                                                  k*n_C_prev/g + c'] * W[u, v, c', c]

    computed as im2col: the windows of A_pad are copied once into a matrix
    ``cols`` of shape (g, m*n_H*n_W, f_h*f_w*n_C_prev/g) and multiplied by W
    reshaped to (g, f_h*f_w*n_C_prev/g, n_C/g): one GEMM per group. Because
    the layout is channels-last, the product lands directly in Z's layout.

    Backward
    --------
    With dZ reshaped to (g, m*n_H*n_W, n_C/g):

        db      = sum over i, h, w of dZ
        dW      = cols^T  dZ                        (one GEMM per group)
        dA_prev = col2im(dZ W^T): each window's share is added back at the
                  positions it was read from, then the padding is cropped. With
                  one group this runs offset by offset, dA_pad[window(u, v)] +=
                  dZ W[u, v]^T (f_h*f_w GEMMs that write contiguous blocks);
                  with groups, as one GEMM per group and strided adds.
    """

    def forward(
        self,
        a_prev: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        *,
        stride: Pair,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        groups: int,
        n_out: Pair,
    ) -> np.ndarray:
        m = a_prev.shape[0]
        f_h, f_w, n_C_group, n_C = w.shape
        g = groups
        a_pad = spatial_padding(a_prev, padding)
        rows = m * n_out[0] * n_out[1]
        if g == 1 and n_C_group < FEW_CHANNELS:
            cols = _im2col_transposed(a_pad, (f_h, f_w), stride, dilation, n_out)
        else:
            a_pad = a_pad.reshape(*a_pad.shape[:3], g, n_C_group)
            windows = window_view(a_pad, (f_h, f_w), stride, dilation, n_out)
            # (m, n_H, n_W, f_h, f_w, g, c') -> (g, m*n_H*n_W, f_h*f_w*c'): one copy
            cols = np.ascontiguousarray(np.moveaxis(windows, 5, 0))
            cols = cols.reshape(g, rows, f_h * f_w * n_C_group)
        a_pad = a_pad.reshape(*a_pad.shape[:3], g, n_C_group)
        w_groups = w.reshape(f_h * f_w * n_C_group, g, n_C // g).transpose(1, 0, 2)
        if g == 1:
            z = cols[0] @ w_groups[0]
        else:
            z = np.matmul(cols, w_groups).transpose(1, 0, 2).reshape(rows, n_C)
        z = z.reshape(m, n_out[0], n_out[1], n_C)
        if b is not None:
            z += b
        if self.needs_grad[1]:
            self.cols = cols
        if self.needs_grad[0]:
            self.w_groups = w_groups
        self.geometry = (a_prev.shape, w.shape, a_pad.shape, stride, padding, dilation, n_out)
        return z

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a_shape, w_shape, pad_shape, stride, padding, dilation, n_out = self.geometry
        m, n_H_prev, n_W_prev, _ = a_shape
        f_h, f_w, n_C_group, n_C = w_shape
        g = pad_shape[3]
        rows = m * n_out[0] * n_out[1]
        dz = grad.reshape(rows, g, n_C // g).transpose(1, 0, 2)
        da_prev = dw = db = None
        if self.needs_grad[0]:
            da_pad = np.zeros(pad_shape, dtype=grad.dtype)
            if g == 1:
                # col2im one kernel offset at a time: dZ W[u, v]^T is a contiguous
                # (m*n_H*n_W, n_C_prev) product added into the strided window it came from.
                dz_rows = grad.reshape(rows, n_C)
                w = self.w_groups[0].reshape(f_h, f_w, n_C_group, n_C)
                target = da_pad[..., 0, :]
                for u in range(f_h):
                    for v in range(f_w):
                        window = target[offset_slice(u, v, stride, dilation, n_out)]
                        window += (dz_rows @ w[u, v].T).reshape(window.shape)
            else:
                dcols = np.matmul(dz, self.w_groups.transpose(0, 2, 1))
                dcols = dcols.reshape(g, m, n_out[0], n_out[1], f_h, f_w, n_C_group)
                add_windows(da_pad, np.moveaxis(dcols, 0, 5), stride, dilation, n_out)
            da_pad = da_pad.reshape(*pad_shape[:3], g * n_C_group)
            da_prev = crop_padding(da_pad, padding, (n_H_prev, n_W_prev))
        if self.needs_grad[1]:
            dw_groups = np.matmul(self.cols.transpose(0, 2, 1), dz)
            dw = dw_groups.transpose(1, 0, 2).reshape(w_shape)
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            db = column_sums(grad.reshape(-1, n_C))
        return (da_prev, dw) if len(self.needs_grad) == 2 else (da_prev, dw, db)


FEW_CHANNELS = 4  # below this many input channels im2col is built transposed


def _im2col_transposed(
    a_pad: np.ndarray, f: Pair, stride: Pair, dilation: Pair, n_out: Pair
) -> np.ndarray:
    """im2col as the transpose of a (f_h*f_w*n_C_prev, m*n_H*n_W) matrix, shape (1, M, K).

    With very few channels the usual copy moves one or two floats at a time;
    filling the transposed matrix row by row copies whole image rows instead
    (one slice per kernel offset and channel), and BLAS reads the transposed
    operand as it is.
    """
    m = a_pad.shape[0]
    n_C = a_pad.shape[3]
    cols_t = np.empty((f[0], f[1], n_C, m, n_out[0], n_out[1]), dtype=a_pad.dtype)
    for u in range(f[0]):
        for v in range(f[1]):
            window = a_pad[offset_slice(u, v, stride, dilation, n_out)]
            cols_t[u, v] = np.moveaxis(window, 3, 0)
    return cols_t.reshape(f[0] * f[1] * n_C, -1).T[None]


class ShiftedConv2D(Function):
    r"""The same Z = conv(A_prev, W) + b at stride 1 and one group, computed without im2col.

    In the zero-padded input flattened to rows, A_flat (m*n_H_pad*n_W_pad, n_C_prev),
    the element that output position q sees through kernel offset (u, v) is
    row q + u*d*n_W_pad + v*d. So on the padded grid

        Z_full = sum over (u, v) of A_flat[shifted by u*d*n_W_pad + v*d] W[u, v]

    is f*f GEMMs on contiguous slices, with no window copies; Z is the
    (n_H, n_W) corner of each image's grid (the other rows are discarded).
    Backward, with dZ placed back on the grid (zeros elsewhere):

        db       = sum of dZ
        dW[u, v] = A_flat[shifted]^T dZ_full                (f*f GEMMs)
        dA_flat[shifted] += dZ_full W[u, v]^T               (f*f GEMMs)

    then the padding is cropped. Only the padded input is kept for backward,
    not the f*f times larger im2col matrix. conv2d uses it when it pays:
    stride 1, one group and n_C <= n_C_prev (the accumulations then cost less
    than im2col's copy).
    """

    def forward(
        self,
        a_prev: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        *,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        n_out: Pair,
    ) -> np.ndarray:
        a_pad = np.ascontiguousarray(spatial_padding(a_prev, padding))
        m, n_H_pad, n_W_pad, _ = a_pad.shape
        rows = a_pad.reshape(m * n_H_pad * n_W_pad, -1)
        offsets = self._offsets(w.shape, dilation, n_W_pad)
        z_full = rows @ w[0, 0]
        for (u, v), shift in offsets[1:]:
            z_full[: len(rows) - shift] += rows[shift:] @ w[u, v]
        z = z_full.reshape(m, n_H_pad, n_W_pad, -1)[:, : n_out[0], : n_out[1]].copy()
        if b is not None:
            z += b
        self.rows = rows if self.needs_grad[1] else None
        self.w = w if self.needs_grad[0] else None
        self.geometry = (a_prev.shape, a_pad.shape, w.shape, padding, n_out, offsets)
        return z

    @staticmethod
    def _offsets(w_shape: tuple[int, ...], dilation: Pair, n_W_pad: int) -> list:
        f_h, f_w = w_shape[:2]
        return [
            ((u, v), u * dilation[0] * n_W_pad + v * dilation[1])
            for u in range(f_h)
            for v in range(f_w)
        ]

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        a_shape, pad_shape, w_shape, padding, n_out, offsets = self.geometry
        m, n_H_pad, n_W_pad, _ = pad_shape
        length = m * n_H_pad * n_W_pad
        dz_grid = np.zeros((m, n_H_pad, n_W_pad, w_shape[3]), dtype=grad.dtype)
        dz_grid[:, : n_out[0], : n_out[1]] = grad
        dz_rows = dz_grid.reshape(length, -1)
        da_prev = dw = db = None
        if self.needs_grad[0]:
            da_rows = dz_rows @ self.w[0, 0].T
            for (u, v), shift in offsets[1:]:
                da_rows[shift:] += dz_rows[: length - shift] @ self.w[u, v].T
            da_prev = crop_padding(da_rows.reshape(pad_shape), padding, a_shape[1:3])
        if self.needs_grad[1]:
            dw = np.empty(w_shape, dtype=grad.dtype)
            for (u, v), shift in offsets:
                dw[u, v] = self.rows[shift:].T @ dz_rows[: length - shift]
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            db = column_sums(dz_rows)  # the grid's extra rows are zeros
        return (da_prev, dw) if len(self.needs_grad) == 2 else (da_prev, dw, db)


@equations_from(Conv2D)
def conv2d(
    a_prev: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """Convolve a batch of volumes with a bank of filters.

    Parameters
    ----------
    a_prev: (m, n_H_prev, n_W_prev, n_C_prev)
    w: (f_h, f_w, n_C_prev / groups, n_C)
    b: (n_C,) or None
    stride: s, an int or a pair (s_h, s_w).
    padding: p zeros on each side: an int, a pair (p_h, p_w), a pair of
        pairs ((top, bottom), (left, right)), ``"valid"`` (p = 0) or ``"same"``.
        "same" gives n_H = ceil(n_H_prev / s), so at s = 1 the size is kept;
        when the total padding is odd (at s = 1 that is d*(f-1): an even f
        with d = 1) the extra row/column goes at the bottom/right, as PyTorch
        and TensorFlow do.
    dilation: d, gaps between filter taps (d = 1: a plain filter).
    groups: g; the n_C_prev input channels and n_C filters are split into g
        groups convolved separately; g = n_C_prev is a depthwise convolution.

    Returns Z of shape (m, n_H, n_W, n_C). At stride 1 with one group and
    8 <= n_C <= n_C_prev the same Z comes from :class:`ShiftedConv2D` (no
    im2col copy, less memory), otherwise from :class:`Conv2D`.

    Example
    -------
    >>> import numpy as np
    >>> A = Tensor(np.ones((1, 6, 6, 1)))
    >>> W = Tensor(np.ones((3, 3, 1, 2)))
    >>> conv2d(A, W, padding=1).shape
    (1, 6, 6, 2)
    """
    inputs = [a_prev, w] if b is None else [a_prev, w, b]
    same_dtype(inputs, "conv2d")
    if a_prev.ndim != 4:
        raise ShapeError(
            f"conv2d expects A_prev of shape (m, n_H_prev, n_W_prev, n_C_prev), got {a_prev.shape}"
            f" ({a_prev.ndim} axes); add a batch axis with A[None] or a channel axis with"
            f" A[..., None]"
        )
    if w.ndim != 4:
        raise ShapeError(
            f"conv2d expects W of shape (f_h, f_w, n_C_prev/groups, n_C), got {w.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise InvalidArgumentError(f"conv2d: groups must be a positive int, got {groups!r}")
    _, n_H_prev, n_W_prev, n_C_prev = a_prev.shape
    f_h, f_w, n_C_group, n_C = w.shape
    if n_C_prev % groups or n_C % groups:
        raise ShapeError(
            f"conv2d with groups={groups} needs n_C_prev and n_C divisible by {groups};"
            f" got n_C_prev={n_C_prev}, n_C={n_C}"
        )
    if n_C_group * groups != n_C_prev:
        raise ShapeError(
            f"conv2d: W of shape {w.shape} expects n_C_prev = {n_C_group * groups}"
            f" ({n_C_group} per group x {groups} groups) but A_prev of shape {a_prev.shape} has"
            f" n_C_prev = {n_C_prev}"
        )
    if b is not None and b.shape != (n_C,):
        raise ShapeError(
            f"conv2d expects b of shape ({n_C},) for W of shape {w.shape}, got {b.shape}"
        )
    s = pair(stride, "conv2d stride")
    d = pair(dilation, "conv2d dilation")
    p = resolve_padding(padding, (n_H_prev, n_W_prev), (f_h, f_w), s, d)
    n_out = (
        conv_output_size(n_H_prev, f_h, p[0], s[0], d[0], axis="n_H", op="conv2d"),
        conv_output_size(n_W_prev, f_w, p[1], s[1], d[1], axis="n_W", op="conv2d"),
    )
    if s == (1, 1) and groups == 1 and 8 <= n_C <= n_C_prev:
        return ShiftedConv2D.apply(*inputs, padding=p, dilation=d, n_out=n_out)
    return Conv2D.apply(*inputs, stride=s, padding=p, dilation=d, groups=int(groups), n_out=n_out)
