"""convmath: convolutional neural networks from first principles, on NumPy.

The mathematics of CNNs is the code: ``convmath.functional`` holds every
operation with its forward and backward side by side, and ``convmath.Tensor``
carries gradients through them by reverse-mode back propagation.
``convmath/ops/`` writes each op as its equation; ``convmath/kernels/``
holds the fast twins that run by default (``use_kernels(False)`` runs the
equations instead). ``save(model, path)`` and ``load(path)`` write and read
the one model file that every command reads too. ``settings(...)`` and
``configure(...)`` hold every switch of the engine (``convmath.switchboard``).
Whole runs are one import away: ``convmath.run_training`` and
``convmath.load_trained`` (from :mod:`convmath.run`).
"""

from convmath import functional, ops
from convmath.errors import (
    CheckpointError,
    ConvMathError,
    DataError,
    DTypeError,
    GradientError,
    InvalidArgumentError,
    NonFiniteError,
    ShapeError,
    TimeBudgetError,
)
from convmath.kernels import get_threads, kernels_enabled, set_threads, use_kernels, using_threads
from convmath.run import RunResult, load, load_trained, run_training
from convmath.switchboard import Settings, configure, current_settings, settings, time_budget
from convmath.tensor import Function, Tensor, is_grad_enabled, no_grad, strict_mode
from convmath.train import TrainConfig, fit
from convmath.train.model_file import save
from convmath.version import __version__

__all__ = [
    "CheckpointError",
    "ConvMathError",
    "DTypeError",
    "DataError",
    "Function",
    "GradientError",
    "InvalidArgumentError",
    "NonFiniteError",
    "RunResult",
    "Settings",
    "ShapeError",
    "Tensor",
    "TimeBudgetError",
    "TrainConfig",
    "__version__",
    "configure",
    "current_settings",
    "fit",
    "functional",
    "get_threads",
    "is_grad_enabled",
    "kernels_enabled",
    "load",
    "load_trained",
    "no_grad",
    "ops",
    "run_training",
    "save",
    "set_threads",
    "settings",
    "strict_mode",
    "time_budget",
    "use_kernels",
    "using_threads",
]
