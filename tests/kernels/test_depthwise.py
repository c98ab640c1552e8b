"""Depthwise convolutions tap by tap: the op's values and gradients in both tiers, every geometry,
the same bits on any number of workers, and a NaN where the equation puts it."""

import numpy as np
import pytest
from test_kernels_equal_ops import assert_kernel_computes_op, kernel_of, workers
from tiers import entered

import convmath as cm
import convmath.functional as F
from convmath.kernels import parallel, rules
from convmath.kernels.conv import Conv2DKernel, Conv2DReLU, conv2d_relu
from convmath.kernels.depthwise import DepthwiseTaps, is_depthwise

# (A_prev shape, filters per channel k, f, options)
GEOMETRIES = [
    ((2, 9, 7, 5), 1, 3, {"padding": 1}),
    ((2, 9, 7, 5), 1, 3, {"padding": 1, "stride": 2}),
    ((2, 9, 7, 4), 2, 3, {"padding": "same"}),
    ((1, 10, 9, 3), 1, 5, {"padding": 2, "dilation": 2}),
    ((2, 8, 8, 6), 1, 3, {"padding": ((0, 2), (1, 0))}),
    ((3, 7, 7, 2), 3, 2, {"stride": (1, 2)}),
    ((2, 6, 6, 4), 1, 1, {}),
]


def case(rng, a_shape, k, f):
    n_C_prev = a_shape[3]
    a = rng.standard_normal(a_shape)
    w = rng.standard_normal((f, f, 1, k * n_C_prev))
    return a, w, rng.standard_normal(k * n_C_prev), n_C_prev


def algorithms(monkeypatch):
    """The (forward, backward) algorithm of every Conv2D kernel that runs from now on."""
    seen = []
    forward, backward = Conv2DKernel._forward, Conv2DKernel._backward

    def spy_forward(self, a, w, b, algorithm, **geometry):
        seen.append(("forward", algorithm))
        return forward(self, a, w, b, algorithm, **geometry)

    def spy_backward(self, grad, algorithm, dual):
        seen.append(("backward", algorithm))
        return backward(self, grad, algorithm, dual)

    monkeypatch.setattr(Conv2DKernel, "_forward", spy_forward)
    monkeypatch.setattr(Conv2DKernel, "_backward", spy_backward)
    return seen


def test_only_one_input_channel_per_group_is_depthwise() -> None:
    assert is_depthwise((3, 3, 1, 32), 32)
    assert is_depthwise((3, 3, 1, 64), 32)  # two filters per channel
    assert not is_depthwise((3, 3, 2, 32), 16)
    assert not is_depthwise((3, 3, 1, 8), 1)  # one input channel, one group: a plain conv


