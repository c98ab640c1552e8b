"""Sliding windows over channels-last volumes, shared by convolution and pooling.

A window of f_h x f_w positions (dilation d: d-1 skipped positions between
taps) slides with stride s over a padded volume A_pad of shape
(m, n_H_pad, n_W_pad, ...). Output position (h, w) sees rows
h*s_h + i*d_h and columns w*s_w + j*d_w for the kernel offsets (i, j).

- :func:`window_view` exposes all windows at once as a read-only strided view
  (m, n_H, n_W, f_h, f_w, ...) without copying (im2col is one copy of it);
- :func:`offset_slice` picks, for one kernel offset (i, j), the input
  element that every output position sees: a strided slice of shape
  (m, n_H, n_W, ...). Backward passes loop over the f_h*f_w offsets and add
  into these slices (col2im), never over pixels or examples.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convmath.shapes import Pair


def window_view(a_pad: np.ndarray, f: Pair, s: Pair, d: Pair, n_out: Pair) -> np.ndarray:
    """Read-only view (m, n_H, n_W, f_h, f_w, *rest) of the windows of ``a_pad``.

    ``a_pad`` has shape (m, n_H_pad, n_W_pad, *rest); ``n_out`` = (n_H, n_W)
    must come from :func:`convmath.shapes.conv_output_size`.
    """
    m, _, _, *rest = a_pad.shape
    stride_m, stride_h, stride_w, *stride_rest = a_pad.strides
    return as_strided(
        a_pad,
        shape=(m, n_out[0], n_out[1], f[0], f[1], *rest),
        strides=(
            stride_m,
            stride_h * s[0],
            stride_w * s[1],
            stride_h * d[0],
            stride_w * d[1],
            *stride_rest,
        ),
        writeable=False,
    )


def offset_slice(i: int, j: int, s: Pair, d: Pair, n_out: Pair) -> tuple[slice, slice, slice]:
    """Index of the elements seen at kernel offset (i, j) by all output positions.

    ``A_pad[offset_slice(...)]`` has shape (m, n_H, n_W, ...): entry (h, w) is
    A_pad[:, h*s_h + i*d_h, w*s_w + j*d_w].
    """
    top = i * d[0]
    left = j * d[1]
    return (
        slice(None),
        slice(top, top + s[0] * (n_out[0] - 1) + 1, s[0]),
        slice(left, left + s[1] * (n_out[1] - 1) + 1, s[1]),
    )


def add_windows(target: np.ndarray, cols: np.ndarray, s: Pair, d: Pair, n_out: Pair) -> None:
    """col2im: add each window's values back where they were read from.

    ``cols`` has shape (m, n_H, n_W, f_h, f_w, *rest) and ``target``
    (m, n_H_pad, n_W_pad, *rest); overlapping windows add up.
    """
    f_h, f_w = cols.shape[3], cols.shape[4]
    for i in range(f_h):
        for j in range(f_w):
            target[offset_slice(i, j, s, d, n_out)] += cols[:, :, :, i, j]


def spatial_padding(a: np.ndarray, padding: tuple[Pair, Pair], value: float = 0.0) -> np.ndarray:
    """``a`` (m, n_H, n_W, ...) padded on the two spatial axes, or ``a`` itself if no padding."""
    (top, bottom), (left, right) = padding
    if top == bottom == left == right == 0:
        return a
    widths = [(0, 0), (top, bottom), (left, right)] + [(0, 0)] * (a.ndim - 3)
    return np.pad(a, widths, constant_values=value)


def crop_padding(a_pad: np.ndarray, padding: tuple[Pair, Pair], size: Pair) -> np.ndarray:
    """The inverse of :func:`spatial_padding`: the un-padded (n_H, n_W) part of ``a_pad``."""
    (top, _), (left, _) = padding
    return a_pad[:, top : top + size[0], left : left + size[1]]
