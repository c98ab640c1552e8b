"""The fast twins of the ops: chunks on worker threads, fusion, and the process settings.

Each kernel computes the same function as its op in ``convmath/ops/`` (a
subclass that says so in one line) and never changes the numbers beyond
float rounding; :mod:`convmath.kernels.registry` says which kernel runs for
which op. ``convmath.use_kernels(False)`` runs the plain equations instead.
"""

from convmath.dispatch import kernels_enabled, use_kernels
from convmath.kernels.parallel import get_threads, set_threads, using_threads
from convmath.kernels.registry import KERNELS, install

install()

__all__ = [
    "KERNELS",
    "get_threads",
    "kernels_enabled",
    "set_threads",
    "use_kernels",
    "using_threads",
]
