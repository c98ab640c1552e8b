"""Each 3x3 stride-1 layer of W2-W4 by im2col, Winograd with NumPy transforms, and compiled ones.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/winograd_tiers.py --rounds 7

The three alternate round by round and each keeps its fastest forward (no
gradient) and forward + backward (dA_prev and dW), so that a loaded machine
disturbs them alike; this is how the compiled tier's Winograd thresholds in
convmath/kernels/rules.py were measured (--threads 1 and 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

import convmath as cm
import convmath.functional as F
from convmath.kernels import rules
from convmath.kernels.runtime import tune_allocator

LAYERS = [  # (name, batch, n_H, n_C_prev, n_C, padding)
    ("W3 stage 1", 128, 32, 16, 16, 1),
    ("W3 stage 2", 128, 16, 32, 32, 1),
    ("W3 stage 3", 128, 8, 64, 64, 1),
    ("W2 conv2", 128, 28, 32, 64, 0),
    ("W4 3x3", 32, 28, 96, 128, 1),
    ("16x16 16->16", 128, 16, 16, 16, 1),
    ("8x8 32->32", 128, 8, 32, 32, 1),
]
THRESHOLDS = [
    "WINOGRAD_MIN_CHANNELS",
    "WINOGRAD_MIN_POSITIONS",
    "WINOGRAD_MIN_CHANNELS_COMPILED",
    "WINOGRAD_MIN_POSITIONS_COMPILED",
]
VARIANTS = {  # name: (compiled tier, the thresholds: Winograd never or always)
    "im2col": (False, 1 << 30),
    "numpy winograd": (False, 1),
    "compiled winograd": (True, 1),
}


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tune_allocator()
    cm.set_threads(args.threads)
    emit({"setup": blas_report() | {"workers": args.threads}})
    rng = np.random.default_rng(0)
    defaults = [getattr(rules, name) for name in THRESHOLDS]
    for name, batch, size, n_c_prev, n_c, padding in LAYERS:
        x = rng.standard_normal((batch, size, size, n_c_prev)).astype(np.float32)
        w = (rng.standard_normal((3, 3, n_c_prev, n_c)) / np.sqrt(9 * n_c_prev)).astype(np.float32)
        a, k = cm.Tensor(x, requires_grad=True), cm.Tensor(w, requires_grad=True)

        def forward() -> None:
            with cm.no_grad():
                F.conv2d(a, k, padding=padding)  # noqa: B023 (run within its loop)

        def forward_backward() -> None:
            z = F.conv2d(a, k, padding=padding)  # noqa: B023
            z.backward(np.ones(z.shape, np.float32))

        best = {variant: [np.inf, np.inf] for variant in VARIANTS}
        for _ in range(args.rounds):
            for variant, (compiled, threshold) in VARIANTS.items():
                for rule in THRESHOLDS:
                    setattr(rules, rule, threshold)
                with cm.settings(compiled=compiled):
                    best[variant][0] = min(best[variant][0], timed(forward))
                    best[variant][1] = min(best[variant][1], timed(forward_backward))
        for rule, value in zip(THRESHOLDS, defaults, strict=True):
            setattr(rules, rule, value)
        for variant, (fwd, both) in best.items():
            emit({"layer": name, "variant": variant, "fwd_ms": fwd * 1e3, "fwd_bwd_ms": both * 1e3})
        print(f"{name:<14} " + "  ".join(
            f"{v}: fwd {f * 1e3:6.1f} f+b {b * 1e3:6.1f} ms" for v, (f, b) in best.items()
        ), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
