"""Run under mpiexec by the tests: rank 1 alone raises in an epoch callback.

    mpiexec -n 2 python raising_callback.py OUT

Without the world's stop-all-on-error, rank 0 would wait for rank 1 forever.
"""

from __future__ import annotations

import sys
from pathlib import Path

from convmath.distributed import world
from convmath.run import TrainConfig, run_training


def fail_on_rank_1(trainer, row) -> None:
    if world().rank == 1:
        raise RuntimeError("a callback of rank 1 failed")


if __name__ == "__main__":
    config = TrainConfig(epochs=3, train_limit=200, seed=1)
    run_training(config, Path(sys.argv[1]), on_epoch=[fail_on_rank_1], log=lambda _: None)