@pytest.mark.parametrize("setting", ["one worker", "two workers, small chunks"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("a_shape", "k", "f", "options"), GEOMETRIES)
def test_taps_compute_the_op(rng, monkeypatch, tier, setting, dtype, a_shape, k, f, options):
    a, w, b, groups = case(rng, a_shape, k, f)
    seen = algorithms(monkeypatch)
    with workers(setting, monkeypatch), entered(tier):
        assert_kernel_computes_op(
            lambda x, u, c: F.conv2d(x, u, c, groups=groups, **options),
            [a, w, b],
            dtype,
            kernel_of("Conv2D"),
            tier=tier,
        )
    assert set(seen) == {("forward", "taps"), ("backward", "taps")}


@pytest.mark.parametrize(("a_shape", "k", "f", "options"), GEOMETRIES[:3])
def test_taps_fused_with_relu_compute_relu_of_the_op(
    rng, monkeypatch, tier, a_shape, k, f, options
):
    """conv2d_relu's kernel against relu(conv2d) with kernels off: values and gradients."""
    a, w, b, groups = case(rng, a_shape, k, f)
    seen = algorithms(monkeypatch)
    results = []
    for kernels in (True, False):
        with entered(tier), cm.use_kernels(kernels):
            tensors = [cm.Tensor(v, requires_grad=True) for v in (a, w, b)]
            if kernels:
                z = conv2d_relu(*tensors, groups=groups, **options)
                assert isinstance(z._op, Conv2DReLU)
            else:
                z = F.relu(F.conv2d(*tensors, groups=groups, **options))
            z.backward(np.cos(z.data))
            results.append([z.data, *(t.grad for t in tensors)])
    assert set(seen) == {("forward", "taps"), ("backward", "taps")}
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


NEEDS = [[True, False, False], [False, True, False], [False, False, True], [True, True, False]]


@pytest.mark.parametrize(
    "needs",
    NEEDS + [needs[:2] for needs in NEEDS if any(needs[:2])],  # with a bias, without
)
def test_taps_give_only_the_gradients_asked_for(rng, tier, needs):
    a, w, b, groups = case(rng, (2, 7, 7, 4), 1, 3)
    if len(needs) == 3:
        arrays, function = [a, w, b], lambda x, u, c: F.conv2d(x, u, c, groups=groups, padding=1)
    else:
        arrays, function = [a, w], lambda x, u: F.conv2d(x, u, groups=groups, padding=1)
    with entered(tier):
        assert_kernel_computes_op(function, arrays, np.float64, kernel_of("Conv2D"), needs)


def test_a_seed_gives_the_same_bits_on_one_two_and_three_workers(rng, monkeypatch, tier):
    a, w, b, groups = case(rng, (16, 12, 12, 8), 1, 3)
    monkeypatch.setattr(rules, "CHUNK_BYTES", 4096)  # several chunks, whatever the workers
    monkeypatch.setattr(rules, "MIN_PARALLEL_BYTES", 0)
    results = []
    for threads in (1, 2, 3):
        with parallel.using_threads(threads), entered(tier):
            tensors = [cm.Tensor(v.astype(np.float32), requires_grad=True) for v in (a, w, b)]
            z = F.conv2d(*tensors, groups=groups, padding=1)
            z.backward(np.cos(z.data))
            results.append([z.data, *(t.grad for t in tensors)])
    for one, *others in zip(*results, strict=True):
        for other in others:
            np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", ["W", "dZ"])
def test_a_nan_or_inf_in_the_filters_or_dz_spreads_as_in_the_equation(rng, tier, bad, where):
    """Padded taps count: 0 * W and A_pad * dZ are NaN there too (0 * inf is NaN)."""
    a, w, _, groups = case(rng, (2, 6, 6, 2), 1, 3)
    dz = rng.standard_normal((2, 6, 6, 2))
    if where == "W":
        w[0, 0, 0, 0] = bad  # a corner tap: it reads the padding for the top row and column
    else:
        dz[0, 0, 0, 0] = bad  # a corner output: its window is mostly padding
    results = []
    for kernels in (True, False):
        with entered(tier), cm.use_kernels(kernels), np.errstate(invalid="ignore"):
            x, u = cm.Tensor(a, requires_grad=True), cm.Tensor(w, requires_grad=True)
            z = F.conv2d(x, u, groups=groups, padding=1)
            z.backward(dz)
            results.append([z.data, x.grad, u.grad])
    for name, got, want in zip(["Z", "dA_prev", "dW"], *results, strict=True):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=name)
    assert any(np.isnan(r).any() for r in results[0])  # the case does spread a NaN


def test_a_nan_reaches_the_outputs_whose_windows_hold_it(rng, tier):
    a, w, _, groups = case(rng, (2, 8, 8, 3), 1, 3)
    a[0, 0, 0, 1] = a[1, 4, 5, 2] = np.nan  # in a corner, inside
    with entered(tier):
        z = F.conv2d(cm.Tensor(a), cm.Tensor(w), groups=groups, padding=1).data
    with cm.use_kernels(False):
        want = F.conv2d(cm.Tensor(a), cm.Tensor(w), groups=groups, padding=1).data
    np.testing.assert_array_equal(np.isnan(z), np.isnan(want))
    assert np.isnan(z).sum() == 4 + 9  # a corner's 2x2 outputs, an inside value's 3x3


def test_the_numpy_taps_compute_the_op_directly(rng):
    """The class itself, chunk by chunk, against the op's equation (kernels off)."""
    a, w, _, groups = case(rng, (2, 9, 8, 3), 2, 3)
    geometry = {"stride": (2, 1), "padding": ((1, 1), (0, 2)), "dilation": (1, 1)}
    with cm.use_kernels(False):
        x, u = cm.Tensor(a, requires_grad=True), cm.Tensor(w, requires_grad=True)
        z = F.conv2d(x, u, groups=groups, **geometry)
        dz = np.cos(z.data)
        z.backward(dz)
    taps = DepthwiseTaps(a.shape, w, n_out=z.shape[1:3], **geometry)
    got = np.empty_like(z.data)
    taps.forward(a, got)
    np.testing.assert_allclose(got, z.data, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(taps.filter_gradient(a, dz), u.grad, rtol=1e-12, atol=1e-12)
    da = np.empty_like(a)
    taps.input_gradient(dz, da)
    np.testing.assert_allclose(da, x.grad, rtol=1e-12, atol=1e-12)
