"""Every kernel computes its op: forward and backward, float32 and float64, 1 and 2 workers.

Each registered kernel (convmath.kernels.registry) runs on the op tables of
tests/cases.py against its op run with kernels off, the equation that
tests/ops checks against the loop references. The fused kernels are checked
against the composition of the ops they replace.
"""

import contextlib

import numpy as np
import pytest
from cases import BATCH_NORM_SHAPES, CONV_CASES, DENSE_SHAPES, POOL_CASES, conv_case, distinct

import convmath as cm
import convmath.functional as F
from convmath.kernels import parallel, registry, rules
from convmath.kernels.conv import conv2d_relu
from convmath.kernels.normalization import batch_norm_relu

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}  # relative to the largest value compared
WORKERS = ["one worker", "two workers, small chunks"]


@contextlib.contextmanager
def workers(setting, monkeypatch):
    if setting == "one worker":
        with parallel.using_threads(1):
            yield
        return
    monkeypatch.setattr(rules, "CHUNK_BYTES", 512)  # every op really splits
    monkeypatch.setattr(rules, "MIN_PARALLEL_BYTES", 0)
    with parallel.using_threads(2):
        yield


def run(function, arrays, dtype, *, kernels, needs=None):
    """function(*arrays) and the inputs' gradients for the incoming gradient cos(out).

    ``needs`` says which inputs require a gradient (all by default).
    """
    needs = needs or [True] * len(arrays)
    with cm.use_kernels(kernels):
        tensors = [
            cm.Tensor(a.astype(dtype), requires_grad=n) for a, n in zip(arrays, needs, strict=True)
        ]
        out = function(*tensors)
        if out.requires_grad:
            out.backward(np.cos(out.data).astype(dtype))
    return out, [t.grad for t in tensors]


def assert_kernel_computes_op(function, arrays, dtype, kernel=None, needs=None):
    got, got_grads = run(function, arrays, dtype, kernels=True, needs=needs)
    want, want_grads = run(function, arrays, dtype, kernels=False, needs=needs)
    if kernel is not None:
        assert isinstance(got._op, kernel), f"{type(got._op).__name__} ran, not {kernel.__name__}"
        assert not isinstance(want._op, kernel)
    rtol = TOLERANCE[dtype]
    for k, (g, w) in enumerate(zip(got_grads, want_grads, strict=True)):
        assert (g is None) == (w is None), f"gradient {k}: one side has none"
    pairs = [(k, g, w) for k, (g, w) in enumerate(zip(got_grads, want_grads, strict=True))]
    for name, g, w in [("value", got.data, want.data)] + [
        (f"gradient {k}", g, w) for k, g, w in pairs if g is not None
    ]:
        assert g.dtype == w.dtype == dtype, name
        scale = max(float(np.abs(w).max(initial=0.0)), 1e-30)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale, err_msg=name)


def kernel_of(op_name):
    return next(k for op, k in registry.KERNELS.items() if op.__name__ == op_name)


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("f", "padding", "stride", "dilation", "grouping"), CONV_CASES)
def test_conv_kernel(rng, monkeypatch, setting, dtype, f, padding, stride, dilation, grouping):
    a, w, b, groups = conv_case(rng, f, padding, stride, dilation, grouping)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    with workers(setting, monkeypatch):
        assert_kernel_computes_op(
            lambda x, k, c: F.conv2d(x, k, c, **options), [a, w, b], dtype, kernel_of("Conv2D")
        )


NEEDS = [[True, False, False], [False, True, False], [False, False, True], [True, True, False]]


@pytest.mark.parametrize("needs", NEEDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("f", "padding", "stride", "dilation", "grouping"), CONV_CASES[::23])
def test_conv_kernel_gives_only_the_gradients_asked_for(
    rng, needs, bias, f, padding, stride, dilation, grouping
):
    a, w, b, groups = conv_case(rng, f, padding, stride, dilation, grouping)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if bias:
        arrays, function = [a, w, b], lambda x, k, c: F.conv2d(x, k, c, **options)
    else:
        arrays, function, needs = [a, w], lambda x, k: F.conv2d(x, k, **options), needs[:2]
    if any(needs):
        assert_kernel_computes_op(function, arrays, np.float64, kernel_of("Conv2D"), needs)


