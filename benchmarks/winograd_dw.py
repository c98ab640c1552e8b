"""Would Winograd pay for dW? The 3x3 layers of W2-W4: dW by im2col and by F(2x2, 3x3).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/winograd_dw.py --rounds 7

A measurement before building, not a kernel. Today's backward computes
dW = cols^T dZ from each chunk's im2col matrix (kernels/conv.py). By
Winograd, the forward Y = A^T [(G W G^T) * (B^T d B)] A, read backward, gives
for each tile d of A_pad and its 2x2 block dY of dZ

    dW = G^T [ sum over tiles of (B^T d B) * (A dY A^T) ] G,

that is 16 channel products dU[xi] = V[xi]^T Q[xi] of (n_C_prev, tiles) by
(tiles, n_C), 2.25x fewer multiplies than im2col's (9 n_C_prev, positions)
by (positions, n_C), after two transforms: V = B^T d B, as the forward's
(the compiled loop, on a padded chunk), and Q = A dY A^T (a 16x4 GEMM).

For one chunk of the size the kernel cuts, on one thread, the rounds
alternate: im2col's dW (its copy and its GEMM), Winograd's with V computed,
and Winograd's with V taken as given (what keeping the forward's V would
cost in memory, 16/9 of im2col's matrix, to save). Each keeps its fastest
round; dW is checked against im2col's (relative error printed). Needs the
compiled extra (numba) for the input transform.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

from convmath.kernels.compiled.winograd import _input_transform
from convmath.kernels.im2col import Im2col
from convmath.kernels.parallel import chunk_bounds
from convmath.kernels.products import batched_product
from convmath.kernels.winograd import _G, _OUTPUT, Winograd

LAYERS = [  # (name, batch, n_H_prev, n_C_prev, n_C, padding)
    ("W3 stage 1", 128, 32, 16, 16, 1),
    ("W3 stage 2", 128, 16, 32, 32, 1),
    ("W3 stage 3", 128, 8, 64, 64, 1),
    ("W2 conv2", 128, 28, 32, 64, 0),
    ("W4 3x3", 32, 28, 96, 128, 1),
]


def im2col_dw(geometry: Im2col, a: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """dW = cols^T dZ, as the kernel computes it for one chunk."""
    cols = geometry.matrix(a)
    product = batched_product(cols.transpose(0, 2, 1), dz.reshape(1, -1, dz.shape[3]))
    return product.transpose(1, 0, 2).reshape(geometry.w_shape)


def winograd_v(tiling: Winograd, a: np.ndarray) -> np.ndarray:
    """V = B^T d B of every tile of the chunk, (16, tiles, n_C_prev)."""
    (t_h, t_w), n_C_prev = tiling.tiles, a.shape[3]
    v = np.empty((16, len(a) * t_h * t_w, n_C_prev), dtype=a.dtype)
    _input_transform(tiling.padded(a), t_h, t_w, v)
    return v


def winograd_dw(tiling: Winograd, v: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """dW = G^T [sum over tiles of V * (A dY A^T)] G from V and the chunk's dZ."""
    (t_h, t_w), (c, n_H, n_W, n_C) = tiling.tiles, dz.shape
    blocks = np.zeros((c, t_h, 2, t_w, 2, n_C), dtype=dz.dtype)  # an odd side: zeros beyond it
    blocks.reshape(c, 2 * t_h, 2 * t_w, n_C)[:, :n_H, :n_W] = dz
    dy = blocks.transpose(2, 4, 0, 1, 3, 5).reshape(4, -1)  # (2x2 taps, tiles * n_C)
    q = (_OUTPUT.T.astype(dz.dtype) @ dy).reshape(16, c * t_h * t_w, n_C)  # A dY A^T
    du = np.matmul(v.transpose(0, 2, 1), q).reshape(4, 4, v.shape[2], n_C)
    return np.einsum("au,abcd,bv->uvcd", _G.astype(dz.dtype), du, _G.astype(dz.dtype))


def best_of(rounds: list[float]) -> float:
    return min(rounds) * 1e3


def measure(
    name: str,
    batch: int,
    side: int,
    n_C_prev: int,
    n_C: int,
    pad: int,
    *,
    rounds: int,
    rng: np.random.Generator,
) -> None:
    """One layer's three dW computations, alternating for ``rounds``; a line of the table."""
    n_out = (side + 2 * pad - 2, side + 2 * pad - 2)
    a_shape = (batch, side, side, n_C_prev)
    padding = ((pad, pad), (pad, pad))
    geometry = Im2col(a_shape, (3, 3, n_C_prev, n_C), stride=(1, 1), padding=padding,
                      dilation=(1, 1), groups=1, n_out=n_out, itemsize=4)  # fmt: skip
    chunk = len(chunk_bounds(batch, geometry.bytes_per_example)[0])  # the kernel's chunk
    a = rng.standard_normal((chunk, side, side, n_C_prev), dtype=np.float32)
    dz = rng.standard_normal((chunk, *n_out, n_C), dtype=np.float32)
    w = np.zeros((3, 3, n_C_prev, n_C), np.float32)
    tiling = Winograd(a.shape, w, padding, n_out)
    expected = im2col_dw(geometry, a, dz)
    got = winograd_dw(tiling, winograd_v(tiling, a), dz)
    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    times: dict[str, list[float]] = {"im2col": [], "winograd": [], "v_given": []}
    v = winograd_v(tiling, a)
    for _ in range(rounds):
        for key, work in (
            ("im2col", lambda: im2col_dw(geometry, a, dz)),
            ("winograd", lambda: winograd_dw(tiling, winograd_v(tiling, a), dz)),
            ("v_given", lambda: winograd_dw(tiling, v, dz)),
        ):
            started = time.perf_counter()
            work()
            times[key].append(time.perf_counter() - started)
    ms = {key: best_of(value) for key, value in times.items()}
    emit({"layer": name, "chunk": chunk, "ms": ms, "relative_error": error})
    print(
        f"{name:<12} {chunk:>5} {ms['im2col']:>10.2f} {ms['winograd']:>12.2f}"
        f" {ms['v_given']:>11.2f} {ms['im2col'] / ms['winograd']:>8.2f}x"
        f" {ms['im2col'] / ms['v_given']:>7.2f}x {error:>11.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    emit({"setup": blas_report()})
    rng = np.random.default_rng(0)
    print(
        f"\n{'layer':<12} {'chunk':>5} {'im2col ms':>10} {'winograd ms':>12} {'V given ms':>11}"
        f" {'speed-up':>9} {'V given':>8} {'rel. error':>11}"
    )
    for layer in LAYERS:
        measure(*layer, rounds=args.rounds, rng=rng)


if __name__ == "__main__":
    main()
