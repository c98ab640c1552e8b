"""convmath: convolutional neural networks from first principles, on NumPy.

The mathematics of CNNs is the code: ``convmath.functional`` holds every
operation with its forward and backward side by side, and ``convmath.Tensor``
carries gradients through them by reverse-mode back propagation.
``convmath/ops/`` writes each op as its equation; ``convmath/kernels/``
holds the fast twins that run by default (``use_kernels(False)`` runs the
equations instead). ``save(model, path)`` and ``load(path)`` write and read
the one model file that every command reads too. ``settings(...)`` and
``configure(...)`` hold every switch of the engine (``convmath.switchboard``).
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
)
from convmath.kernels import get_threads, kernels_enabled, set_threads, use_kernels, using_threads
from convmath.switchboard import Settings, configure, current_settings, settings
from convmath.tensor import Function, Tensor, is_grad_enabled, no_grad, strict_mode
from convmath.train.model_file import load, save

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConvMathError",
    "DTypeError",
    "DataError",
    "Function",
    "GradientError",
    "InvalidArgumentError",
    "NonFiniteError",
    "Settings",
    "ShapeError",
    "Tensor",
    "configure",
    "current_settings",
    "functional",
    "get_threads",
    "is_grad_enabled",
    "kernels_enabled",
    "load",
    "no_grad",
    "ops",
    "save",
    "set_threads",
    "settings",
    "strict_mode",
    "use_kernels",
    "using_threads",
]
