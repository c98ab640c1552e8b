"""Kernel ideas measured before building them: would each pay in the kernels of W2-W4?

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/levers.py --rounds 7

Each idea against what the kernels do today, on one thread (as one worker
runs a chunk), the candidates alternating round by round, each keeping its
fastest round, its result checked against today's:

- ``winograd-dw``: the filter gradient dW of each 3x3 layer by Winograd.
  Today's backward computes dW = cols^T dZ from each chunk's im2col matrix
  (kernels/conv.py). The forward Y = A^T [(G W G^T) * (B^T d B)] A, read
  backward, gives for each tile d of A_pad and its 2x2 block dY of dZ

      dW = G^T [ sum over tiles of (B^T d B) * (A dY A^T) ] G,

  16 channel products dU[xi] = V[xi]^T Q[xi] of (n_C_prev, tiles) by (tiles,
  n_C), 2.25x fewer multiplies than im2col's, after two transforms: V = B^T d B
  as the forward's (the compiled loop) and Q = A dY A^T (a 16x4 GEMM). Timed
  with V computed, and with V given (what keeping the forward's V, 16/9 of
  im2col's matrix in memory, would save). One chunk of the kernel's size.
- ``sibling-1x1``: Inception's three 1x1 convolutions of one input (W4:
  192 -> 64, 96 and 16) as three GEMMs each way (Z, dW, dA_prev summed) or
  as one, their filters side by side. One chunk of the kernel's size.
- ``add-relu``: a residual block's end, A = ReLU(Z + shortcut), as NumPy's
  two passes (the Add and ReLU kernels) or one compiled loop (W3's shapes,
  one chunk). Backward is the same either way (dZ = dA [A > 0]).

The compiled loops need the compiled extra (numba).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit
from winograd_tiers import LAYERS

from convmath.kernels.compiled.loops import compiled_loop
from convmath.kernels.compiled.winograd import _input_transform
from convmath.kernels.im2col import Im2col
from convmath.kernels.parallel import chunk_bounds
from convmath.kernels.products import batched_product
from convmath.kernels.winograd import _G, _OUTPUT, Winograd

WINOGRAD_LAYERS = LAYERS[:5]  # the 3x3 stride-1 layers of W2-W4
SIBLINGS = (192, (64, 96, 16), 28)  # W4: n_C_prev, the three 1x1 layers' n_C, the map's side
RESIDUAL_ENDS = [(128, 32, 16), (128, 16, 32), (128, 8, 64)]  # W3's stages: batch, side, n_C


def fastest(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Each candidate's fastest of ``rounds`` alternating rounds, in ms."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, work in candidates.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return {name: min(value) * 1e3 for name, value in times.items()}


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def report(lever: str, case: str, ms: dict[str, float], error: float) -> None:
    """One line: each candidate's ms and its speed-up over the first (today's)."""
    emit({"lever": lever, "case": case, "ms": ms, "relative_error": error})
    today = next(iter(ms.values()))
    cells = "  ".join(f"{name} {value:.2f} ms ({today / value:.2f}x)" for name, value in ms.items())
    print(f"{lever:<12} {case:<22} {cells}  error {error:.1e}")


# winograd-dw ------------------------------------------------------------------------------


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


def winograd_dw_lever(rounds: int, rng: np.random.Generator) -> None:
    for layer in WINOGRAD_LAYERS:
        winograd_dw_case(*layer, rounds=rounds, rng=rng)


def winograd_dw_case(
    name: str, batch: int, side: int, n_C_prev: int, n_C: int, pad: int, *, rounds: int,
    rng: np.random.Generator,
) -> None:  # fmt: skip
    n_out = (side + 2 * pad - 2, side + 2 * pad - 2)
    padding = ((pad, pad), (pad, pad))
    geometry = Im2col((batch, side, side, n_C_prev), (3, 3, n_C_prev, n_C), stride=(1, 1),
                      padding=padding, dilation=(1, 1), groups=1, n_out=n_out,
                      itemsize=4)  # fmt: skip
    chunk = len(chunk_bounds(batch, geometry.bytes_per_example)[0])  # the kernel's chunk
    a = rng.standard_normal((chunk, side, side, n_C_prev), dtype=np.float32)
    dz = rng.standard_normal((chunk, *n_out, n_C), dtype=np.float32)
    tiling = Winograd(a.shape, np.zeros((3, 3, n_C_prev, n_C), np.float32), padding, n_out)
    v = winograd_v(tiling, a)
    error = relative_error(winograd_dw(tiling, v, dz), im2col_dw(geometry, a, dz))
    candidates = {
        "im2col": lambda: im2col_dw(geometry, a, dz),
        "winograd": lambda: winograd_dw(tiling, winograd_v(tiling, a), dz),
        "winograd, V given": lambda: winograd_dw(tiling, v, dz),
    }
    report("winograd-dw", f"{name}, chunk {chunk}", fastest(candidates, rounds), error)


# sibling-1x1 ------------------------------------------------------------------------------


def sibling_1x1_lever(rounds: int, rng: np.random.Generator) -> None:
    n_C_prev, widths, side = SIBLINGS
    bytes_per_example = side * side * n_C_prev * 4  # a 1x1 layer's im2col: the input itself
    chunk = len(chunk_bounds(32, bytes_per_example)[0])
    x = rng.standard_normal((chunk * side * side, n_C_prev), dtype=np.float32)
    ws = [rng.standard_normal((n_C_prev, n), dtype=np.float32) for n in widths]
    dzs = [rng.standard_normal((len(x), n), dtype=np.float32) for n in widths]
    w_all, dz_all = np.concatenate(ws, axis=1), np.concatenate(dzs, axis=1)

    def three() -> np.ndarray:
        [x @ w for w in ws], [x.T @ dz for dz in dzs]
        return sum(dz @ w.T for dz, w in zip(dzs, ws, strict=True))

    def one() -> np.ndarray:
        x @ w_all, x.T @ dz_all
        return dz_all @ w_all.T

    error = relative_error(one(), three())
    case = f"W4 {n_C_prev} -> {'+'.join(map(str, widths))}, chunk {chunk}"
    report("sibling-1x1", case, fastest({"three GEMMs": three, "one GEMM": one}, rounds), error)


# add-relu ---------------------------------------------------------------------------------


@compiled_loop
def _add_relu(z, shortcut, a):
    """A = max(Z + shortcut, 0) in one pass over flat arrays."""
    for k in range(z.size):
        total = z[k] + shortcut[k]
        a[k] = total if total > 0 else 0 * total  # 0 * NaN is NaN, as np.maximum keeps it


def add_relu_lever(rounds: int, rng: np.random.Generator) -> None:
    for batch, side, n_C in RESIDUAL_ENDS:
        add_relu_case(batch, side, n_C, rounds=rounds, rng=rng)


def add_relu_case(
    batch: int, side: int, n_C: int, *, rounds: int, rng: np.random.Generator
) -> None:
    chunk = len(chunk_bounds(batch, side * side * n_C * 4 * 3)[0])
    z, shortcut = rng.standard_normal((2, chunk * side * side * n_C), dtype=np.float32)

    def two_passes() -> np.ndarray:  # as the kernels run them: each its own output
        return np.maximum(np.add(z, shortcut), 0, out=np.empty_like(z))

    def one_pass() -> np.ndarray:
        out = np.empty_like(z)
        _add_relu(z, shortcut, out)
        return out

    error = relative_error(one_pass(), two_passes())
    candidates = {"Add, then ReLU": two_passes, "one loop": one_pass}
    case = f"W3 {side}x{side}x{n_C}, chunk {chunk}"
    report("add-relu", case, fastest(candidates, rounds), error)


LEVERS = {"winograd-dw": winograd_dw_lever, "sibling-1x1": sibling_1x1_lever,
          "add-relu": add_relu_lever}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--only", choices=sorted(LEVERS), nargs="+", help="default: every lever")
    args = parser.parse_args()
    emit({"setup": blas_report()})
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):  # one worker's chunk
        for name in args.only or LEVERS:
            LEVERS[name](args.rounds, rng)


if __name__ == "__main__":
    main()
