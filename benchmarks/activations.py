"""The activations of today's CNNs, forward and backward, equations against kernels.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/activations.py

One float32 batch (32, 28, 28, 64) through each activation, the cases
alternated within each of 7 rounds so that the machine's load falls on all
of them alike; prints the median forward and backward times in ms.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import convmath as cm
import convmath.functional as F

SHAPE = (32, 28, 28, 64)
CASES = {
    "relu equation": (F.relu, False),
    "relu kernel": (F.relu, True),
    "relu6 equation": (F.relu6, False),
    "hard_swish equation": (F.hard_swish, False),
    "silu equation": (F.silu, False),
    "gelu equation": (F.gelu, False),
    "gelu kernel": (F.gelu, True),
    "gelu tanh equation": (lambda t: F.gelu(t, "tanh"), False),
}


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    g = rng.standard_normal(SHAPE).astype(np.float32)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in CASES}
    for _ in range(7):
        for name, (op, kernels) in CASES.items():
            with cm.use_kernels(kernels):
                a = cm.Tensor(x, requires_grad=True)
                start = time.perf_counter()
                z = op(a)
                middle = time.perf_counter()
                z.backward(g)
                end = time.perf_counter()
            times[name].append((middle - start, end - middle))
    print(f"{SHAPE} float32, median of 7 rounds")
    for name, pairs in times.items():
        forward = statistics.median(p[0] for p in pairs) * 1e3
        backward = statistics.median(p[1] for p in pairs) * 1e3
        print(f"{name:20s} forward {forward:7.1f} ms  backward {backward:7.1f} ms")


if __name__ == "__main__":
    main()
