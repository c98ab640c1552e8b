"""Training and inference speed of W1-W4 in convmath, next to PyTorch in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py

For each workload of benchmarks/WORKLOADS.md it times a training step and
an inference step (median of at least 20 steps and 1 s, after warm-up) in
convmath and, when torch is installed, in PyTorch with its default and its
channels-last memory format, alternating the three in every round so that
the shared machine's noise hits all alike. It reports images/s, the ratio of
convmath to the better PyTorch layout, achieved GFLOP/s and the percentage
of NumPy's float32 GEMM peak measured in the same run (the best of its
measurements before the workloads and after each), and (``--memory``)
the peak memory of a training step, each measured in a fresh process. One
JSON line per measurement, then a table.

convmath runs twice: with its kernels' measured rules ("convmath", what
``convmath train`` does by default) and with every layer's algorithm chosen
by timing the candidates on its first steps ("tuned", ``convmath train
--autotune``, :mod:`convmath.kernels.autotune`); the choices that timing
made are listed after the table (``--no-autotune``: the rules alone). With
``--numpy-tier`` a third convmath column runs with the compiled kernel tier
off (``compiled=False``: today's NumPy kernels), alternating with the others.
``--best N`` keeps each round's fastest of N steps instead of the median of at
least 20: on a machine that others load, the steps they disturbed least.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_seconds, blas_report, emit, median_seconds
from workloads import SPECS, convmath_workload, torch_workload

FRAMEWORKS = ("convmath", "convmath-tuned", "convmath-numpy", "torch", "torch-cl")


def gemm_peak(n: int = 2048, repeats: int = 5) -> float:
    """NumPy float32 square GEMM GFLOP/s (best of ``repeats``)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def build(name: str, framework: str):
    if framework.startswith("convmath"):
        return convmath_workload(name)
    return torch_workload(name, channels_last=framework == "torch-cl")


