"""The compiled Winograd transforms: a NaN reaches exactly the outputs it reaches in the equation.

B^T and A^T hold zeros; the compiled transforms add only the taps whose
coefficient is not zero, so a NaN in a tile reaches the outputs whose 3x3
window holds it, as the direct convolution's (the NumPy transforms multiply
by the zeros, and NaN * 0 spreads it over the tile). Forward and dA_prev,
through the convolution kernel. (tests/kernels/test_winograd.py proves the
values equal to the op, in both tiers, and test_autotune.py the same bits on
1, 2 and 3 threads.)
"""

import numpy as np
import pytest
from tiers import entered

import convmath as cm
import convmath.functional as F
from convmath.kernels import rules
from convmath.kernels.compiled.winograd import CompiledWinograd


@pytest.fixture
def winograd_everywhere(monkeypatch):
    monkeypatch.setattr(rules, "WINOGRAD_MIN_CHANNELS_COMPILED", 1)
    monkeypatch.setattr(rules, "WINOGRAD_MIN_POSITIONS_COMPILED", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [1, 0, ((0, 2), (1, 0))])
def test_a_nan_reaches_the_outputs_it_reaches_in_the_equation(
    rng, monkeypatch, winograd_everywhere, dtype, padding
):
    calls = []
    original = CompiledWinograd.convolve
    monkeypatch.setattr(
        CompiledWinograd, "convolve", lambda self, a, z: calls.append(1) or original(self, a, z)
    )
    a = rng.standard_normal((2, 9, 8, 4)).astype(dtype)
    a[0, 3, 4, 1] = a[1, 0, 0, 2] = a[1, 8, 7, 0] = np.nan  # inside, in a corner, the last
    w = rng.standard_normal((3, 3, 4, 5)).astype(dtype)
    results = []
    with np.errstate(invalid="ignore"):
        for kernels in (True, False):
            with entered("compiled"), cm.use_kernels(kernels):
                x = cm.Tensor(a, requires_grad=True)
                z = F.conv2d(x, cm.Tensor(w), padding=padding)
                if kernels:
                    assert type(z._op.winograd) is CompiledWinograd
                dz = np.cos(np.arange(z.size, dtype=dtype)).reshape(z.shape)
                dz[1, 2, 3, 4] = np.nan  # dA_prev: the dual convolution, on Winograd too
                z.backward(dz)
                results.append((z.data, x.grad))
    assert len(calls) == 2  # Z, and dA_prev as the dual convolution
    for got, want in zip(*results, strict=True):
        assert np.isnan(want).any()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        tolerance = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, equal_nan=True)
