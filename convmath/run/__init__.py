"""Whole runs: the recipe from one configuration, the run folder, and trained models from files.

This layer sits above :mod:`convmath.train` (the loop, checkpoints, the
settings), :mod:`convmath.distributed` (MPI) and :mod:`convmath.interop`
(ONNX), and puts them together: :func:`run_training` is ``convmath train``,
:class:`RunFolder` holds its output folder, :func:`load_trained` reads a
checkpoint or an ONNX file for every command that takes a model, and
:func:`with_preprocessing` tells an ONNX file from elsewhere its own. Nothing
below imports it.
"""

from convmath.run.folder import RunFolder
from convmath.run.lr_find import RunLRFinding, run_lr_find
from convmath.run.told import with_preprocessing
from convmath.run.trained import load, load_onnx_trained, load_trained
from convmath.run.training import (
    PreparedRun,
    Resumed,
    RunResult,
    default_out_dir,
    prepare_run,
    read_resumed,
    run_training,
    write_results,
)
from convmath.train.config import TrainConfig

__all__ = [
    "PreparedRun",
    "Resumed",
    "RunFolder",
    "RunLRFinding",
    "RunResult",
    "TrainConfig",
    "default_out_dir",
    "load",
    "load_onnx_trained",
    "load_trained",
    "prepare_run",
    "read_resumed",
    "run_lr_find",
    "run_training",
    "with_preprocessing",
    "write_results",
]
