"""Winograd's F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25 times fewer multiplies.

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015
(arXiv:1509.09308). Along one axis, two outputs of a 3-tap correlation
y[i] = sum_k d[i + k] g[k] come from four inputs with four multiplies instead of six:

    y = A^T [(G g) * (B^T d)],   B^T = [[1, 0, -1, 0],  G = [[1, 0, 0],      A^T = [[1, 1, 1, 0],
                                        [0, 1, 1, 0],        [1/2, 1/2, 1/2],        [0, 1, -1, -1]]
                                        [0, -1, 1, 0],       [1/2, -1/2, 1/2],
                                        [0, 1, 0, -1]]       [0, 0, 1]]

and nested over both axes, a 2x2 block of Z comes from a 4x4 tile of A_pad:
Y = A^T [U * V] A with U = G W G^T and V = B^T d B. Over channels, the 16
elementwise products of a tile become 16 matrix products,
M[xi] = V[xi] U[xi] with V[xi] (tiles, n_C_prev) and U[xi] (n_C_prev, n_C): the
convolution's multiplies on 4 positions per tile instead of 9.

Here the tiles of a chunk are copied out of the padded input (tiles start
every 2 positions, so the copy is 4x the input, not im2col's 9x), and the
two small transforms are GEMMs with the 16x16 matrix B^T (x) B^T and the 4x16
matrix A^T (x) A^T (Kronecker products), so every step is one BLAS call or
one copy. It pays where the channel matrices are wide enough for the saved
multiplies to outweigh the transforms, on maps large enough (see
rules.winograd_pays). Its float32 error is of the
order of 1e-7 relative to the largest output, like im2col's.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convmath.kernels import rules
from convmath.shapes import Pair

# Measured on 2 workers (benchmarks/conv_layers.py --winograd): Winograd's transforms are
# memory-bound and the two workers share the memory bus, so it pays only with wide channel
# matrices on large maps: 1.11x forward + backward at 28x28 with 64 or 96->128 channels,
# 0.9x at 8x8 and 14x14 (64 and 128 channels) and at 26x26 with 32->64.

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_INPUT = np.kron(_BT, _BT)  # (16, 16): V[(a, b)] = sum over (u, v) of BT[a, u] BT[b, v] d[u, v]
_OUTPUT = np.kron(_AT, _AT)  # (4, 16): Y[(i, j)] from M[(a, b)]


def winograd_computes(
    w_shape: tuple[int, ...], stride: Pair, dilation: Pair, groups: int, padding: tuple[Pair, Pair]
) -> bool:
    """Whether F(2x2, 3x3) computes this convolution: 3x3, stride 1, undilated, one group."""
    return (
        tuple(w_shape[:2]) == (3, 3)
        and stride == (1, 1)
        and dilation == (1, 1)
        and groups == 1
        and min(min(side) for side in padding) >= 0
    )


def winograd_applies(
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    groups: int,
    padding: tuple[Pair, Pair],
    n_out: Pair,
    compiled: bool = False,
) -> bool:
    """The rule: whether F(2x2, 3x3) computes this convolution, and (measured) faster than im2col.

    ``compiled``: with the compiled tile transforms (kernels/compiled/winograd.py), which
    pay from fewer channels. (:mod:`convmath.kernels.autotune` can time both instead.)
    """
    n_C_prev, n_C = w_shape[2:]
    return winograd_computes(w_shape, stride, dilation, groups, padding) and rules.winograd_pays(
        n_C_prev, n_C, n_out[0] * n_out[1], compiled
    )


class Winograd:
    """One F(2x2, 3x3) convolution: W's transform made once, then applied chunk by chunk.

    a_shape (m, n_H_prev, n_W_prev, n_C_prev), w (3, 3, n_C_prev, n_C), stride 1.
    """

    def __init__(
        self, a_shape: tuple[int, ...], w: np.ndarray, padding: tuple[Pair, Pair], n_out: Pair
    ) -> None:
        self.a_shape, self.padding, self.n_out = a_shape, padding, n_out
        n_C_prev, n_C = w.shape[2:]
        self.tiles = (-(-n_out[0] // 2), -(-n_out[1] // 2))  # t_h x t_w tiles of 2x2 outputs
        u = np.einsum("au,uvcd,bv->abcd", _G, w.astype(np.float64), _G)  # U = G W G^T
        self.u = u.reshape(16, n_C_prev, n_C).astype(w.dtype)
        self.input_matrix = _INPUT.astype(w.dtype)
        self.output_matrix = _OUTPUT.astype(w.dtype)
        t_h, t_w = self.tiles
        self.bytes_per_example = 16 * t_h * t_w * (2 * n_C_prev + n_C) * w.itemsize

    def convolve(self, a_chunk: np.ndarray, z_chunk: np.ndarray) -> None:
        """Z of a chunk (c, n_H_prev, n_W_prev, n_C_prev) into ``z_chunk`` (c, n_H, n_W, n_C)."""
        c, n_C = len(a_chunk), self.u.shape[2]
        (t_h, t_w), (n_H, n_W) = self.tiles, self.n_out
        tiles = self._tiles(a_chunk)  # (16, c*t_h*t_w, n_C_prev)
        v = (self.input_matrix @ tiles.reshape(16, -1)).reshape(tiles.shape)
        m = np.matmul(v, self.u)  # (16, c*t_h*t_w, n_C)
        y = (self.output_matrix @ m.reshape(16, -1)).reshape(2, 2, c, t_h, t_w, n_C)
        if (n_H, n_W) == (2 * t_h, 2 * t_w):
            blocks = z_chunk.reshape(c, t_h, 2, t_w, 2, n_C).transpose(2, 4, 0, 1, 3, 5)
            np.copyto(blocks, y)
        else:  # odd sizes: the last tile's extra row or column is dropped
            full = np.empty((c, t_h, 2, t_w, 2, n_C), dtype=z_chunk.dtype)
            np.copyto(full.transpose(2, 4, 0, 1, 3, 5), y)
            z_chunk[...] = full.reshape(c, 2 * t_h, 2 * t_w, n_C)[:, :n_H, :n_W]

    def padded(self, a_chunk: np.ndarray) -> np.ndarray:
        """The chunk with zeros around it, (c, 2*t_h + 2, 2*t_w + 2, n_C_prev): every tile whole."""
        (top, _), (left, _) = self.padding
        (t_h, t_w), (c, n_H_prev, n_W_prev, n_C_prev) = self.tiles, a_chunk.shape
        a_pad = np.zeros((c, 2 * t_h + 2, 2 * t_w + 2, n_C_prev), dtype=a_chunk.dtype)
        a_pad[:, top : top + n_H_prev, left : left + n_W_prev] = a_chunk
        return a_pad

    def _tiles(self, a_chunk: np.ndarray) -> np.ndarray:
        """The 4x4 tiles (starting every 2 positions) of the padded chunk, tap by tap."""
        (t_h, t_w), (c, _, _, n_C_prev) = self.tiles, a_chunk.shape
        a_pad = self.padded(a_chunk)
        s_i, s_h, s_w, s_c = a_pad.strides
        view = as_strided(
            a_pad,
            shape=(4, 4, c, t_h, t_w, n_C_prev),
            strides=(s_h, s_w, s_i, 2 * s_h, 2 * s_w, s_c),
            writeable=False,
        )
        tiles = np.empty((4, 4, c, t_h, t_w, n_C_prev), dtype=a_chunk.dtype)
        np.copyto(tiles, view)
        return tiles.reshape(16, c * t_h * t_w, n_C_prev)
