"""Where a workload's step time goes, op by op: the profile behind the README's performance notes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_ops.py --workload W3

Runs a workload of benchmarks/WORKLOADS.md (see benchmarks/workloads.py) on
convmath's worker threads, times every op's forward and backward (wall
clock, so work done on the workers counts), and prints the median step time
and each op's share, convolutions split by their shapes, and what is left
outside the ops: the engine's bookkeeping (graph, dispatch, modules), the
optimizer and the Python between them, the most that a recorded step,
replaying the kernels without the engine, could save. One JSON line per op,
then a table.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit
from workloads import SPECS, convmath_workload

import convmath
from convmath.kernels.runtime import tune_allocator
from convmath.tensor import Function


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def _label(op: Function, method: str) -> str:
    im2col = getattr(op, "im2col", None)
    if im2col is None:
        return f"{type(op).__name__}.{method}"
    (_, h, w, c), (f_h, f_w, _, n_c) = im2col.a_shape, im2col.w_shape
    return f"{type(op).__name__}.{method} {h}x{w}x{c} -> {n_c}, {f_h}x{f_w} s{im2col.stride[0]}"


def instrument(totals: dict[str, float], counts: dict[str, int]) -> None:
    """Wrap every op's forward and backward with a timer that adds into ``totals``."""
    running: set[tuple[int, str]] = set()
    for cls in _subclasses(Function):
        for method in ("forward", "backward"):
            if method not in cls.__dict__:
                continue

            def timed(self, *args, _original=cls.__dict__[method], _method=method, **kwargs):
                if (id(self), _method) in running:  # a kernel calling its op's method: time once
                    return _original(self, *args, **kwargs)
                running.add((id(self), _method))
                started = time.perf_counter()
                try:
                    result = _original(self, *args, **kwargs)
                finally:
                    running.discard((id(self), _method))
                label = _label(self, _method)
                totals[label] += time.perf_counter() - started
                counts[label] += 1
                return result

            setattr(cls, method, functools.wraps(cls.__dict__[method])(timed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="W3", choices=list(SPECS))
    parser.add_argument("--mode", default="train", choices=["train", "infer"])
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="convmath workers (default 2); 0: the library default, BLAS's own threads",
    )
    parser.add_argument("--steps", type=int, default=10, help="profiled steps (default 10)")
    args = parser.parse_args()

    tune_allocator()
    convmath.set_threads(args.threads or None)
    totals: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.defaultdict(int)
    instrument(totals, counts)
    workload = convmath_workload(args.workload)
    step = workload.train_step if args.mode == "train" else workload.infer_step
    for _ in range(3):
        step()
    totals.clear()
    counts.clear()
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    step_ms = 1000 * sorted(times)[len(times) // 2]
    emit({"setup": blas_report() | {"workers": args.threads or "default"}})
    emit({"workload": args.workload, "mode": args.mode, "median_step_ms": round(step_ms, 2)})
    rows = sorted(totals.items(), key=lambda item: -item[1])
    for label, seconds in rows:
        emit({"op": label, "ms_per_step": round(1000 * seconds / args.steps, 3),
              "calls_per_step": counts[label] // args.steps})  # fmt: skip

    print(f"\n{args.workload} {args.mode}, batch {workload.batch}: median step {step_ms:.1f} ms"
          f" ({workload.batch / step_ms * 1000:,.0f} img/s),"
          f" {args.threads or 'no'} workers")  # fmt: skip
    print(f"{'op':<58} {'ms/step':>8} {'share':>6} {'calls':>6}")
    for label, seconds in rows:
        per_step = 1000 * seconds / args.steps
        print(f"{label:<58} {per_step:>8.2f} {per_step / step_ms:>6.1%}"
              f" {counts[label] // args.steps:>6}")  # fmt: skip
    mean_step_ms = 1000 * sum(times) / len(times)  # the op totals are sums: compare with a mean
    outside = mean_step_ms - 1000 * sum(totals.values()) / args.steps
    emit({"outside_ops_ms_per_step": round(outside, 3), "mean_step_ms": round(mean_step_ms, 2)})
    print(
        f"{'outside the ops: engine, optimizer, Python':<58} {outside:>8.2f}"
        f" {outside / mean_step_ms:>6.1%}  (of the mean step, {mean_step_ms:.1f} ms)"
    )


if __name__ == "__main__":
    main()
