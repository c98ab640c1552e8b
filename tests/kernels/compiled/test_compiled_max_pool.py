"""The compiled max pooling: the workloads' geometries, -inf and NaN as the op, any thread count.

(tests/kernels/test_kernels_equal_ops.py proves it equal to the op on the case
tables, ties and NaNs included, in both tiers.)
"""

import numpy as np
import pytest
from tiers import entered

import convmath as cm
import convmath.functional as F
from convmath.kernels import rules
from convmath.kernels.compiled.pool import CompiledMaxPool2D

GEOMETRIES = [  # (shape, f, stride, padding): LeNet's and ResNet's 2x2/2, Inception's 3x3/1 pad 1
    ((8, 28, 28, 6), 2, 2, 0),
    ((4, 10, 10, 16), 2, 2, 0),
    ((4, 9, 7, 5), 2, 2, 0),  # odd sides: the last row and column are left out
    ((3, 12, 12, 32), 3, 1, 1),
    ((3, 11, 11, 8), 3, 2, 1),
    ((2, 8, 8, 4), (2, 3), (1, 2), (1, 1)),
]


def pooled(a, dz, f, stride, padding, kernels):
    with cm.use_kernels(kernels):
        x = cm.Tensor(a, requires_grad=True)
        z = F.max_pool2d(x, f, stride, padding)
        if kernels:
            assert isinstance(z._op, CompiledMaxPool2D)
        z.backward(dz(z.data))
    return z.data, x.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "f", "stride", "padding"), GEOMETRIES)
def test_the_workloads_geometries_equal_the_op(rng, dtype, shape, f, stride, padding):
    a = rng.standard_normal(shape).astype(dtype)
    with entered("compiled"):
        got = pooled(a, np.cos, f, stride, padding, kernels=True)
        want = pooled(a, np.cos, f, stride, padding, kernels=False)
    np.testing.assert_array_equal(got[0], want[0])  # a maximum is exact
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)


def test_a_window_of_minus_infinity_gives_its_first_tap_as_the_op(rng):
    """Padded taps are -inf: where every real tap is -inf too, the first tap wins, padded or not."""
    a = np.full((2, 5, 5, 3), -np.inf)
    a[1, 2:, 2:] = rng.standard_normal((3, 3, 3))
    with entered("compiled"), np.errstate(invalid="ignore"):
        got = pooled(a, lambda z: np.ones_like(z), 3, 1, 1, kernels=True)
        want = pooled(a, lambda z: np.ones_like(z), 3, 1, 1, kernels=False)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(("f", "stride", "padding"), [(2, 2, 0), (3, 1, 1)])
def test_the_same_bits_on_one_two_and_three_threads(rng, monkeypatch, f, stride, padding):
    a = rng.standard_normal((12, 10, 10, 8)).astype(np.float32)
    monkeypatch.setattr("convmath.kernels.rules.MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr("convmath.kernels.rules.CHUNK_BYTES", 2048)
    results = []
    for count in (1, 2, 3):
        with entered("compiled"), cm.using_threads(count):
            results.append(pooled(a, np.sin, f, stride, padding, kernels=True))
    for other in results[1:]:
        for got, want in zip(other, results[0], strict=True):
            np.testing.assert_array_equal(got, want)


def test_without_a_gradient_the_values_are_the_ops(rng):
    a = cm.Tensor(rng.standard_normal((2, 6, 6, 3)))
    with entered("compiled"):
        z = F.max_pool2d(a, 2)
    with cm.use_kernels(False):
        np.testing.assert_array_equal(z.data, F.max_pool2d(a, 2).data)
    assert z._op is None  # nothing recorded (no winners taken)


def test_few_channels_run_the_numpy_passes_as_the_rule_says(rng):
    a = rng.standard_normal((4, 8, 8, 6))
    kept = rules.COMPILED_POOL_MIN_CHANNELS
    with entered("compiled"):
        # entered lowered the rule to 1 and puts back what it found when it leaves: no
        # monkeypatch here, whose undo would run after that and leave the rule at 1
        rules.COMPILED_POOL_MIN_CHANNELS = 8
        got = pooled(a, np.cos, 2, 2, 0, kernels=True)
        x = cm.Tensor(a, requires_grad=True)
        assert F.max_pool2d(x, 2)._op.numpy_passes
        wide = cm.Tensor(a[..., :1].repeat(8, -1), requires_grad=True)
        assert not F.max_pool2d(wide, 2)._op.numpy_passes
    want = pooled(a, np.cos, 2, 2, 0, kernels=False)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    assert kept == rules.COMPILED_POOL_MIN_CHANNELS  # the rule is left as it was
