"""Slow, obviously correct loop implementations of convolution and pooling.

They follow the article's definitions literally, one output element at a
time, and exist only to check the fast vectorised ops on a table of cases.
"""

from __future__ import annotations

import numpy as np


def pad_sides(a: np.ndarray, sides: tuple[tuple[int, int], tuple[int, int]], value: float = 0.0):
    (top, bottom), (left, right) = sides
    return np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def conv2d_loops(a_prev, w, b, stride, sides, dilation, groups):
    """Z[i, h, w, c] = b[c] + sum_{u,v,c'} A_pad[i, h*s + u*d, w*s + v*d, k + c'] W[u,v,c',c].

    k is the first input channel of the group of filter c.
    """
    m, _, _, n_c_prev = a_prev.shape
    f_h, f_w, n_c_group, n_c = w.shape
    a_pad = pad_sides(a_prev, sides)
    span_h = dilation[0] * (f_h - 1) + 1
    span_w = dilation[1] * (f_w - 1) + 1
    n_h = (a_pad.shape[1] - span_h) // stride[0] + 1
    n_w = (a_pad.shape[2] - span_w) // stride[1] + 1
    filters_per_group = n_c // groups
    z = np.zeros((m, n_h, n_w, n_c), dtype=a_prev.dtype)
    for i in range(m):
        for h in range(n_h):
            for x in range(n_w):
                for c in range(n_c):
                    first_channel = (c // filters_per_group) * n_c_group
                    total = 0.0 if b is None else b[c]
                    for u in range(f_h):
                        for v in range(f_w):
                            for k in range(n_c_group):
                                row = h * stride[0] + u * dilation[0]
                                col = x * stride[1] + v * dilation[1]
                                total += a_pad[i, row, col, first_channel + k] * w[u, v, k, c]
                    z[i, h, x, c] = total
    assert n_c_prev == n_c_group * groups
    return z


def pool2d_loops(a, f, stride, padding, kind, count_include_pad=True):
    """Max or average of each f x f window, channel by channel."""
    sides = ((padding[0], padding[0]), (padding[1], padding[1]))
    value = -np.inf if kind == "max" else 0.0
    a_pad = pad_sides(a, sides, value)
    real = pad_sides(np.ones_like(a), sides)
    m, _, _, n_c = a.shape
    n_h = (a_pad.shape[1] - f[0]) // stride[0] + 1
    n_w = (a_pad.shape[2] - f[1]) // stride[1] + 1
    z = np.zeros((m, n_h, n_w, n_c), dtype=a.dtype)
    for i in range(m):
        for h in range(n_h):
            for x in range(n_w):
                for c in range(n_c):
                    rows = slice(h * stride[0], h * stride[0] + f[0])
                    cols = slice(x * stride[1], x * stride[1] + f[1])
                    window = a_pad[i, rows, cols, c]
                    if kind == "max":
                        z[i, h, x, c] = window.max()
                    elif count_include_pad:
                        z[i, h, x, c] = window.sum() / window.size
                    else:
                        z[i, h, x, c] = window.sum() / real[i, rows, cols, c].sum()
    return z


def adaptive_avg_pool2d_loops(a, output_size):
    """Adaptive average pooling, one output value at a time, with PyTorch's bins."""
    m, n_h, n_w, n_c = a.shape
    o_h, o_w = output_size
    out = np.zeros((m, o_h, o_w, n_c), dtype=a.dtype)
    for i in range(o_h):
        top, bottom = (i * n_h) // o_h, -(-((i + 1) * n_h) // o_h)
        for j in range(o_w):
            left, right = (j * n_w) // o_w, -(-((j + 1) * n_w) // o_w)
            out[:, i, j, :] = a[:, top:bottom, left:right, :].mean(axis=(1, 2))
    return out
