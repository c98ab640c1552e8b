"""Optimisers against hand computations (and PyTorch when installed), schedules, clipping."""

import math

import numpy as np
import pytest

import convmath as cm
from convmath import optim
from convmath.nn import Parameter


def run(optimizer_factory, grads, w0):
    w = Parameter(np.array(w0, dtype=np.float64))
    optimizer = optimizer_factory([w])
    trajectory = []
    for g in grads:
        w.grad = np.array(g, dtype=np.float64)
        optimizer.step()
        trajectory.append(w.data.copy())
    return trajectory


GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 2.0]]


def test_plain_sgd():
    steps = run(lambda p: optim.SGD(p, lr=0.1), GRADS, [1.0, 1.0])
    np.testing.assert_allclose(steps[0], [0.9, 1.2])
    np.testing.assert_allclose(steps[2], [1.0 - 0.1 * 0.5, 1.0 - 0.1 * 0.5])


def test_sgd_momentum_weight_decay_by_hand():
    lr, mu, wd = 0.1, 0.9, 0.01
    steps = run(lambda p: optim.SGD(p, lr, momentum=mu, weight_decay=wd), GRADS, [1.0, 1.0])
    w, v = np.array([1.0, 1.0]), None
    for g, got in zip(GRADS, steps, strict=True):
        g = np.array(g) + wd * w
        v = g if v is None else mu * v + g
        w = w - lr * v
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_nesterov_by_hand():
    lr, mu = 0.1, 0.9
    steps = run(lambda p: optim.SGD(p, lr, momentum=mu, nesterov=True), GRADS, [1.0, 1.0])
    w, v = np.array([1.0, 1.0]), None
    for g, got in zip(GRADS, steps, strict=True):
        g = np.array(g)
        v = g if v is None else mu * v + g
        w = w - lr * (g + mu * v)
        np.testing.assert_allclose(got, w, rtol=1e-12)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_by_hand(decoupled):
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    cls = optim.AdamW if decoupled else optim.Adam
    steps = run(lambda p: cls(p, lr, (b1, b2), eps, weight_decay=wd), GRADS, [1.0, -1.0])
    w, m, v = np.array([1.0, -1.0]), 0.0, 0.0
    for t, (g, got) in enumerate(zip(GRADS, steps, strict=True), start=1):
        g = np.array(g)
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-12)


def test_parameters_without_gradient_are_skipped_and_state_round_trips():
    a = Parameter(np.ones(3))
    b = Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(b.data, 1.0)
    state = opt.state_dict()
    assert set(state) == {"steps", "param_steps", "m.0", "v.0"}
    np.testing.assert_array_equal(state["param_steps"], [1, 0])
    fresh = optim.Adam([a, b], lr=0.1)
    fresh.load_state_dict(state)
    assert fresh.steps == 1
    assert fresh.param_steps == [1, 0]
    np.testing.assert_array_equal(fresh.slots["m"][0], opt.slots["m"][0])
    with pytest.raises(cm.ShapeError, match="unexpected"):
        fresh.load_state_dict({"steps": np.array(1), "bogus.0": np.ones(3)})


def test_optimizer_argument_errors():
    p = [Parameter(np.ones(2))]
    with pytest.raises(cm.InvalidArgumentError, match="learning rate must be >= 0"):
        optim.SGD(p, lr=-1)
    with pytest.raises(cm.InvalidArgumentError, match=r"momentum must be in \[0, 1\]"):
        optim.SGD(p, lr=0.1, momentum=1.5)
    with pytest.raises(cm.InvalidArgumentError, match="no parameters"):
        optim.Adam([], lr=0.1)


def test_clip_grad_norm():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    norm = optim.clip_grad_norm([a, b], 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0])
    np.testing.assert_allclose(b.grad, [0.8])
    assert optim.clip_grad_norm([a, b], 10.0) == pytest.approx(1.0)
    np.testing.assert_allclose(b.grad, [0.8])


def test_schedules():
    step = optim.StepDecay(1.0, step_size=10, gamma=0.7)
    assert [step(t) for t in (0, 9, 10, 25)] == pytest.approx([1.0, 1.0, 0.7, 0.49])
    cosine = optim.WarmupCosine(1.0, total_steps=104, warmup=4, min_lr=0.1)
    assert [cosine(t) for t in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert cosine(54) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 0.5)) / 2)
    assert cosine(104) == pytest.approx(0.1)
    one = optim.OneCycle(1.0, total_steps=100, pct_start=0.3)
    assert one(0) == pytest.approx(1 / 25)
    assert one(29) == pytest.approx(1.0)
    assert one(99) == pytest.approx(1 / 25 / 1e4)
    assert optim.Constant(0.3)(1000) == 0.3


def test_adam_counts_steps_per_parameter():
    # a parameter first updated at the 5th step is at its own first step: the full lr
    a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opt = optim.Adam([a, b], lr=0.1)
    for _ in range(4):
        a.grad = np.ones(1)
        b.grad = None
        opt.step()
    b.grad = np.ones(1)
    opt.step()
    np.testing.assert_allclose(b.data, [-0.1], rtol=1e-6)
