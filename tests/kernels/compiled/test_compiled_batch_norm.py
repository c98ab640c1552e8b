"""The compiled batch norm: NaN as in the equations, the same bits on any thread count.

(tests/kernels/test_kernels_equal_ops.py proves it equal to the op on the case
tables, in both tiers.)
"""

import numpy as np
import pytest
from tiers import entered

import convmath as cm
import convmath.functional as F
from convmath.kernels.normalization import batch_norm_relu

FORMS = ["batch_norm", "batch_norm_relu"]


def run(form, arrays, training=True):
    tensors = [cm.Tensor(x, requires_grad=True) for x in arrays]
    statistics = [np.zeros(arrays[0].shape[-1], arrays[0].dtype), np.ones(arrays[0].shape[-1])]
    statistics[1] = statistics[1].astype(arrays[0].dtype)
    function = F.batch_norm if form == "batch_norm" else batch_norm_relu
    z = function(*tensors, *statistics, training=training)
    z.backward(np.cos(np.nan_to_num(z.data)).astype(z.dtype))
    return z, [z.data, *(t.grad for t in tensors), *statistics]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("form", FORMS)
def test_a_nan_spreads_as_in_the_equations(rng, form, training):
    a = rng.standard_normal((4, 5, 5, 3)).astype(np.float32)
    a[1, 2, 3, 1] = np.nan
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    results = []
    with np.errstate(invalid="ignore"):
        for kernels in (True, False):
            with entered("compiled"), cm.use_kernels(kernels):
                z, values = run(form, [a, gamma, beta], training)
                assert type(z._op).__name__.startswith("Compiled") == kernels
            results.append(values)
    for got, want in zip(*results, strict=True):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert np.isnan(results[0][0][..., 1]).all() == training  # the batch's NaN mean


@pytest.mark.parametrize("form", FORMS)
def test_the_same_bits_on_one_two_and_three_threads(rng, monkeypatch, form):
    a = (rng.standard_normal((16, 9, 9, 8)) * 2 + 1).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 8).astype(np.float32), np.zeros(8, np.float32)
    monkeypatch.setattr("convmath.kernels.rules.MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr("convmath.kernels.rules.CHUNK_BYTES", 2048)  # many parts
    results = []
    for count in (1, 2, 3):
        with entered("compiled"), cm.using_threads(count):
            results.append(run(form, [a, gamma, beta])[1])
    for other in results[1:]:
        for got, want in zip(other, results[0], strict=True):
            np.testing.assert_array_equal(got, want)
