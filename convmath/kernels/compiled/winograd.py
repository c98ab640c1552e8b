"""Winograd's F(2x2, 3x3) with compiled tile transforms: V = B^T d B and Y = A^T M A in one pass.

The NumPy kernel (:mod:`convmath.kernels.winograd`) copies every 4x4 tile out
of the padded chunk (4x the input) and transforms the copy with a 16x16 GEMM,
then the products with a 4x16 GEMM and a transposing copy into Z. Here the
input transform reads each tile straight from the padded chunk and writes its
16 values with additions only (B^T's entries are 0 and +-1):

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
    """V[a*4 + b, tile, c] = (B^T d B)[a, b] of each tile d = A_pad[i, 2y:2y+4, 2x:2x+4, c]."""
    m, n_C = a_pad.shape[0], a_pad.shape[3]
    for i in range(m):
        for y in range(t_h):
            for x in range(t_w):
                tile = (i * t_h + y) * t_w + x
                rows = a_pad[i, 2 * y : 2 * y + 4, 2 * x : 2 * x + 4]
                for c in range(n_C):
                    d00, d01, d02, d03 = rows[0, 0, c], rows[0, 1, c], rows[0, 2, c], rows[0, 3, c]
                    d10, d11, d12, d13 = rows[1, 0, c], rows[1, 1, c], rows[1, 2, c], rows[1, 3, c]
                    d20, d21, d22, d23 = rows[2, 0, c], rows[2, 1, c], rows[2, 2, c], rows[2, 3, c]
                    d30, d31, d32, d33 = rows[3, 0, c], rows[3, 1, c], rows[3, 2, c], rows[3, 3, c]
                    # B^T d: down each column
                    t00, t01, t02, t03 = d00 - d20, d01 - d21, d02 - d22, d03 - d23
                    t10, t11, t12, t13 = d10 + d20, d11 + d21, d12 + d22, d13 + d23
                    t20, t21, t22, t23 = d20 - d10, d21 - d11, d22 - d12, d23 - d13
                    t30, t31, t32, t33 = d10 - d30, d11 - d31, d12 - d32, d13 - d33
                    # (B^T d) B: along each row
                    v[0, tile, c], v[1, tile, c] = t00 - t02, t01 + t02
                    v[2, tile, c], v[3, tile, c] = t02 - t01, t01 - t03
                    v[4, tile, c], v[5, tile, c] = t10 - t12, t11 + t12
                    v[6, tile, c], v[7, tile, c] = t12 - t11, t11 - t13
                    v[8, tile, c], v[9, tile, c] = t20 - t22, t21 + t22
                    v[10, tile, c], v[11, tile, c] = t22 - t21, t21 - t23
                    v[12, tile, c], v[13, tile, c] = t30 - t32, t31 + t32
                    v[14, tile, c], v[15, tile, c] = t32 - t31, t31 - t33


@compiled_loop
def _output_transform(products, t_h, t_w, z):
    """Z[i, 2y:2y+2, 2x:2x+2, k] = A^T M A of each tile's 16 products (an odd side: cropped)."""
    m, n_H, n_W, n_C = z.shape
    for i in range(m):
        for y in range(t_h):
            for x in range(t_w):
                tile = (i * t_h + y) * t_w + x
                whole = 2 * y + 1 < n_H and 2 * x + 1 < n_W
                for k in range(n_C):
                    # A^T M: down each column
                    s00 = products[0, tile, k] + products[4, tile, k] + products[8, tile, k]
                    s01 = products[1, tile, k] + products[5, tile, k] + products[9, tile, k]
                    s02 = products[2, tile, k] + products[6, tile, k] + products[10, tile, k]
                    s03 = products[3, tile, k] + products[7, tile, k] + products[11, tile, k]
                    s10 = products[4, tile, k] - products[8, tile, k] - products[12, tile, k]
                    s11 = products[5, tile, k] - products[9, tile, k] - products[13, tile, k]
                    s12 = products[6, tile, k] - products[10, tile, k] - products[14, tile, k]
                    s13 = products[7, tile, k] - products[11, tile, k] - products[15, tile, k]
                    # (A^T M) A: along each row
                    y00, y01 = s00 + s01 + s02, s01 - s02 - s03
                    y10, y11 = s10 + s11 + s12, s11 - s12 - s13
                    if whole:
                        z[i, 2 * y, 2 * x, k], z[i, 2 * y, 2 * x + 1, k] = y00, y01
                        z[i, 2 * y + 1, 2 * x, k], z[i, 2 * y + 1, 2 * x + 1, k] = y10, y11
                    else:
                        z[i, 2 * y, 2 * x, k] = y00
                        if 2 * x + 1 < n_W:
                            z[i, 2 * y, 2 * x + 1, k] = y01
                        if 2 * y + 1 < n_H:
                            z[i, 2 * y + 1, 2 * x, k] = y10


class CompiledWinograd(Winograd):
    """One F(2x2, 3x3) convolution whose tile transforms are compiled loops (see the module)."""

    def convolve(self, a_chunk: np.ndarray, z_chunk: np.ndarray) -> None:
        """Z of a chunk (c, n_H_prev, n_W_prev, n_C_prev) into ``z_chunk`` (c, n_H, n_W, n_C)."""
        (t_h, t_w), n_C_prev = self.tiles, a_chunk.shape[3]
        v = np.empty((16, len(a_chunk) * t_h * t_w, n_C_prev), dtype=a_chunk.dtype)
        _input_transform(self.padded(a_chunk), t_h, t_w, v)
        _output_transform(np.matmul(v, self.u), t_h, t_w, z_chunk)
