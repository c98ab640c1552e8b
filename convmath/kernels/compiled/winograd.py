"""Winograd's F(2x2, 3x3) with compiled tile transforms: V = B^T d B and Y = A^T M A in one pass.

The NumPy kernel (:mod:`convmath.kernels.winograd`) copies every 4x4 tile out
of the padded chunk (4x the input) and transforms the copy with a 16x16 GEMM,
then the products with a 4x16 GEMM and a transposing copy into Z. Here the
input transform reads each tile straight from the padded chunk and writes its
16 values with additions only (B^T's entries are 0 and +-1), through a 4x4
tile buffer, so that every loop is a short vector loop along the channels:

    B^T d = [d0 - d2, d1 + d2, d2 - d1, d1 - d3]  (down each column, then along each row)

and the output transform writes each tile's 2x2 block of Z in place:

    A^T m = [m0 + m1 + m2, m1 - m2 - m3]          (likewise)

The 16 channel GEMMs M[xi] = V[xi] U[xi] in between stay on BLAS. The same
class computes dA_prev as the dual convolution (kernels/conv.py).
"""

from __future__ import annotations

import numpy as np

from convmath.kernels.compiled.loops import compiled_loop
from convmath.kernels.winograd import Winograd


@compiled_loop
def _input_transform(a_pad, t_h, t_w, v):
    """V[a*4 + b, tile, c] = (B^T d B)[a, b] of each tile d = A_pad[i, 2y:2y+4, 2x:2x+4, c].

    Each loop runs along the channels between two or three rows of at most
    four arrays, so that the compiler turns it into vector instructions.
    """
    m, n_C = a_pad.shape[0], a_pad.shape[3]
    t = np.empty((4, 4, n_C), a_pad.dtype)  # B^T d of one tile
    for i in range(m):
        for y in range(t_h):
            d0, d1, d2, d3 = (
                a_pad[i, 2 * y],
                a_pad[i, 2 * y + 1],
                a_pad[i, 2 * y + 2],
                a_pad[i, 2 * y + 3],
            )
            for x in range(t_w):
                tile = (i * t_h + y) * t_w + x
                for column in range(4):  # B^T d: down each column
                    q = 2 * x + column
                    e0, e1, e2, e3 = d0[q], d1[q], d2[q], d3[q]
                    t0, t1, t2, t3 = t[0, column], t[1, column], t[2, column], t[3, column]
                    for c in range(n_C):
                        t0[c] = e0[c] - e2[c]
                        t1[c] = e1[c] + e2[c]
                        t2[c] = e2[c] - e1[c]
                        t3[c] = e1[c] - e3[c]
                for row in range(4):  # (B^T d) B: along each row
                    s0, s1, s2, s3 = t[row, 0], t[row, 1], t[row, 2], t[row, 3]
                    v0, v1 = v[4 * row, tile], v[4 * row + 1, tile]
                    v2, v3 = v[4 * row + 2, tile], v[4 * row + 3, tile]
                    for c in range(n_C):
                        v0[c] = s0[c] - s2[c]
                        v1[c] = s1[c] + s2[c]
                        v2[c] = s2[c] - s1[c]
                        v3[c] = s1[c] - s3[c]


@compiled_loop
def _output_transform(products, t_h, t_w, z):
    """Z[i, 2y:2y+2, 2x:2x+2, k] = A^T M A of each tile's 16 products (an odd side: cropped)."""
    m, n_H, n_W, n_C = z.shape
    s = np.empty((2, 4, n_C), products.dtype)  # A^T M of one tile
    for i in range(m):
        for y in range(t_h):
            for x in range(t_w):
                tile = (i * t_h + y) * t_w + x
                for column in range(4):  # A^T M: down each column
                    m0, m1 = products[column, tile], products[4 + column, tile]
                    m2, m3 = products[8 + column, tile], products[12 + column, tile]
                    top, bottom = s[0, column], s[1, column]
                    for k in range(n_C):
                        top[k] = m0[k] + m1[k] + m2[k]
                        bottom[k] = m1[k] - m2[k] - m3[k]
                for row in range(2):  # (A^T M) A: along each row, the 2x2 block's row
                    if 2 * y + row >= n_H:
                        break
                    s0, s1, s2, s3 = s[row, 0], s[row, 1], s[row, 2], s[row, 3]
                    left = z[i, 2 * y + row, 2 * x]
                    for k in range(n_C):
                        left[k] = s0[k] + s1[k] + s2[k]
                    if 2 * x + 1 < n_W:
                        right = z[i, 2 * y + row, 2 * x + 1]
                        for k in range(n_C):
                            right[k] = s1[k] - s2[k] - s3[k]


class CompiledWinograd(Winograd):
    """One F(2x2, 3x3) convolution whose tile transforms are compiled loops (see the module)."""

    def convolve(self, a_chunk: np.ndarray, z_chunk: np.ndarray) -> None:
        """Z of a chunk (c, n_H_prev, n_W_prev, n_C_prev) into ``z_chunk`` (c, n_H, n_W, n_C)."""
        (t_h, t_w), n_C_prev = self.tiles, a_chunk.shape[3]
        v = np.empty((16, len(a_chunk) * t_h * t_w, n_C_prev), dtype=a_chunk.dtype)
        _input_transform(self.padded(a_chunk), t_h, t_w, v)
        _output_transform(np.matmul(v, self.u), t_h, t_w, z_chunk)
