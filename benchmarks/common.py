"""Shared helpers of the benchmark scripts: timing, BLAS report, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from convmath.kernels.compiled import status


def blas_report() -> dict:
    """Which BLAS NumPy uses, its kernel and threads (threadpoolctl), and the env overrides."""
    report = {
        "compiled": status(),  # the compiled kernel tier: on, or why not
        "numpy": np.__version__,
        "python": platform.python_version(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        report["blas"] = "unknown (pip install threadpoolctl)"
        return report
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            report["blas"] = f"{pool.get('internal_api')} {pool.get('version')}"
            report["kernel"] = pool.get("architecture")
            report["threads"] = pool.get("num_threads")
            break
    return report


def median_seconds(step: Callable[[], object], warmup: int = 3, repeats: int = 20) -> float:
    """Median wall time of ``step`` after ``warmup`` calls; at least ``repeats`` timed calls
    and at least one second in total."""
    for _ in range(warmup):
        step()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - started < 1.0:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def best_seconds(step: Callable[[], object], warmup: int = 2, repeats: int = 5) -> float:
    """The fastest of ``repeats`` timed calls of ``step`` after ``warmup``: on a machine that
    others load, the step least disturbed by them (run.py --best)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return min(times)


def emit(record: dict) -> None:
    """One JSON line per measurement, for scripts comparing runs."""
    print(json.dumps(record, sort_keys=True))