@pytest.mark.parametrize("m", [0, 1])
def test_conv_kernel_on_an_empty_and_a_single_example_batch(rng, m):
    a, w, b, _ = conv_case(rng, 3, 1, 1, 1, "single", m=m)
    assert_kernel_computes_op(lambda x, k, c: F.conv2d(x, k, c, padding=1), [a, w, b], np.float64)


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("f", "stride", "padding"), POOL_CASES)
def test_max_pool_kernel(rng, monkeypatch, setting, dtype, f, stride, padding):
    a = distinct(rng, (3, 7, 6, 3))
    with workers(setting, monkeypatch):
        assert_kernel_computes_op(
            lambda x: F.max_pool2d(x, f, stride, padding), [a], dtype, kernel_of("MaxPool2D")
        )


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize(("f", "stride", "padding"), [(2, None, 0), (3, 1, 1), (3, 2, 1)])
def test_max_pool_kernel_on_ties_and_nans(rng, monkeypatch, setting, f, stride, padding):
    a = rng.integers(0, 3, (3, 7, 6, 3)).astype(np.float64)  # many tied windows
    a[0, 2, 3, 1] = a[1, 0, 0, 0] = a[1, 0, 1, 0] = a[2, 5, 5, 2] = np.nan
    with workers(setting, monkeypatch), np.errstate(invalid="ignore"):
        got, (got_grad,) = run(lambda x: F.max_pool2d(x, f, stride, padding), [a], np.float64,
                               kernels=True)  # fmt: skip
        want, (want_grad,) = run(lambda x: F.max_pool2d(x, f, stride, padding), [a], np.float64,
                                 kernels=False)  # fmt: skip
    np.testing.assert_array_equal(got.data, want.data)  # NaN where the op has NaN
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-12)  # the first maximum (or NaN) wins


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES)
@pytest.mark.parametrize("form", ["training", "training without gamma", "inference"])
def test_batch_norm_kernel(rng, monkeypatch, setting, dtype, shape, form):
    n_C = shape[-1]
    a = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.uniform(0.5, 1.5, n_C), rng.standard_normal(n_C)
    mean, var = rng.standard_normal(n_C), rng.uniform(0.5, 2, n_C)

    def batch_norm(x, g=None, c=None):
        running = [mean.astype(x.dtype), var.astype(x.dtype)]  # fresh copies: updated in place
        return F.batch_norm(x, g, c, *running, training=form != "inference")

    arrays = [a] if form == "training without gamma" else [a, gamma, beta]
    with workers(setting, monkeypatch):
        assert_kernel_computes_op(batch_norm, arrays, dtype, kernel_of("BatchNorm"))


