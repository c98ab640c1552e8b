"""The ``tier`` fixture: a test run once with today's NumPy kernels, once with the compiled tier."""

import pytest
from tiers import TIERS, entered


@pytest.fixture(params=TIERS)
def tier(request):
    """The tier's name; the compiled one skips where numba is not installed."""
    with entered(request.param):
        yield request.param
