"""The kernel tiers a test can run: today's NumPy kernels, or their compiled twins (numba)."""

import contextlib

import pytest

import convmath as cm
from convmath.kernels import compiled, registry, rules

TIERS = ["numpy", "compiled"]


@contextlib.contextmanager
def entered(tier):
    """``convmath.settings`` for ``tier``; skips the test where it cannot run (no numba).

    In the compiled tier every compiled loop runs, whatever the rules leave to NumPy on few
    channels (the case tables' volumes have 2 to 4).
    """
    if tier == "compiled" and not compiled.INSTALLED:
        pytest.skip("numba is not installed (pip install convmath[compiled])")
    least = rules.COMPILED_POOL_MIN_CHANNELS
    rules.COMPILED_POOL_MIN_CHANNELS = 1
    try:
        with cm.settings(compiled=tier == "compiled"):
            yield
    finally:
        rules.COMPILED_POOL_MIN_CHANNELS = least


def tier_kernel(kernel, tier):
    """The class that runs for ``kernel`` in ``tier``: itself, or its compiled twin."""
    return registry.COMPILED.get(kernel, kernel) if tier == "compiled" else kernel
