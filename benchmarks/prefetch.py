"""What does making the next batch on a thread of its own save a training epoch?

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/prefetch.py --data-dir DIR

Trains ``mnist-best``'s model, batch and augmentation (the recipe's
settings, on the first ``--images`` MNIST training images, one epoch, no dev
split) with the ``prefetch`` setting on and off, alternating, ``--rounds``
times in one process after a warm-up epoch each. Prints one JSON line per
epoch and then the images a second of each, the best round against the best
and the median against the median, with their ratio; and checks that both
trained the same weights (the batches are the same bits either way).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

import convmath as cm
from convmath.kernels.parallel import using_threads
from convmath.kernels.runtime import tune_allocator
from convmath.run import prepare_run
from convmath.train.config import recipe_config


def one_epoch(args: argparse.Namespace, prefetch: bool) -> tuple[float, dict[str, np.ndarray]]:
    """Seconds of one training epoch (the trainer's own figure), and the weights it trained."""
    config = recipe_config(
        args.recipe,
        epochs=1,
        dev_fraction=0.0,
        train_limit=args.images,
        data_dir=args.data_dir,
        warmup_epochs=0.0,
    ).checked()
    trainer = prepare_run(config, log=lambda line: None).trainer
    with cm.settings(prefetch=prefetch), using_threads():
        state = trainer.fit()
    return state.history[-1]["seconds"], trainer.model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding mnist/ (default: CONVMATH_DATA)")
    parser.add_argument("--recipe", default="mnist-best")
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tune_allocator()
    emit({"setup": blas_report(), "recipe": args.recipe, "images": args.images})
    one_epoch(args, True)  # warm-up: numba's compiled loops, the allocator, the data's pages
    one_epoch(args, False)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    weights: dict[bool, dict[str, np.ndarray]] = {}
    for round_ in range(args.rounds):
        for prefetch in (True, False) if round_ % 2 == 0 else (False, True):
            started = time.perf_counter()
            took, weights[prefetch] = one_epoch(args, prefetch)
            seconds[prefetch].append(took)
            emit(
                {
                    "round": round_,
                    "prefetch": prefetch,
                    "epoch_seconds": took,
                    "images_per_second": args.images / took,
                    "wall_seconds": time.perf_counter() - started,
                }
            )
    same = all(np.array_equal(weights[True][k], weights[False][k]) for k in weights[True])
    best = {p: args.images / min(s) for p, s in seconds.items()}
    median = {p: args.images / statistics.median(s) for p, s in seconds.items()}
    emit({"images_per_second_best": best, "images_per_second_median": median, "same": same})
    print(
        f"{args.recipe}, {args.images} images an epoch: prefetched {best[True]:.0f} images/s,"
        f" in turn {best[False]:.0f} (best rounds: {best[True] / best[False]:.2f}x; medians"
        f" {median[True] / median[False]:.2f}x); the same weights: {same}"
    )
    if not same:
        raise SystemExit("prefetched and in-turn batches trained different weights")


if __name__ == "__main__":
    main()
