"""The convolution product over volumes, with padding, stride, dilation and groups."""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.errors import ShapeError
from convmath.ops.windows import add_windows, crop_padding, spatial_padding, window_view
from convmath.shapes import (
    PaddingSpec,
    Pair,
    conv_output_size,
    pair,
    positive_int,
    resolve_padding,
)
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class Conv2D(Function):
    r"""Z^[l] = W^[l] * A^[l-1] + b^[l], channels-last (the "convolution" is a cross-correlation).

    The article's convolution product, indices from 1, at stride 1 (the window
    of x starts at s(x-1)+1 at stride s), A^[l-1] zero-padded:

        Z^[l]_(x,y,c) = sum_(i=1..f) sum_(j=1..f) sum_(k=1..n_C_prev)
                        W^[l]_(i,j,k,c) A^[l-1]_(x+i-1, y+j-1, k) + b^[l]_c

    and its back propagation, sums over the windows (x, y):

        db^[l]_c          = sum_(x,y) dZ^[l]_(x,y,c)
        dW^[l]_(i,j,k,c)  = sum_(x,y) dZ^[l]_(x,y,c) A^[l-1]_(x+i-1, y+j-1, k)
        dA^[l-1]_(x',y',k) = sum over c and the (x, y, i, j) with (x+i-1, y+j-1) = (x', y')
                            of W^[l]_(i,j,k,c) dZ^[l]_(x,y,c)

    (each summed over the m examples too). Below, the same in the code's names
    (A_prev is A^[l-1], indices from 0) and how it is computed: im2col, one
    matrix product, and col2im for dA_prev.

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

    written as one matrix product per group: the windows of A_pad, one per
    output position (i, h, w), are the rows of ``cols`` (im2col), and

        cols  (g, m*n_H*n_W, f_h*f_w*n_C_prev/g),   W_g (g, f_h*f_w*n_C_prev/g, n_C/g),
        Z = cols W_g + b        (channels-last, the product is already Z's layout).

    Backward
    --------
    With dZ as (g, m*n_H*n_W, n_C/g):

        db      = sum over i, h, w of dZ
        dW      = cols^T dZ
        dA_prev = col2im(dZ W_g^T): the sum over windows above, computed by
                  sending each window's share back to the positions it was
                  read from (overlapping windows add up), then cropping the padding.
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
        cols = im2col(a_prev, w.shape, stride, padding, dilation, groups, n_out)
        z = ungrouped(cols @ grouped_filters(w, groups), (len(a_prev), *n_out))
        if b is not None:
            z += b
        self.cols, self.w, self.a_shape = cols, w, a_prev.shape
        self.geometry = (stride, padding, dilation, groups, n_out)
        return z

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray | None, ...]:
        stride, padding, dilation, groups, n_out = self.geometry
        dz_groups = grouped_rows(dz, groups)
        da_prev = dw = db = None
        if self.needs_grad[0]:
            dcols = dz_groups @ grouped_filters(self.w, groups).transpose(0, 2, 1)
            da_prev = col2im(dcols, self.a_shape, self.w.shape, stride, padding, dilation, n_out)
        if self.needs_grad[1]:
            dw = (self.cols.transpose(0, 2, 1) @ dz_groups).transpose(1, 0, 2)
            dw = dw.reshape(self.w.shape)
        if len(self.needs_grad) == 2:
            return da_prev, dw
        if self.needs_grad[2]:
            db = dz.sum(axis=(0, 1, 2))
        return da_prev, dw, db


def im2col(
    a_prev: np.ndarray,
    w_shape: tuple[int, ...],
    stride: Pair,
    padding: tuple[Pair, Pair],
    dilation: Pair,
    groups: int,
    n_out: Pair,
) -> np.ndarray:
    """cols (g, m*n_H*n_W, f_h*f_w*n_C_prev/g): row (i, h, w) of group k is the window

    cols[k, (i, h, w), (u, v, c')] = A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w, k*n_C_prev/g + c'].
    """
    f_h, f_w, n_C_group, _ = w_shape
    a_pad = spatial_padding(a_prev, padding)
    a_pad = a_pad.reshape(*a_pad.shape[:3], groups, n_C_group)
    windows = window_view(
        a_pad, (f_h, f_w), stride, dilation, n_out
    )  # (m, n_H, n_W, f_h, f_w, g, c')
    rows = len(a_prev) * n_out[0] * n_out[1]
    return np.moveaxis(windows, 5, 0).reshape(groups, rows, f_h * f_w * n_C_group)


def col2im(
    dcols: np.ndarray,
    a_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    padding: tuple[Pair, Pair],
    dilation: Pair,
    n_out: Pair,
) -> np.ndarray:
    """The adjoint of :func:`im2col`: dA_prev from dcols (g, m*n_H*n_W, f_h*f_w*n_C_prev/g)."""
    f_h, f_w, n_C_group, _ = w_shape
    (top, bottom), (left, right) = padding
    m, groups = a_shape[0], len(dcols)
    pad_hw = (a_shape[1] + top + bottom, a_shape[2] + left + right)
    da_pad = np.zeros((m, *pad_hw, groups, n_C_group), dtype=dcols.dtype)
    windows = np.moveaxis(dcols.reshape(groups, m, *n_out, f_h, f_w, n_C_group), 0, 5)
    add_windows(da_pad, windows, stride, dilation, n_out)
    da_pad = da_pad.reshape(m, *pad_hw, groups * n_C_group)
    return crop_padding(da_pad, padding, a_shape[1:3])


def grouped_filters(w: np.ndarray, groups: int) -> np.ndarray:
    """W (f_h, f_w, n_C_prev/g, n_C) as g matrices (g, f_h*f_w*n_C_prev/g, n_C/g), a view."""
    f_h, f_w, n_C_group, n_C = w.shape
    return w.reshape(f_h * f_w * n_C_group, groups, n_C // groups).transpose(1, 0, 2)


def grouped_rows(z: np.ndarray, groups: int) -> np.ndarray:
    """Z (m, n_H, n_W, n_C) as (g, m*n_H*n_W, n_C/g): group k's columns, a view when Z is."""
    n_C = z.shape[3]
    return z.reshape(-1, groups, n_C // groups).transpose(1, 0, 2)


def ungrouped(z_groups: np.ndarray, batch_hw: tuple[int, int, int]) -> np.ndarray:
    """The inverse of :func:`grouped_rows`: (g, m*n_H*n_W, n_C/g) -> (m, n_H, n_W, n_C)."""
    groups, _, n_C_group = z_groups.shape
    return np.ascontiguousarray(z_groups.transpose(1, 0, 2)).reshape(*batch_hw, groups * n_C_group)


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

    Returns Z of shape (m, n_H, n_W, n_C).

    Shapes
    ------
    A_prev: (m, n_H_prev, n_W_prev, n_C_prev), channels-last
    W: (f_h, f_w, n_C_prev/groups, n_C);  b: (n_C,)
    Z: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2p - d(f_h - 1) - 1)/s) + 1, the same for n_W

    Example
    -------
    The article's worked example: a 6x6 grayscale image, bright (10) in its
    left three columns and dark (0) in its right three, convolved with the
    vertical edge filter. A "valid" convolution (p = 0, s = 1) gives a
    (6 - 3 + 1) x (6 - 3 + 1) = 4x4 map, bright where the edge is:

    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float32)
    >>> vertical_edge = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float32)
    >>> A_prev = Tensor(image.reshape(1, 6, 6, 1))  # (m, n_H_prev, n_W_prev, n_C_prev)
    >>> W = Tensor(vertical_edge.reshape(3, 3, 1, 1))  # (f, f, n_C_prev, n_C)
    >>> Z = F.conv2d(A_prev, W)
    >>> Z.shape
    (1, 4, 4, 1)
    >>> print(Z.data[0, :, :, 0].astype(int))
    [[ 0 30 30  0]
     [ 0 30 30  0]
     [ 0 30 30  0]
     [ 0 30 30  0]]

    Padding p = 1 keeps a 6x6 input 6x6 with a 3x3 filter ("same"); a stride
    of 2 gives floor((6 - 3)/2) + 1 = 2:

    >>> A = Tensor(np.ones((1, 6, 6, 1), np.float32))
    >>> W = Tensor(np.ones((3, 3, 1, 2), np.float32))
    >>> F.conv2d(A, W, padding=1).shape
    (1, 6, 6, 2)
    >>> F.conv2d(A, W, stride=2).shape
    (1, 2, 2, 2)
    """
    inputs = [a_prev, w] if b is None else [a_prev, w, b]
    geometry = conv_geometry(a_prev, w, b, stride, padding, dilation, groups)
    return Conv2D.apply(*inputs, **geometry)


def conv_geometry(
    a_prev: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: int | tuple[int, int],
    padding: PaddingSpec,
    dilation: int | tuple[int, int],
    groups: int,
) -> dict[str, Any]:
    """The checked options of :class:`Conv2D` (stride, padding sides, dilation, groups, n_out)."""
    same_dtype([a_prev, w] if b is None else [a_prev, w, b], "conv2d")
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
    groups = positive_int(groups, "conv2d: groups")
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
    return {"stride": s, "padding": p, "dilation": d, "groups": groups, "n_out": n_out}