def resident_peak_kib() -> int:
    """This process's peak resident memory (VmHWM, which unlike ru_maxrss restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def conditions(framework: str) -> tuple[str, dict[str, bool]]:
    """The kernel policy and the settings a column runs under (convmath's three differ)."""
    policy = "measure" if framework == "convmath-tuned" else "rule"
    tier = {"compiled": False} if framework == "convmath-numpy" else {}
    return policy, tier


def peak_memory_mib(name: str, framework: str, threads: int) -> float:
    """Extra peak resident memory of 3 training steps over the set-up, in a fresh process (MiB).

    The set-up imports the libraries a step runs on, numba too where the compiled tier runs
    (imported by the first compiled loop otherwise), as PyTorch's are: the steps' own memory.
    """
    code = f"""
import importlib.util, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from run import build, conditions, resident_peak_kib
from convmath import settings
from convmath.kernels import autotune
from convmath.kernels.parallel import set_threads
set_threads({threads})
policy, tier = conditions({framework!r})
if {framework.startswith("convmath")!r} and tier.get("compiled", True):
    if importlib.util.find_spec("numba"):
        import numba
w = build({name!r}, {framework!r})
before = resident_peak_kib()
with autotune.using_policy(policy), settings(**tier):
    for _ in range(3):
        w.train_step()
print((resident_peak_kib() - before) / 1024)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads", default=",".join(SPECS), help="comma list of " + ", ".join(SPECS)
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument(
        "--threads", type=int, default=2, help="convmath workers and torch threads (default 2)"
    )
    parser.add_argument("--no-torch", action="store_true", help="convmath alone")
    parser.add_argument("--memory", action="store_true", help="also peak memory of a training step")
    parser.add_argument(
        "--no-autotune", action="store_true", help="convmath with its rules only, not tuned"
    )
    parser.add_argument(
        "--numpy-tier", action="store_true", help="also convmath with the compiled tier off"
    )
    parser.add_argument(
        "--best",
        type=int,
        metavar="N",
        help="time N steps per round and keep the fastest, not the median (a loaded machine)",
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from convmath import settings
    from convmath.kernels import autotune
    from convmath.kernels.parallel import set_threads
    from convmath.kernels.runtime import tune_allocator

    threadpool_limits(args.threads, user_api="blas")  # for the GEMM peak
    setup_allocator = tune_allocator()  # as `convmath train` does; PyTorch shares the process
    frameworks = ["convmath"] if args.no_autotune else ["convmath", "convmath-tuned"]
    if args.numpy_tier:
        frameworks.append("convmath-numpy")
    setup = blas_report()
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            frameworks += ["torch", "torch-cl"]
            setup["torch"] = torch.__version__
            setup["torch_threads"] = torch.get_num_threads()
        except ImportError:
            setup["torch"] = "not installed"
    peak = gemm_peak()
    setup["gemm_peak_gflops"] = round(peak, 1)
    set_threads(args.threads)  # as the commands do: convmath's workers, BLAS single-threaded
    setup["convmath_workers"] = args.threads
    setup["glibc_allocator_tuned"] = setup_allocator
    emit({"setup": setup})

    results: dict[tuple[str, str, str], float] = {}
    tuned: dict[str, list[str]] = {}
    for name in args.workloads.split(","):
        workloads = {fw: build(name, fw) for fw in frameworks}
        autotune.clear()
        for round_ in range(args.rounds):
            # each round starts one framework later: none always runs right after PyTorch,
            # whose threads keep spinning for a while after its last step
            start = round_ % len(frameworks)
            for fw in frameworks[start:] + frameworks[:start]:
                w = workloads[fw]
                warmup = 3 if fw.startswith("convmath") else 5  # (tuning: in the first warm-up)
                policy, tier = conditions(fw)
                for mode, step in (("train", w.train_step), ("infer", w.infer_step)):
                    with autotune.using_policy(policy), settings(**tier):
                        if args.best:
                            seconds = best_seconds(step, warmup=warmup, repeats=args.best)
                        else:
                            seconds = median_seconds(step, warmup=warmup)
                        rate = w.batch / seconds
                    key = (name, fw, mode)
                    results[key] = max(results.get(key, 0.0), rate)
                    emit({"workload": name, "framework": fw, "mode": mode, "images_per_s": rate})
        for choice in autotune.choices("measure"):
            if choice.seconds:
                tuned.setdefault(name, []).append(choice.line())
                emit({"workload": name, "tuned": choice.op, "layer": choice.layer,
                      "algorithm": choice.algorithm, "seconds": choice.seconds})  # fmt: skip
        del workloads
        with threadpool_limits(args.threads, user_api="blas"):  # BLAS's threads for the peak
            peak = max(peak, gemm_peak())  # again after each workload: one noisy moment, no peak
        emit({"gemm_peak_gflops": round(peak, 1), "after": name})
        setup["gemm_peak_gflops"] = round(peak, 1)

    rows = []
    for name in args.workloads.split(","):
        _batch, _, mflop = SPECS[name]
        for mode in ("train", "infer"):
            ours = results[(name, "convmath", mode)]
            flop = mflop * 1e6 * (3 if mode == "train" else 1)
            row = {
                "workload": name,
                "mode": mode,
                "convmath_images_per_s": round(ours, 1),
                "gflops": round(ours * flop / 1e9, 1),
                "percent_of_gemm_peak": round(100 * ours * flop / 1e9 / peak, 1),
            }
            if "convmath-tuned" in frameworks:
                row["tuned_images_per_s"] = round(results[(name, "convmath-tuned", mode)], 1)
            if "convmath-numpy" in frameworks:
                row["numpy_tier_images_per_s"] = round(results[(name, "convmath-numpy", mode)], 1)
            if "torch" in frameworks:
                theirs = max(results[(name, "torch", mode)], results[(name, "torch-cl", mode)])
                if "convmath-numpy" in frameworks:
                    row["numpy_tier_ratio"] = round(row["numpy_tier_images_per_s"] / theirs, 2)
                row |= {
                    "torch_images_per_s": round(results[(name, "torch", mode)], 1),
                    "torch_cl_images_per_s": round(results[(name, "torch-cl", mode)], 1),
                    "ratio_to_best_torch": round(ours / theirs, 2),
                }
                if "convmath-tuned" in frameworks:
                    row["tuned_ratio_to_best_torch"] = round(row["tuned_images_per_s"] / theirs, 2)
            rows.append(row)
            emit({"summary": row})
    memory = {}
    if args.memory:
        for fw in frameworks:
            memory[fw] = peak_memory_mib("W3", fw, args.threads)
            emit({"memory": "W3 train step", "framework": fw, "peak_extra_mib": memory[fw]})

    print(f"\nGEMM peak (float32, {args.threads} threads): {peak:.0f} GFLOP/s;"
          f" BLAS {setup.get('blas')} ({setup.get('kernel')})")  # fmt: skip
    header = f"{'workload':<9} {'mode':<6} {'convmath img/s':>15} {'GFLOP/s':>8} {'% peak':>7}"
    if "convmath-tuned" in frameworks:
        header += f" {'tuned':>9}"
    if "torch" in frameworks:
        header += f" {'torch':>9} {'torch CL':>9} {'ratio':>6}"
        if "convmath-tuned" in frameworks:
            header += f" {'tuned ratio':>11}"
        if "convmath-numpy" in frameworks:
            header += f" {'numpy tier':>10} {'numpy ratio':>11}"
    print(header)
    for row in rows:
        line = (
            f"{row['workload']:<9} {row['mode']:<6} {row['convmath_images_per_s']:>15,.0f}"
            f" {row['gflops']:>8.1f} {row['percent_of_gemm_peak']:>7.1f}"
        )
        if "convmath-tuned" in frameworks:
            line += f" {row['tuned_images_per_s']:>9,.0f}"
        if "torch" in frameworks:
            line += (
                f" {row['torch_images_per_s']:>9,.0f} {row['torch_cl_images_per_s']:>9,.0f}"
                f" {row['ratio_to_best_torch']:>6.2f}"
            )
            if "convmath-tuned" in frameworks:
                line += f" {row['tuned_ratio_to_best_torch']:>11.2f}"
            if "convmath-numpy" in frameworks:
                line += (
                    f" {row['numpy_tier_images_per_s']:>10,.0f} {row['numpy_tier_ratio']:>11.2f}"
                )
        print(line)
    for name, lines in tuned.items():
        print(f"\n{name}, layers whose algorithm timing chose (best of {autotune.REPEATS} runs):")
        for line in lines:
            print(f"  {line}")
    if memory:
        extra = ", ".join(f"{fw} {mib:.0f} MiB" for fw, mib in memory.items())
        print(f"peak extra memory of a W3 training step: {extra}")


if __name__ == "__main__":
    main()
