"""PyTorch as an oracle: convmath's forward and backward passes against torch's.

Every case draws random inputs and a random upstream gradient G (never all
ones), runs the op in convmath (channels-last) and in torch (channels-first),
calls ``Z.backward(G)`` / ``z.backward(g)`` and compares the results and every
gradient, in float64 (rtol 1e-10) and float32 (rtol 1e-5). The absolute
tolerance is the same factor times the largest magnitude of the expected array,
so entries that cancel to about zero are judged on the array's scale.

Layouts are converted explicitly by the helpers below:
activations NHWC (convmath) <-> NCHW (torch), conv weights HWIO <-> OIHW.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as TF  # noqa: E402

import convmath.functional as F  # noqa: E402
from convmath import Tensor, nn  # noqa: E402
from convmath.nn.activation import ACTIVATION_NAMES  # noqa: E402

DTYPES = [
    pytest.param(np.float64, id="f64"),
    pytest.param(np.float32, id="f32"),
]
RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


# ---------------------------------------------------------------- helpers
def nhwc_to_nchw(a: np.ndarray) -> np.ndarray:
    """(m, n_H, n_W, n_C) -> (m, n_C, n_H, n_W)."""
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def nchw_to_nhwc(a: np.ndarray) -> np.ndarray:
    """(m, n_C, n_H, n_W) -> (m, n_H, n_W, n_C)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def hwio_to_oihw(w: np.ndarray) -> np.ndarray:
    """(f_h, f_w, n_C_prev/g, n_C) -> (n_C, n_C_prev/g, f_h, f_w)."""
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


def oihw_to_hwio(w: np.ndarray) -> np.ndarray:
    """(n_C, n_C_prev/g, f_h, f_w) -> (f_h, f_w, n_C_prev/g, n_C)."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def make_rng(*key: Any) -> np.random.Generator:
    """A generator seeded deterministically from the test case (not from hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def leaf(array: np.ndarray) -> Tensor:
    return Tensor(np.array(array), requires_grad=True)


def tleaf(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array)).requires_grad_()


