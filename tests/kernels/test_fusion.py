"""The planner: CONV -> BN -> ReLU runs fused, computing what the layers compute one by one."""

import numpy as np
import pytest

import convmath as cm
from convmath import models, nn
from convmath.kernels.conv import Conv2DReLU
from convmath.kernels.fusion import plan, plan_layers
from convmath.kernels.normalization import BatchNormReLU


def test_sequential_runs_a_conv_and_its_relu_as_one_op():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2D(2, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.Conv2D(4, 3, 3, rng=rng), nn.Tanh()
    ).name_modules()
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    fused_out = model(cm.Tensor(x))
    assert type(fused_out._op).__name__ == "Tanh"
    assert isinstance(fused_out._op.inputs[0]._op.inputs[0]._op, Conv2DReLU)  # conv1 + relu1
    fused_out.sum().backward()
    fused_grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    with cm.use_kernels(False):
        one_by_one = model(cm.Tensor(x))
        assert type(one_by_one._op.inputs[0]._op.inputs[0]._op).__name__ == "ReLU"
        one_by_one.sum().backward()
    np.testing.assert_allclose(fused_out.data, one_by_one.data, rtol=1e-5, atol=1e-6)
    for fused_grad, p in zip(fused_grads, model.parameters(), strict=True):
        np.testing.assert_allclose(fused_grad, p.grad, rtol=1e-5, atol=1e-6)


def test_eval_mode_folds_batch_norm_into_the_conv_before_it():
    rng = np.random.default_rng(2)
    model = nn.Sequential(
        nn.Conv2D(3, 4, 3, padding=1, rng=rng), nn.BatchNorm2D(4), nn.ReLU()
    ).name_modules()
    model.eval()
    assert [len(step.layers) for step in plan_layers(list(model))] == [3]
    out = model(cm.Tensor(rng.standard_normal((2, 5, 5, 3)).astype(np.float32)))
    assert isinstance(out._op, Conv2DReLU)  # one op: conv, batch norm and ReLU
    model.train()
    assert [len(step.layers) for step in plan_layers(list(model))] == [1, 2]
    out = model(cm.Tensor(rng.standard_normal((2, 5, 5, 3)).astype(np.float32)))
    assert isinstance(out._op, BatchNormReLU)  # training: batch statistics, BN + ReLU fused


def test_a_layer_that_overrides_forward_is_never_fused():
    class Shifted(nn.ReLU):
        def forward(self, x):
            return super().forward(x) + 1.0

    class Called(nn.ReLU):
        def __call__(self, x):
            return super().__call__(x) + 2.0

    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Conv2D(1, 2, 3, rng=rng), Shifted())
    assert plan(model) is None
    x = cm.Tensor(rng.standard_normal((1, 5, 5, 1)).astype(np.float32))
    assert float(model(x).data.min()) >= 1.0
    assert plan(nn.Sequential(nn.Conv2D(1, 2, 3, rng=rng), Called())) is None
    patched = nn.ReLU()
    patched.forward = lambda x: x * 0.0
    model = nn.Sequential(nn.Conv2D(1, 2, 3, rng=rng), patched)
    assert plan(model) is None
    assert float(np.abs(model(x).data).max()) == 0.0
    assert plan(nn.ReLU()) is None  # only sequences are planned
    assert plan(nn.Sequential(nn.Conv2D(1, 2, 3, rng=rng), nn.ReLU())) is not None


@pytest.mark.parametrize("training", [True, False])
def test_fused_resnet_matches_its_equations(training):
    def run(kernels: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        rng = np.random.default_rng(1)
        model = models.build("resnet", (8, 8, 3), 10, rng=rng, depth=8)
        for _, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2D):  # statistics that make folding matter
                module.running_mean[:] = rng.standard_normal(module.n_C)
                module.running_var[:] = rng.uniform(0.5, 2.0, module.n_C)
                module.gamma.data[:] = rng.uniform(0.5, 1.5, module.n_C)
        model.train(training)
        x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
        weights = rng.standard_normal((4, 10)).astype(np.float32)
        if kernels:
            planned = [m for _, m in model.named_modules() if plan(m) is not None]
            assert len(planned) >= 3  # the stem and the blocks' main paths run fused
        with cm.use_kernels(kernels):
            out = model(cm.Tensor(x))
            (out * cm.Tensor(weights)).sum().backward()
        return out.data, [p.grad for p in model.parameters()], dict(model.named_buffers())

    fused, fused_grads, fused_buffers = run(kernels=True)
    plain, plain_grads, plain_buffers = run(kernels=False)
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5)
    for got, want in zip(fused_grads, plain_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    for name, buffer in plain_buffers.items():  # running statistics moved alike (or not at all)
        np.testing.assert_allclose(fused_buffers[name], buffer, rtol=1e-5, atol=1e-6)


SMALL_INPUTS = {"resnet": (16, 16, 3), "mnist_cnn": (12, 12, 1), "wide_cnn": (8, 8, 1)}


def _in_dtype(model, dtype):
    for _, p in model.named_parameters():
        p.data = p.data.astype(dtype)
    for _, module in model.named_modules():
        for buffer in module._buffer_names:
            setattr(module, buffer, getattr(module, buffer).astype(dtype))
    return model


# In float32, a pre-activation within rounding of 0 (or a near tie in a max pool) may fall on
# either side in the two paths and send a step's gradient elsewhere: over several steps the
# runs drift apart by far more than rounding (OpenBLAS 0.3.31 on 2 threads does it to ResNet
# at the second step). One float32 step, and several float64 steps, compare the paths.
@pytest.mark.parametrize(("dtype", "steps", "rtol"), [(np.float32, 1, 1e-4), (np.float64, 3, 1e-9)])
@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_named_model_trains_and_evaluates_the_same_with_kernels_off(name, dtype, steps, rtol):
    from convmath import optim
    from convmath.functional import softmax_cross_entropy

    def train_and_evaluate(kernels: bool) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(6)
        shape = SMALL_INPUTS.get(name, (28, 28, 1) if name != "digits_cnn" else (8, 8, 1))
        model = _in_dtype(models.build(name, shape, 10, rng=rng), dtype)
        if kernels:
            assert any(plan(m) is not None for _, m in model.named_modules()), "nothing fused"
        opt = optim.SGD(model.parameters(), 0.05, momentum=0.9)
        x = rng.standard_normal((6, *shape)).astype(dtype)
        labels = rng.integers(0, 10, 6)
        with cm.use_kernels(kernels):
            for _ in range(steps):
                opt.zero_grad()
                softmax_cross_entropy(model(cm.Tensor(x)), labels).backward()
                opt.step()
            model.eval()
            with cm.no_grad():
                logits = model(cm.Tensor(x)).data
        return np.concatenate([p.data.ravel() for p in model.parameters()]), logits

    weights, logits = train_and_evaluate(kernels=True)
    plain_weights, plain_logits = train_and_evaluate(kernels=False)
    assert weights.dtype == dtype
    np.testing.assert_allclose(weights, plain_weights, rtol=rtol, atol=rtol / 10)
    np.testing.assert_allclose(logits, plain_logits, rtol=rtol, atol=rtol * np.abs(logits).max())
