"""Winograd's F(2x2, 3x3) against the equation op: values, gradients, where it is chosen."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.kernels import rules
from convmath.kernels.compiled.winograd import CompiledWinograd
from convmath.kernels.winograd import Winograd, winograd_applies

CLASSES = {"numpy": Winograd, "compiled": CompiledWinograd}  # each tier's transforms

GEOMETRIES = [
    # (m, n_H_prev, n_W_prev, n_C_prev, n_C, padding)
    (2, 8, 8, 64, 64, 1),  # even output: whole tiles
    (3, 7, 9, 64, 72, 1),  # odd output sizes: the last tile is cropped
    (2, 6, 5, 65, 64, 0),  # "valid"
    (1, 5, 5, 64, 64, 2),  # wider padding than the filter needs
    (2, 6, 7, 64, 80, ((0, 2), (1, 0))),  # asymmetric sides
    (1, 1, 1, 64, 64, 1),  # one pixel
]


@pytest.fixture
def small_maps(monkeypatch):
    """Winograd on the small maps of these tests (by default it waits for 28x28)."""
    monkeypatch.setattr(rules, "WINOGRAD_MIN_POSITIONS", 1)
    monkeypatch.setattr(rules, "WINOGRAD_MIN_POSITIONS_COMPILED", 1)


def reference(a, w, padding):
    with cm.use_kernels(False):
        return F.conv2d(cm.Tensor(a), cm.Tensor(w), padding=padding).data


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_winograd_computes_the_convolution(rng, tier, geometry):
    m, n_h, n_w, c, k, padding = geometry
    a = rng.standard_normal((m, n_h, n_w, c))
    w = rng.standard_normal((3, 3, c, k))
    want = reference(a, w, padding)
    sides = ((padding, padding),) * 2 if isinstance(padding, int) else padding
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 1e-5)):
        got = np.empty(want.shape, dtype)
        winograd = CLASSES[tier](a.shape, w.astype(dtype), sides, want.shape[1:3])
        winograd.convolve(a.astype(dtype), got)
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error < tolerance, (dtype, error)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES[:5])
def test_the_conv_kernel_with_winograd_gives_the_ops_values_and_gradients(
    rng, small_maps, tier, dtype, geometry
):
    m, n_h, n_w, c, k, padding = geometry
    arrays = [rng.standard_normal(s) for s in [(m, n_h, n_w, c), (3, 3, c, k), (k,)]]
    dz = None  # one incoming gradient for both sides (a function of Z would differ by rounding)
    results = []
    for kernels in (True, False):
        with cm.use_kernels(kernels):
            tensors = [cm.Tensor(x.astype(dtype), requires_grad=True) for x in arrays]
            z = F.conv2d(*tensors, padding=padding)
            if kernels:  # this geometry runs on Winograd (checked before backward releases it)
                assert z._op.winograd is not None
            dz = rng.standard_normal(z.shape).astype(dtype) if dz is None else dz
            z.backward(dz)
            results.append([z.data, *(t.grad for t in tensors)])
    tolerance = 1e-5 if dtype == np.float32 else 1e-10
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())


def test_winograd_is_chosen_only_where_it_applies_and_pays():
    same, big = ((1, 1), (1, 1)), (28, 28)
    assert winograd_applies((3, 3, 64, 64), (1, 1), (1, 1), 1, same, big)
    assert winograd_applies((3, 3, 96, 128), (1, 1), (1, 1), 1, same, (56, 56))
    assert not winograd_applies((3, 3, 64, 64), (1, 1), (1, 1), 1, same, (14, 14))  # small map
    assert not winograd_applies((3, 3, 32, 64), (1, 1), (1, 1), 1, same, big)  # few channels
    assert not winograd_applies((3, 3, 64, 64), (2, 2), (1, 1), 1, same, big)  # strided
    assert not winograd_applies((3, 3, 64, 64), (1, 1), (2, 2), 1, same, big)  # dilated
    assert not winograd_applies((3, 3, 32, 64), (1, 1), (1, 1), 2, same, big)  # grouped
    assert not winograd_applies((5, 5, 64, 64), (1, 1), (1, 1), 1, same, big)  # not 3x3
    # with the compiled transforms, from fewer channels on
    assert winograd_applies((3, 3, 32, 32), (1, 1), (1, 1), 1, same, (16, 16), compiled=True)
    assert winograd_applies((3, 3, 64, 64), (1, 1), (1, 1), 1, same, (8, 8), compiled=True)
    assert not winograd_applies((3, 3, 32, 32), (1, 1), (1, 1), 1, same, (16, 16))
    assert not winograd_applies((3, 3, 16, 16), (1, 1), (1, 1), 1, same, big, compiled=True)
    assert not winograd_applies((3, 3, 64, 64), (1, 1), (1, 1), 1, same, (7, 7), compiled=True)
    assert not winograd_applies((3, 3, 32, 32), (2, 2), (1, 1), 1, same, big, compiled=True)


def test_a_full_size_layer_runs_forward_and_dA_prev_on_winograd(rng, monkeypatch, tier):
    calls = []
    chosen = CLASSES[tier]
    original = chosen.convolve
    monkeypatch.setattr(
        chosen, "convolve", lambda self, a, z: calls.append(a.shape) or original(self, a, z)
    )
    a = cm.Tensor(rng.standard_normal((1, 28, 28, 64)).astype(np.float32), requires_grad=True)
    w = cm.Tensor(rng.standard_normal((3, 3, 64, 64)).astype(np.float32), requires_grad=True)
    z = F.conv2d(a, w, padding=1)
    assert z._op.winograd is not None
    assert calls == [(1, 28, 28, 64)]  # the forward pass
    z.backward(np.ones(z.shape, np.float32))
    assert calls == [(1, 28, 28, 64), (1, 28, 28, 64)]  # and dA_prev: dZ through W_dual


def test_the_whole_conv_case_table_through_winograd(rng, monkeypatch, tier):
    """With the channel threshold lowered, every 3x3 stride-1 case of the table runs Winograd."""
    from cases import CONV_CASES, conv_case

    for threshold in ("CHANNELS", "POSITIONS", "CHANNELS_COMPILED", "POSITIONS_COMPILED"):
        monkeypatch.setattr(rules, f"WINOGRAD_MIN_{threshold}", 1)
    cases = [c for c in CONV_CASES if c[0] == 3 and c[2] == 1 and c[3] == 1 and c[4] == "single"]
    assert len(cases) >= 4
    for f, padding, stride, dilation, grouping in cases:
        a, w, b, _ = conv_case(rng, f, padding, stride, dilation, grouping)
        results = []
        for kernels in (True, False):
            with cm.use_kernels(kernels):
                tensors = [cm.Tensor(x, requires_grad=True) for x in (a, w, b)]
                z = F.conv2d(*tensors, padding=padding)
                if kernels:  # (before backward releases the op)
                    assert type(z._op.winograd) is CLASSES[tier]
                z.backward(np.cos(z.data))
                results.append([z.data, *(t.grad for t in tensors)])
        for got, want in zip(*results, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
