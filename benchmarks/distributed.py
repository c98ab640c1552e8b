"""Data-parallel training over MPI on this machine, measured, and projected to clusters.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/distributed.py

1. Training throughput of W2 and W3 (benchmarks/WORKLOADS.md, global batch
   128) at 1 and 2 ranks with 1 worker thread each, against 1 process with
   2 threads, all in the same run: each rank computes its share of the batch,
   the gradients are summed with one Allreduce (convmath.distributed), then
   SGD steps.
2. The time of one Allreduce of a float32 buffer between 2 ranks, 64 KB to 64 MB.
3. A projection of W3's scaling efficiency to 8, 64 and 256 machines at 10 and
   100 Gbit/s with a ring allreduce: t = 2 (N-1)/N * bytes / bandwidth
   + 2 (N-1) * latency, each machine keeping a share of 128 images (weak scaling).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import blas_report

WORKLOADS = ("W2", "W3")
BATCH = 128
SIZES = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
# Assumed per-message latencies of the two networks (a hop of the ring), seconds.
NETWORKS = {"10 Gbit/s": (10e9 / 8, 20e-6), "100 Gbit/s": (100e9 / 8, 5e-6)}


def _timed(step, repeats: int, barrier) -> float:
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        barrier()
        started = time.perf_counter()
        step()
        barrier()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker(name: str, threads: int, repeats: int) -> None:
    """One rank (or the only process): time training steps on its share of the batch."""
    from workloads import SPECS, _convmath_model

    import convmath as cm
    import convmath.functional as F
    from convmath import optim
    from convmath.distributed import DataParallel, world
    from convmath.kernels.parallel import set_threads

    set_threads(threads)
    ranks = world()
    replicas = DataParallel(ranks, seed=0)
    _, shape, mflop = SPECS[name]
    rng = np.random.default_rng(0)
    model = _convmath_model(name, rng)
    share = ranks.share(BATCH)
    X = rng.standard_normal((BATCH, *shape)).astype(np.float32)[share]
    labels = rng.integers(0, 10, BATCH)[share]
    opt = optim.SGD(model.parameters(), 0.01, momentum=0.9)
    params = model.parameters()
    allreduce_seconds = []

    def step() -> None:
        model.train()
        opt.zero_grad()
        loss = F.softmax_cross_entropy(model(cm.Tensor(X)), labels)
        loss.backward()
        if replicas.active:
            started = time.perf_counter()
            replicas.average_gradients(params, loss.item(), 0, len(labels))
            allreduce_seconds.append(time.perf_counter() - started)
        opt.step()

    seconds = _timed(step, repeats, ranks.barrier)
    if ranks.is_root:
        record = {
            "workload": name,
            "ranks": ranks.size,
            "threads": threads,
            "step_ms": seconds * 1e3,
            "images_per_second": BATCH / seconds,
            "gradient_bytes": 4 * sum(p.size for p in params),
            "train_gflops": 3 * mflop * 1e6 * BATCH / seconds / 1e9,
        }
        if allreduce_seconds:
            record["allreduce_ms"] = statistics.median(allreduce_seconds) * 1e3
        print(json.dumps(record))


def allreduce(repeats: int) -> None:
    from convmath.distributed import world

    ranks = world()
    for size in SIZES:
        buffer = np.ones(size // 4, dtype=np.float32)
        seconds = _timed(lambda b=buffer: ranks.sum(b), repeats, ranks.barrier)
        if ranks.is_root:
            print(json.dumps({"allreduce_bytes": size, "ms": seconds * 1e3, "ranks": ranks.size}))


def _run(arguments: list[str], ranks: int | None) -> list[dict]:
    command = [sys.executable, __file__, *arguments]
    if ranks is not None:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
        if mpiexec is None:
            raise SystemExit("needs mpiexec: pip install 'convmath[mpi]'")
        command = [mpiexec, "-n", str(ranks), *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def project(step_seconds: float, gradient_bytes: int) -> list[str]:
    """W3's efficiency at N machines: compute / (compute + ring allreduce), no overlap."""
    lines = [f"{'machines':>8}  " + "  ".join(f"{net:>22}" for net in NETWORKS)]
    for n in (8, 64, 256):
        cells = []
        for bandwidth, latency in NETWORKS.values():
            comm = 2 * (n - 1) / n * gradient_bytes / bandwidth + 2 * (n - 1) * latency
            efficiency = step_seconds / (step_seconds + comm)
            cells.append(f"{efficiency:6.1%} ({comm * 1e3:5.2f} ms comm)")
        lines.append(f"{n:>8}  " + "  ".join(f"{c:>22}" for c in cells))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=WORKLOADS)
    parser.add_argument("--allreduce", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.threads, args.repeats)
    if args.allreduce:
        return allreduce(args.repeats * 3)
    print(json.dumps({"blas": blas_report(), "cpus": os.cpu_count()}))
    rows = {}
    for name in WORKLOADS:
        for label, ranks, threads in (("1 process, 1 thread", None, 1),
                                      ("1 process, 2 threads", None, 2),
                                      ("2 ranks, 1 thread each", 2, 1)):  # fmt: skip
            record = _run(["--worker", name, "--threads", str(threads), "--repeats",
                           str(args.repeats)], ranks)[0]  # fmt: skip
            rows[name, label] = record
            print(json.dumps(record))
    print(
        f"\n{'workload':<8} {'setting':<24} {'images/s':>9} {'vs 2 threads':>12} {'allreduce':>10}"
    )
    for (name, label), record in rows.items():
        ratio = (
            record["images_per_second"] / rows[name, "1 process, 2 threads"]["images_per_second"]
        )
        reduce = f"{record['allreduce_ms']:.2f} ms" if "allreduce_ms" in record else ""
        rate = record["images_per_second"]
        print(f"{name:<8} {label:<24} {rate:>9.0f} {ratio:>11.2f}x {reduce:>10}")
    print(f"\n{'Allreduce (2 ranks)':<20} {'ms':>8} {'GB/s':>7}")
    for record in _run(["--allreduce", "--repeats", str(args.repeats)], 2):
        size = record["allreduce_bytes"]
        rate = size / (record["ms"] / 1e3) / 1e9
        print(f"{size >> 10:>16} KB {record['ms']:>8.3f} {rate:>7.2f}")
    w3 = rows["W3", "1 process, 1 thread"]
    print(f"\nW3 projected (a share of {BATCH} images per machine, {w3['step_ms']:.0f} ms of"
          f" compute, {w3['gradient_bytes'] / 1e6:.2f} MB of gradients):")  # fmt: skip
    print("\n".join(project(w3["step_ms"] / 1e3, w3["gradient_bytes"])))


if __name__ == "__main__":
    main()