def upstream(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A random upstream gradient dJ/dZ (away from 1, so a wrong seed shows)."""
    return rng.standard_normal(shape).astype(dtype)


def assert_close(actual: Any, expected: Any, dtype: Any, what: str, at_least: float = 0.0) -> None:
    """Compare with rtol by dtype and an atol of rtol times the expected array's scale.

    ``at_least`` raises that scale where the result is a difference of larger terms (a
    saturated softmax's gradient cancels terms of the upstream gradient's size).
    """
    actual = np.asarray(actual)
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    expected = np.asarray(expected)
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    assert np.isfinite(actual).all(), f"{what}: non-finite values"
    rtol = RTOL[np.dtype(dtype)]
    scale = max(float(np.max(np.abs(expected), initial=0.0)), at_least)
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30), err_msg=what
    )


# ---------------------------------------------------------------- conv2d
class ConvCase(NamedTuple):
    m: int
    hw: tuple[int, int]
    c_in: int
    c_out: int
    f: tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: Any = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = True


CONV_CASES = [
    pytest.param(ConvCase(1, (5, 7), 3, 4, (3, 3)), id="m1-valid-f3"),
    pytest.param(ConvCase(3, (7, 5), 2, 3, (3, 3), 2, 1, bias=False), id="m3-s2-p1-nobias"),
    pytest.param(ConvCase(3, (7, 6), 2, 3, (3, 2), (2, 1), (1, 0)), id="m3-s2x1-p1x0-f3x2"),
    pytest.param(ConvCase(1, (6, 5), 2, 2, (2, 2), 1, ((1, 2), (0, 1))), id="m1-asym-pad"),
    pytest.param(ConvCase(3, (5, 7), 2, 3, (2, 3), 2, ((0, 1), (2, 1))), id="m3-asym-pad-s2"),
    pytest.param(ConvCase(1, (5, 7), 3, 2, (3, 3), 1, "same"), id="m1-same-f3"),
    pytest.param(ConvCase(3, (6, 5), 2, 3, (4, 2), 1, "same", bias=False), id="m3-same-even-f"),
    pytest.param(ConvCase(1, (7, 9), 2, 2, (3, 3), 1, "same", 2), id="m1-same-d2"),
    pytest.param(ConvCase(3, (7, 6), 2, 3, (3, 3), 2, "same"), id="m3-same-s2"),
    pytest.param(ConvCase(1, (9, 7), 2, 3, (3, 3), 1, 2, 2), id="m1-d2-p2"),
    pytest.param(ConvCase(3, (9, 8), 2, 2, (3, 2), (1, 2), 1, (2, 1)), id="m3-d2x1-s1x2"),
    pytest.param(ConvCase(1, (5, 7), 4, 6, (3, 3), 1, 1, groups=2), id="m1-g2-p1"),
    pytest.param(
        ConvCase(3, (9, 7), 4, 2, (3, 3), 2, 1, 2, groups=2, bias=False), id="m3-g2-s2-d2"
    ),
    pytest.param(ConvCase(1, (5, 7), 3, 3, (3, 3), 1, 1, groups=3), id="m1-depthwise"),
    pytest.param(
        ConvCase(3, (7, 5), 3, 6, (3, 3), (2, 1), "valid", groups=3), id="m3-depthwise-x2-s2x1"
    ),
    pytest.param(ConvCase(3, (5, 7), 4, 4, (3, 3), 1, "same", 2, groups=4), id="m3-dw-same-d2"),
    pytest.param(ConvCase(3, (7, 5), 3, 5, (1, 1), 2), id="m3-1x1-s2"),
]


def _same_sides(n: int, f: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow-style "same" padding (n_out = ceil(n / s)), extra row/column after."""
    total = max((math.ceil(n / s) - 1) * s + d * (f - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def torch_conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    case: ConvCase,
) -> torch.Tensor:
    """torch's conv2d on NCHW/OIHW tensors with convmath's padding spec translated."""
    stride, dilation = _pair(case.stride), _pair(case.dilation)
    padding = case.padding
    if padding == "same" and stride != (1, 1):  # torch allows "same" only at stride 1
        top, bottom = _same_sides(x.shape[2], case.f[0], stride[0], dilation[0])
        left, right = _same_sides(x.shape[3], case.f[1], stride[1], dilation[1])
        x = TF.pad(x, (left, right, top, bottom))
        padding = 0
    elif isinstance(padding, tuple) and not isinstance(padding[0], int):
        (top, bottom), (left, right) = padding
        x = TF.pad(x, (left, right, top, bottom))
        padding = 0
    return TF.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=case.groups)


# torch warns that an even kernel with padding="same" needs a padded copy of the input.
@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(case: ConvCase, dtype: Any) -> None:
    rng = make_rng("conv2d", case, np.dtype(dtype).name)
    H, W = case.hw
    A = rng.standard_normal((case.m, H, W, case.c_in)).astype(dtype)
    Wt = rng.standard_normal((*case.f, case.c_in // case.groups, case.c_out)).astype(dtype)
    b = rng.standard_normal(case.c_out).astype(dtype) if case.bias else None

    A_t, W_t, b_t = leaf(A), leaf(Wt), (leaf(b) if case.bias else None)
    Z = F.conv2d(
        A_t,
        W_t,
        b_t,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
        groups=case.groups,
    )
    x, w, bias = tleaf(nhwc_to_nchw(A)), tleaf(hwio_to_oihw(Wt)), (tleaf(b) if case.bias else None)
    z = torch_conv2d(x, w, bias, case)
    z_nhwc = nchw_to_nhwc(z.detach().numpy())
    assert_close(Z.data, z_nhwc, dtype, "Z")
    if case.padding == "same":
        s_h, s_w = _pair(case.stride)
        assert Z.shape[1:3] == (math.ceil(H / s_h), math.ceil(W / s_w))

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA_prev")
    assert_close(W_t.grad, oihw_to_hwio(w.grad.numpy()), dtype, "dW")
    if case.bias:
        assert_close(b_t.grad, bias.grad, dtype, "db")


# ---------------------------------------------------------------- pooling
def tie_free(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Distinct values (a random permutation, exact in float32), so max pooling has no ties."""
    size = math.prod(shape)
    return ((rng.permutation(size) - size / 2) / 8).reshape(shape).astype(dtype)


class PoolCase(NamedTuple):
    m: int
    hw: tuple[int, int]
    f: int | tuple[int, int]
    stride: int | tuple[int, int] | None  # None: stride = f
    padding: int | tuple[int, int]

    def torch_args(self) -> dict[str, Any]:
        stride = self.f if self.stride is None else self.stride
        return {"kernel_size": self.f, "stride": stride, "padding": self.padding}


POOL_CASES = [
    pytest.param(PoolCase(1, (6, 8), 2, None, 0), id="m1-f2-s2"),
    pytest.param(PoolCase(3, (7, 9), 3, 2, 0), id="m3-f3-s2-overlap"),
    pytest.param(PoolCase(3, (7, 6), 3, 2, 1), id="m3-f3-s2-p1"),
    pytest.param(PoolCase(1, (5, 7), 3, 1, 1), id="m1-f3-s1-p1"),
    pytest.param(PoolCase(3, (5, 8), 2, 1, 1), id="m3-f2-s1-p1"),
    pytest.param(PoolCase(3, (7, 9), (3, 2), (2, 1), (1, 0)), id="m3-f3x2-s2x1-p1x0"),
    pytest.param(PoolCase(1, (9, 7), 4, 3, 2), id="m1-f4-s3-p2"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_matches_torch(case: PoolCase, dtype: Any) -> None:
    rng = make_rng("max_pool2d", case, np.dtype(dtype).name)
    A = tie_free(rng, (case.m, *case.hw, 3), dtype)
    A_t = leaf(A)
    Z = F.max_pool2d(A_t, case.f, case.stride, case.padding)
    x = tleaf(nhwc_to_nchw(A))
    z = TF.max_pool2d(x, **case.torch_args())
    assert_close(Z.data, nchw_to_nhwc(z.detach().numpy()), dtype, "Z")

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "count_include_pad", [pytest.param(True, id="incl-pad"), pytest.param(False, id="excl-pad")]
)
@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool2d_matches_torch(case: PoolCase, count_include_pad: bool, dtype: Any) -> None:
    rng = make_rng("avg_pool2d", case, count_include_pad, np.dtype(dtype).name)
    A = rng.standard_normal((case.m, *case.hw, 3)).astype(dtype)
    A_t = leaf(A)
    Z = F.avg_pool2d(A_t, case.f, case.stride, case.padding, count_include_pad=count_include_pad)
    x = tleaf(nhwc_to_nchw(A))
    z = TF.avg_pool2d(x, **case.torch_args(), count_include_pad=count_include_pad)
    assert_close(Z.data, nchw_to_nhwc(z.detach().numpy()), dtype, "Z")

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [pytest.param((1, 5, 7, 3), id="m1-5x7"), pytest.param((3, 4, 6, 2), id="m3-4x6")]
)
def test_global_avg_pool2d_matches_torch(shape: tuple[int, ...], dtype: Any) -> None:
    rng = make_rng("global_avg_pool2d", shape, np.dtype(dtype).name)
    A = rng.standard_normal(shape).astype(dtype)
    A_t = leaf(A)
    Z = F.global_avg_pool2d(A_t)
    x = tleaf(nhwc_to_nchw(A))
    z = x.mean(dim=(2, 3))
    assert_close(Z.data, z, dtype, "Z")

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(G))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "output_size"),
    [
        pytest.param((2, 7, 6, 3), (3, 4), id="m2-7x6-to-3x4"),
        pytest.param((1, 5, 9, 2), (1, 1), id="m1-global"),
        pytest.param((3, 3, 2, 2), (5, 4), id="m3-upsampled"),
        pytest.param((2, 13, 13, 4), (7, 7), id="m2-13x13-to-7x7"),
    ],
)
def test_adaptive_avg_pool2d_matches_torch(
    shape: tuple[int, ...], output_size: tuple[int, int], dtype: Any
) -> None:
    rng = make_rng("adaptive_avg_pool2d", shape, output_size, np.dtype(dtype).name)
    A = rng.standard_normal(shape).astype(dtype)
    A_t = leaf(A)
    Z = F.adaptive_avg_pool2d(A_t, output_size)
    x = tleaf(nhwc_to_nchw(A))
    z = TF.adaptive_avg_pool2d(x, output_size)
    assert_close(Z.data, nchw_to_nhwc(z.detach().numpy()), dtype, "Z")

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_C", "groups"), [(6, 2), (12, 3), (8, 8)])
def test_channel_shuffle_and_split_match_torch(n_C: int, groups: int, dtype: Any) -> None:
    rng = make_rng("channel_shuffle", n_C, groups, np.dtype(dtype).name)
    A = rng.standard_normal((2, 3, 4, n_C)).astype(dtype)
    A_t = leaf(A)
    first, second = F.split(F.channel_shuffle(A_t, groups), 2)  # a ShuffleNetV2 unit's cut
    x = tleaf(nhwc_to_nchw(A))
    first_t, second_t = TF.channel_shuffle(x, groups).chunk(2, dim=1)
    assert_close(first.data, nchw_to_nhwc(first_t.detach().numpy()), dtype, "first half")
    assert_close(second.data, nchw_to_nhwc(second_t.detach().numpy()), dtype, "second half")

    G = upstream(rng, second.shape, dtype)  # the first half unused: its gradient is 0
    second.backward(G)
    second_t.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA")


# ---------------------------------------------------------------- batch norm
BN_SHAPES = [
    pytest.param((3, 4, 5, 3), id="m3-4x5x3"),
    pytest.param((2, 3, 2, 4), id="m2-3x2x4"),
    pytest.param((6, 5), id="m6-dense5"),
]


def _to_torch_layout(a: np.ndarray) -> np.ndarray:
    return nhwc_to_nchw(a) if a.ndim == 4 else np.array(a)


def _from_torch_layout(a: np.ndarray) -> np.ndarray:
    return nchw_to_nhwc(a) if a.ndim == 4 else np.array(a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [pytest.param((2, 3, 4, 5), id="m2-3x4x5"), pytest.param((4, 7), id="m4-dense7")]
)
def test_layer_norm_matches_torch(shape: tuple[int, ...], dtype: Any) -> None:
    rng = make_rng("layer_norm", shape, np.dtype(dtype).name)
    A = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma, beta = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    A_t, gamma_t, beta_t = leaf(A), leaf(gamma), leaf(beta)
    Z = F.layer_norm(A_t, gamma_t, beta_t, eps=1e-6)
    # torchvision's LayerNorm2d (ConvNeXt): layer_norm of the NCHW map's channels
    x = tleaf(_to_torch_layout(A))
    w, b = tleaf(gamma), tleaf(beta)
    moved = x.permute(0, 2, 3, 1) if x.ndim == 4 else x
    z = TF.layer_norm(moved, (shape[-1],), w, b, eps=1e-6)
    z = z.permute(0, 3, 1, 2) if x.ndim == 4 else z
    assert_close(Z.data, _from_torch_layout(z.detach().numpy()), dtype, "Z")

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(_to_torch_layout(G)))
    assert_close(A_t.grad, _from_torch_layout(x.grad.numpy()), dtype, "dA")
    assert_close(gamma_t.grad, w.grad, dtype, "dgamma")
    assert_close(beta_t.grad, b.grad, dtype, "dbeta")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("training", "momentum", "eps"),
    [
        pytest.param(True, 0.1, 1e-5, id="train-mom0.1"),
        pytest.param(True, 0.3, 1e-3, id="train-mom0.3-eps1e-3"),
        pytest.param(False, 0.1, 1e-5, id="infer"),
        pytest.param(False, 0.1, 1e-2, id="infer-eps1e-2"),
    ],
)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_matches_torch(
    shape: tuple[int, ...], training: bool, momentum: float, eps: float, dtype: Any
) -> None:
    rng = make_rng("batch_norm", shape, training, momentum, eps, np.dtype(dtype).name)
    n_C = shape[-1]
    # Offset and scale per channel, so the statistics are far from 0 and 1.
    A = (rng.standard_normal(shape) * rng.uniform(0.5, 3.0, n_C) + rng.normal(0, 2, n_C)).astype(
        dtype
    )
    gamma = rng.uniform(0.5, 2.0, n_C).astype(dtype)
    beta = rng.standard_normal(n_C).astype(dtype)
    running_mean = rng.standard_normal(n_C).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, n_C).astype(dtype)

    A_t, g_t, b_t = leaf(A), leaf(gamma), leaf(beta)
    rm, rv = running_mean.copy(), running_var.copy()
    Z = F.batch_norm(A_t, g_t, b_t, rm, rv, training=training, momentum=momentum, eps=eps)
    x, weight, bias = tleaf(_to_torch_layout(A)), tleaf(gamma), tleaf(beta)
    rm_torch = torch.from_numpy(running_mean.copy())
    rv_torch = torch.from_numpy(running_var.copy())
    z = TF.batch_norm(
        x, rm_torch, rv_torch, weight, bias, training=training, momentum=momentum, eps=eps
    )
    assert_close(Z.data, _from_torch_layout(z.detach().numpy()), dtype, "Z")
    assert_close(rm, rm_torch, dtype, "running_mean")
    assert_close(rv, rv_torch, dtype, "running_var")
    if not training:
        np.testing.assert_array_equal(rm, running_mean)
        np.testing.assert_array_equal(rv, running_var)

    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(_to_torch_layout(G)))
    assert_close(A_t.grad, _from_torch_layout(x.grad.numpy()), dtype, "dA")
    assert_close(g_t.grad, weight.grad, dtype, "dgamma")
    assert_close(b_t.grad, bias.grad, dtype, "dbeta")


# ---------------------------------------------------------------- loss
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "smoothing",
    [pytest.param(0.0, id="ls0"), pytest.param(0.1, id="ls0.1"), pytest.param(1.0, id="ls1")],
)
@pytest.mark.parametrize(
    ("m", "k", "scale"),
    [
        pytest.param(1, 3, 1.0, id="m1-K3"),
        pytest.param(5, 7, 3.0, id="m5-K7"),
        pytest.param(4, 10, 1e4, id="m4-K10-logits1e4"),
    ],
)
def test_softmax_cross_entropy_matches_torch(
    m: int, k: int, scale: float, smoothing: float, dtype: Any
) -> None:
    rng = make_rng("softmax_cross_entropy", m, k, scale, smoothing, np.dtype(dtype).name)
    logits = (rng.standard_normal((m, k)) * scale).astype(dtype)
    labels = rng.integers(0, k, m)
    Z_t = leaf(logits)
    J = F.softmax_cross_entropy(Z_t, labels, label_smoothing=smoothing)
    z = tleaf(logits)
    j = TF.cross_entropy(z, torch.from_numpy(labels), label_smoothing=smoothing)
    assert np.isfinite(J.data).all()
    assert torch.isfinite(j).all()
    assert_close(J.data, j, dtype, "J")

    g = rng.uniform(0.25, 2.0)  # a scalar upstream gradient other than 1
    J.backward(np.asarray(g, dtype=dtype))
    j.backward(torch.tensor(g, dtype=j.dtype))
    assert_close(Z_t.grad, z.grad, dtype, "dZ")


def test_confident_logits_scaled_by_30_are_at_least_as_precise_as_torch() -> None:
    rng = make_rng("confident cross-entropy")
    logits = (rng.standard_normal((256, 10)) * 30).astype(np.float32)
    labels = logits.argmax(axis=1)
    rows = np.arange(256)
    z64 = logits.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    others = np.exp(shifted)
    others[rows, labels] = 0
    exact = -np.log1p(others.sum(axis=1))  # log p of the right class: -1e-6 and smaller
    small = np.abs(exact) > 1e-30  # rows where float32 can hold the answer at all
    assert small.sum() > 100
    ours = F.log_softmax(Tensor(logits)).data[rows, labels][small]
    theirs = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()[rows, labels][small]
    our_error = np.abs(ours - exact[small]) / np.abs(exact[small])
    their_error = np.abs(theirs - exact[small]) / np.abs(exact[small])
    assert our_error.max() < 1e-5
    assert our_error.max() <= their_error.max()
    loss = F.softmax_cross_entropy(Tensor(logits), labels).item()
    torch_loss = TF.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert loss == pytest.approx(torch_loss, rel=1e-5)


# ---------------------------------------------------------------- activations
ACTIVATIONS = [
    pytest.param(lambda t: F.sigmoid(t), torch.sigmoid, 1.0, id="sigmoid"),
    pytest.param(lambda t: F.sigmoid(t), torch.sigmoid, 30.0, id="sigmoid-large"),
    pytest.param(lambda t: F.tanh(t), torch.tanh, 1.0, id="tanh"),
    pytest.param(lambda t: F.tanh(t), torch.tanh, 10.0, id="tanh-large"),
    pytest.param(lambda t: F.leaky_relu(t), TF.leaky_relu, 1.0, id="leaky_relu-default"),
    pytest.param(
        lambda t: F.leaky_relu(t, 0.2),
        lambda x: TF.leaky_relu(x, negative_slope=0.2),
        1.0,
        id="leaky_relu-0.2",
    ),
    pytest.param(
        lambda t: F.softmax(t), lambda x: torch.softmax(x, dim=-1), 1.0, id="softmax-last"
    ),
    pytest.param(
        lambda t: F.softmax(t, axis=1), lambda x: torch.softmax(x, dim=1), 3.0, id="softmax-axis1"
    ),
    pytest.param(
        lambda t: F.softmax(t), lambda x: torch.softmax(x, dim=-1), 1e3, id="softmax-large"
    ),
    pytest.param(
        lambda t: F.log_softmax(t),
        lambda x: torch.log_softmax(x, dim=-1),
        1.0,
        id="log_softmax-last",
    ),
    pytest.param(
        lambda t: F.log_softmax(t, axis=1),
        lambda x: torch.log_softmax(x, dim=1),
        3.0,
        id="log_softmax-axis1",
    ),
    pytest.param(
        lambda t: F.log_softmax(t),
        lambda x: torch.log_softmax(x, dim=-1),
        1e3,
        id="log_softmax-large",
    ),
    pytest.param(lambda t: F.relu6(t), TF.relu6, 4.0, id="relu6"),
    pytest.param(
        lambda t: F.clip(t, -1.5, 2.0), lambda x: torch.clamp(x, -1.5, 2.0), 2.0, id="clip"
    ),
    # TF.hardsigmoid's backward multiplies by 1/6 rounded to float32 even in float64 (a
    # relative 3e-8 off): its definition relu6(x + 3)/6 is torch's exact float64 answer
    pytest.param(lambda t: F.hard_sigmoid(t), lambda x: TF.relu6(x + 3) / 6, 4.0, id="hardsigmoid"),
    pytest.param(
        lambda t: F.hard_sigmoid(t, 0.2, 0.5),
        lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
        4.0,
        id="hardsigmoid-onnx",
    ),
    pytest.param(lambda t: F.hard_swish(t), TF.hardswish, 4.0, id="hardswish"),
    pytest.param(lambda t: F.silu(t), TF.silu, 3.0, id="silu"),
    pytest.param(lambda t: F.silu(t), TF.silu, 30.0, id="silu-large"),
    pytest.param(lambda t: F.gelu(t), TF.gelu, 3.0, id="gelu"),
    pytest.param(lambda t: F.gelu(t), TF.gelu, 10.0, id="gelu-large"),
    pytest.param(
        lambda t: F.gelu(t, "tanh"), lambda x: TF.gelu(x, approximate="tanh"), 3.0, id="gelu-tanh"
    ),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [pytest.param((4, 6), id="2d"), pytest.param((2, 3, 4, 5), id="4d")]
)
@pytest.mark.parametrize(("ours", "theirs", "scale"), ACTIVATIONS)
def test_activation_matches_torch(
    ours: Any, theirs: Any, scale: float, shape: tuple[int, ...], dtype: Any, request: Any
) -> None:
    rng = make_rng("activation", request.node.callspec.id, np.dtype(dtype).name)
    Z = (rng.standard_normal(shape) * scale).astype(dtype)
    Z_t = leaf(Z)
    A = ours(Z_t)
    z = tleaf(Z)
    a = theirs(z)
    assert_close(A.data, a, dtype, "A")

    G = upstream(rng, A.shape, dtype)
    A.backward(G)
    a.backward(torch.from_numpy(G))
    # each activation's dZ is its upstream G times factors of at most 1, less terms as large
    assert_close(Z_t.grad, z.grad, dtype, "dZ", at_least=float(np.max(np.abs(G))))


def test_hard_sigmoid_matches_torch_hardsigmoid_up_to_its_float32_sixth() -> None:
    rng = make_rng("hardsigmoid-torch")
    Z = rng.standard_normal((3, 4, 5, 2)) * 4
    Z_t, z = leaf(Z), tleaf(Z)
    A, a = F.hard_sigmoid(Z_t), TF.hardsigmoid(z)
    assert_close(A.data, a, np.float64, "A")
    G = upstream(rng, A.shape, np.float64)
    A.backward(G)
    a.backward(torch.from_numpy(G))
    inside = (Z > -3) & (Z < 3)
    np.testing.assert_allclose(Z_t.grad, G * inside / 6, rtol=1e-15)  # exactly dA/6 inside
    np.testing.assert_allclose(Z_t.grad, z.grad.numpy(), rtol=3e-8)  # torch: 1/6 in float32


# ---------------------------------------------------------------- blocks of today's CNNs
def _torch_conv(conv: Any, dtype: Any) -> torch.nn.Conv2d:
    """A torch Conv2d holding convmath ``conv``'s weights (HWIO -> OIHW)."""
    (f_h, f_w), g = conv.f, conv.groups
    twin = torch.nn.Conv2d(
        conv.n_C_prev, conv.n_C, (f_h, f_w), conv.stride, f_h // 2, groups=g,
        bias=conv.b is not None,
    ).to(torch.float64 if dtype == np.float64 else torch.float32)  # fmt: skip
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(hwio_to_oihw(conv.W.data)))
        if conv.b is not None:
            twin.bias.copy_(torch.from_numpy(conv.b.data))
    return twin


def _torch_batch_norm(bn: Any, dtype: Any) -> torch.nn.BatchNorm2d:
    twin = torch.nn.BatchNorm2d(bn.n_C, eps=bn.eps).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    with torch.no_grad():
        for name, value in (("weight", bn.gamma.data), ("bias", bn.beta.data)):
            getattr(twin, name).copy_(torch.from_numpy(value))
        twin.running_mean.copy_(torch.from_numpy(bn.running_mean))
        twin.running_var.copy_(torch.from_numpy(bn.running_var))
    return twin.eval()


class ExactHardsigmoid(torch.nn.Module):
    """torch's Hardsigmoid by its definition: its own backward uses 1/6 rounded to float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return TF.relu6(x + 3) / 6


TORCH_ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "relu6": torch.nn.ReLU6,
    "hard_swish": torch.nn.Hardswish,
    "silu": torch.nn.SiLU,
    "sigmoid": torch.nn.Sigmoid,
    "hard_sigmoid": ExactHardsigmoid,
}


class TorchSqueezeExcitation(torch.nn.Module):
    """torchvision.ops.SqueezeExcitation, written out (torchvision itself is optional)."""

    def __init__(self, se: Any, dtype: Any) -> None:
        super().__init__()
        squeeze = se.squeeze
        self.fc1, self.fc2 = _torch_conv(squeeze["fc1"], dtype), _torch_conv(squeeze["fc2"], dtype)
        self.act = TORCH_ACTIVATIONS[_name_of(squeeze["act"])]()
        self.gate = TORCH_ACTIVATIONS[_name_of(squeeze["gate"])]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = TF.adaptive_avg_pool2d(x, 1)
        return self.gate(self.fc2(self.act(self.fc1(s)))) * x


def _name_of(layer: Any) -> str:
    return next(name for name, cls in ACTIVATION_NAMES.items() if type(layer) is cls)


def _set_trained_statistics(block: Any, rng: np.random.Generator) -> None:
    for _, module in block.named_modules():
        if isinstance(module, nn.BatchNorm2D):
            module.gamma.data[:] = rng.uniform(0.5, 1.5, module.n_C)
            module.beta.data[:] = rng.uniform(-0.3, 0.3, module.n_C)
            module.running_mean[:] = rng.uniform(-0.2, 0.2, module.n_C)
            module.running_var[:] = rng.uniform(0.5, 2.0, module.n_C)


def _to_dtype(block: Any, dtype: Any) -> None:
    for _, p in block.named_parameters():
        p.data = p.data.astype(dtype)
    for _, module in block.named_modules():
        for name in module._buffer_names:
            setattr(module, name, getattr(module, name).astype(dtype))


def _compare_blocks(block: Any, twin: torch.nn.Module, shape: tuple[int, ...], dtype: Any) -> None:
    rng = make_rng("block", type(block).__name__, shape, np.dtype(dtype).name)
    A = rng.standard_normal(shape).astype(dtype)
    A_t = leaf(A)
    Z = block(A_t)
    x = tleaf(nhwc_to_nchw(A))
    z = twin(x)
    assert_close(Z.data, nchw_to_nhwc(z.detach().numpy()), dtype, "A")
    G = upstream(rng, Z.shape, dtype)
    Z.backward(G)
    z.backward(torch.from_numpy(nhwc_to_nchw(G)))
    assert_close(A_t.grad, nchw_to_nhwc(x.grad.numpy()), dtype, "dA_prev")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("activation", "gate"), [("relu", "hard_sigmoid"), ("silu", "sigmoid")], ids=["v3", "effnet"]
)
def test_squeeze_excitation_matches_torchvisions(activation: str, gate: str, dtype: Any) -> None:
    se = nn.SqueezeExcitation(8, 4, activation, gate, rng=make_rng("se", activation))
    for _, p in se.named_parameters():  # biases away from 0, so a missing one shows
        p.data = p.data + make_rng("bias", p.shape).uniform(0.1, 0.3, p.shape).astype(np.float32)
    _to_dtype(se, dtype)
    twin = TorchSqueezeExcitation(se, dtype)
    _compare_blocks(se, twin, (2, 5, 4, 8), dtype)
    for name, p in se.named_parameters():
        layer = getattr(twin, name.split(".")[1])
        theirs = layer.weight.grad if name.endswith("W") else layer.bias.grad
        ours = hwio_to_oihw(p.grad) if name.endswith("W") else p.grad
        assert_close(ours, theirs, dtype, f"d{name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n_C_prev", "n_C", "stride", "options"),
    [
        pytest.param(8, 8, 1, {"expanded": 24}, id="v2-residual"),
        pytest.param(
            8, 12, 2,
            {"expanded": 16, "f": 5, "activation": "hard_swish", "se_squeeze": 8},
            id="v3-se-s2",
        ),
    ],
)  # fmt: skip
def test_inverted_residual_matches_its_torch_twin(
    n_C_prev: int, n_C: int, stride: int, options: dict[str, Any], dtype: Any
) -> None:
    rng = make_rng("inverted residual", n_C_prev, n_C, stride)
    block = nn.InvertedResidual(n_C_prev, n_C, stride, rng=rng, **options)
    _set_trained_statistics(block, rng)
    _to_dtype(block, dtype)
    block.eval()
    layers = []
    for _, layer in block.main.named_children():
        if isinstance(layer, nn.Conv2D):
            layers.append(_torch_conv(layer, dtype))
        elif isinstance(layer, nn.BatchNorm2D):
            layers.append(_torch_batch_norm(layer, dtype))
        elif isinstance(layer, nn.SqueezeExcitation):
            layers.append(TorchSqueezeExcitation(layer, dtype))
        else:
            layers.append(TORCH_ACTIVATIONS[_name_of(layer)]())
    main = torch.nn.Sequential(*layers)

    class Twin(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return main(x) + x if block.residual else main(x)

    _compare_blocks(block, Twin(), (2, 9, 7, n_C_prev), dtype)