def test_batch_norm_kernel_updates_the_running_statistics_as_the_op(rng):
    a = (rng.standard_normal((16, 5, 5, 4)) * 2 + 3).astype(np.float32)
    updated = []
    for kernels in (True, False):
        mean, var = np.zeros(4, np.float32), np.ones(4, np.float32)
        with cm.use_kernels(kernels):
            F.batch_norm(cm.Tensor(a), running_mean=mean, running_var=var, momentum=0.3)
        updated.append((mean, var))
    for got, want in zip(*updated, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n_in", "n_out"), DENSE_SHAPES)
def test_dense_kernel(rng, monkeypatch, setting, dtype, m, n_in, n_out):
    arrays = [rng.standard_normal(s) for s in [(m, n_in), (n_in, n_out), (n_out,)]]
    with workers(setting, monkeypatch):
        assert_kernel_computes_op(F.dense, arrays, dtype, kernel_of("Dense"))


ELEMENTWISE = {
    # name (its first word names the op whose kernel must run): (function, input shapes)
    "ReLU": (F.relu, [(6, 5, 4, 3)]),
    "GELU": (F.gelu, [(6, 5, 4, 3)]),
    "GELU tanh": (lambda a: F.gelu(a, "tanh"), [(6, 5, 4, 3)]),
    "Add": (lambda a, b: a + b, [(6, 5, 4), (6, 5, 4)]),
    "Add broadcast": (lambda a, b: a + b, [(6, 5, 4), (4,)]),
    "Sub": (lambda a, b: a - b, [(6, 5, 4), (6, 5, 4)]),
    "Mul": (lambda a, b: a * b, [(6, 5, 4), (6, 5, 4)]),
    "Mul scalar": (lambda a: a * 3.0, [(6, 5, 4)]),
    "Mul broadcast": (lambda a, b: a * b, [(6, 5, 4), (5, 1)]),
    "Pow": (lambda a: a**2, [(6, 5, 4)]),
    "Pow cube": (lambda a: a**3.0, [(6, 5, 4)]),
    "Concat": (lambda a, b: F.concat([a, b], axis=-1), [(5, 3, 3, 2), (5, 3, 3, 4)]),
    "Concat batch": (lambda a, b: F.concat([a, b], axis=0), [(2, 3, 3, 2), (5, 3, 3, 2)]),
}


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_kernels(rng, monkeypatch, setting, dtype, name):
    function, shapes = ELEMENTWISE[name]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    with workers(setting, monkeypatch):
        assert_kernel_computes_op(function, arrays, dtype, kernel_of(name.split()[0]))


def test_every_registered_kernel_is_a_subclass_of_its_op_and_is_tested():
    tested = {"Conv2D", "MaxPool2D", "BatchNorm", "Dense"} | {n.split()[0] for n in ELEMENTWISE}
    for op, kernel in registry.KERNELS.items():
        assert issubclass(kernel, op), kernel
        assert op.__name__ in tested, f"no test here proves {kernel.__name__} equal to its op"


def STATISTICS(dtype):
    return np.array([0.5, -1.0, 0.1], dtype), np.array([2.0, 0.5, 1.0], dtype)


FUSED = {
    "conv2d_relu": (
        lambda a, w, b: conv2d_relu(a, w, b, stride=2, padding=1),
        lambda a, w, b: F.relu(F.conv2d(a, w, b, stride=2, padding=1)),
        [(4, 7, 7, 3), (3, 3, 3, 5), (5,)],
    ),
    "conv2d_relu 1x1 groups": (
        lambda a, w, b: conv2d_relu(a, w, b, groups=2),
        lambda a, w, b: F.relu(F.conv2d(a, w, b, groups=2)),
        [(4, 5, 5, 4), (1, 1, 2, 6), (6,)],
    ),
    "batch_norm_relu": (
        lambda a, g, b: batch_norm_relu(a, g, b),
        lambda a, g, b: F.relu(F.batch_norm(a, g, b)),
        [(6, 4, 4, 3), (3,), (3,)],
    ),
    "batch_norm_relu in inference": (
        lambda a, g, b: batch_norm_relu(a, g, b, *STATISTICS(a.dtype), training=False),
        lambda a, g, b: F.relu(F.batch_norm(a, g, b, *STATISTICS(a.dtype), training=False)),
        [(6, 4, 4, 3), (3,), (3,)],
    ),
}


@pytest.mark.parametrize("setting", WORKERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUSED)
def test_fused_kernels_compute_the_ops_they_replace(rng, monkeypatch, setting, dtype, name):
    fused, composed, shapes = FUSED[name]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    with workers(setting, monkeypatch):
        got, got_grads = run(fused, arrays, dtype, kernels=True)
    want, want_grads = run(composed, arrays, dtype, kernels=False)
    assert type(got._op).__name__.endswith("ReLU")  # the fused kernel ran
    fallback, fallback_grads = run(fused, arrays, dtype, kernels=False)
    assert type(fallback._op).__name__ == "ReLU"  # with kernels off, the composed ops
    rtol = TOLERANCE[dtype]
    for g, w, f in zip(
        [got.data, *got_grads],
        [want.data, *want_grads],
        [fallback.data, *fallback_grads],
        strict=True,
    ):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max())
        np.testing.assert_array_equal(f, w)


def test_max_pool_kernel_takes_the_slow_nan_path_only_for_nans(rng, monkeypatch):
    """Padding with -inf must not look like a NaN: that path costs a copy of every window."""
    from convmath.kernels import pool

    calls = []
    original = pool._argmax_winners
    monkeypatch.setattr(pool, "_argmax_winners", lambda *a: calls.append(1) or original(*a))
    a = cm.Tensor(rng.standard_normal((2, 6, 6, 3)).astype(np.float32), requires_grad=True)
    F.max_pool2d(a, 3, 1, 1)  # padded: the row pass sees whole rows of -inf
    assert calls == []
    a.data[0, 2, 2, 1] = np.nan
    with np.errstate(invalid="ignore"):
        F.max_pool2d(a, 3, 1, 1)
    assert calls  # the NaN's windows are taken again
