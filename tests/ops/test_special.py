"""erf, erfc and Phi in NumPy alone, against Python's math module (float64) and by float32."""

import math

import numpy as np
import pytest

from convmath.ops.special import erf, erfc, normal_cdf

GRID = np.concatenate([np.linspace(-30, 30, 6001), [-1.0, 1.0, 8.0, -8.0, 0.0, 1e-300, -1e-12]])


def test_erf_agrees_with_math_erf_to_float64_rounding():
    expected = np.array([math.erf(x) for x in GRID])
    np.testing.assert_allclose(erf(GRID), expected, rtol=0, atol=4e-16)


def test_erfc_is_relatively_precise_in_the_tail():
    expected = np.array([math.erfc(x) for x in GRID])
    tiny = expected > 1e-300  # math.erfc underflows to 0 past x = 26.5, as ours does
    relative = np.abs(erfc(GRID)[tiny] - expected[tiny]) / expected[tiny]
    # 1 - erf(x) below 1 cancels a little; far out exp(-x^2) inherits x^2 ulps of rounding
    assert (relative <= 4.5e-16 * (4 + GRID[tiny] ** 2)).all(), relative.max()
    assert (erfc(GRID)[~tiny] < 1e-300).all()


def test_phi_keeps_the_dtype_and_is_precise_in_float32():
    z = np.linspace(-8, 8, 1601)
    expected = np.array([math.erfc(-v / math.sqrt(2)) / 2 for v in z])
    assert normal_cdf(z.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(normal_cdf(z.astype(np.float32)), expected, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(normal_cdf(z), expected, rtol=5e-14, atol=0)  # 32 ulps at -8


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_the_infinities_and_nan(value):
    expected = {np.inf: 1.0, -np.inf: -1.0}.get(value, np.nan)
    with np.errstate(invalid="ignore"):
        np.testing.assert_equal(erf(np.array([value]))[0], expected)
