"""The learning-rate range test of a whole run's configuration: ``convmath lr-find``."""

from __future__ import annotations

from dataclasses import dataclass

from convmath.distributed import world
from convmath.errors import InvalidArgumentError
from convmath.run.training import PreparedRun, prepare_run
from convmath.train.config import TrainConfig
from convmath.train.lr_find import END_LR, START_LR, STEPS, LRFinding, lr_find


@dataclass(frozen=True)
class RunLRFinding:
    """The range test's record, and the run it was made with (model, batches, optimizer)."""

    finding: LRFinding
    run: PreparedRun


def run_lr_find(
    config: TrainConfig,
    *,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    steps: int = STEPS,
    progress: bool | None = None,
) -> RunLRFinding:
    """The range test (:func:`convmath.train.lr_find`) on what ``config`` would train.

    The model, its initial weights, the training split (without the dev
    images), the batches, augmentation, optimizer, loss and clipping are
    those of ``run_training(config)`` with the same seed; the settings of the
    run's length and schedule (epochs, lr, schedule...) play no part, since
    the test sets the rate itself. Nothing is written.

    It runs in one process: started by an MPI launcher on several, every rank
    refuses (the rate it finds serves a data-parallel run of the same global batch).
    """
    processes = world()
    if processes.size > 1:
        raise InvalidArgumentError(
            f"the learning-rate range test runs in one process, not {processes.size}: start it"
            " without mpiexec (the rate it finds serves a data-parallel run of the same global"
            " batch)"
        )
    prepared = prepare_run(config.checked(), log=lambda line: None)
    finding = lr_find(
        prepared.trainer, start_lr=start_lr, end_lr=end_lr, steps=steps, progress=progress
    )
    return RunLRFinding(finding, prepared)
