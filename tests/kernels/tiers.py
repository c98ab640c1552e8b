"""The kernel tiers a test can run: today's NumPy kernels, or their compiled twins (numba)."""

import pytest

import convmath as cm
from convmath.kernels import compiled, registry

TIERS = ["numpy", "compiled"]


def entered(tier):
    """``convmath.settings`` for ``tier``; skips the test where it cannot run (no numba)."""
    if tier == "compiled" and not compiled.INSTALLED:
        pytest.skip("numba is not installed (pip install convmath[compiled])")
    return cm.settings(compiled=tier == "compiled")


def tier_kernel(kernel, tier):
    """The class that runs for ``kernel`` in ``tier``: itself, or its compiled twin."""
    return registry.COMPILED.get(kernel, kernel) if tier == "compiled" else kernel
