"""The engine's switches in one place: process defaults, and overrides local to a thread or task."""

import asyncio
import threading
import time

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import dispatch, ops
from convmath.errors import InvalidArgumentError, TimeBudgetError
from convmath.kernels import autotune, parallel


def in_another_thread(read):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(read()))
    thread.start()
    thread.join()
    return seen[0]


def test_a_block_overrides_its_own_thread_only():
    with cm.settings(kernels=False, grad=False, strict=True, autotune="measure", threads=1):
        now = cm.current_settings()
        assert (now.kernels, now.grad, now.strict, now.autotune, now.threads) == (
            False, False, True, "measure", 1,
        )  # fmt: skip
        assert dispatch.kernel_for(ops.conv.Conv2D) is ops.conv.Conv2D
        assert not cm.is_grad_enabled()
        assert autotune.get_policy() == "measure"
        assert parallel.get_threads() == 1
        assert in_another_thread(cm.current_settings) == cm.Settings()
    assert cm.current_settings() == cm.Settings()


def test_each_asyncio_task_has_its_own_overrides():
    async def one(grad):
        with cm.settings(grad=grad):
            await asyncio.sleep(0)
            return cm.is_grad_enabled()

    async def both():
        return await asyncio.gather(one(False), one(True))

    assert asyncio.run(both()) == [False, True]


def test_the_process_defaults_reach_every_thread_and_show_through_a_block():
    previous = cm.configure(kernels=False)
    try:
        assert in_another_thread(lambda: cm.current_settings().kernels) is False
        with cm.settings(grad=False):
            cm.configure(kernels=True)  # changed inside a block that did not override it
            assert cm.current_settings().kernels is True
            assert cm.current_settings().grad is False
    finally:
        cm.configure(**vars(previous))


def test_the_named_switches_are_the_same_settings():
    with cm.use_kernels(False):
        assert cm.current_settings().kernels is False
        assert in_another_thread(cm.kernels_enabled) is False  # the process's default
    with dispatch.kernels_in_this_thread(False):
        assert in_another_thread(cm.kernels_enabled) is True
    with cm.no_grad():
        assert cm.current_settings().grad is False
    with cm.strict_mode():
        assert cm.current_settings().strict is True
        with pytest.raises(cm.NonFiniteError):
            F.mul(cm.Tensor(np.array([np.inf])), cm.Tensor(np.array([2.0])))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kernel": True}, "unknown setting 'kernel'"),
        ({"kernels": 1}, "kernels takes True or False"),
        ({"threads": 0}, "threads must be a positive int"),
        ({"autotune": "fast"}, "autotune policy must be one of rule, measure"),
    ],
)
def test_a_bad_setting_is_refused_by_name(changes, message):
    with pytest.raises(cm.InvalidArgumentError, match=message), cm.settings(**changes):
        pass
    with pytest.raises(cm.InvalidArgumentError, match=message):
        cm.configure(**changes)
    assert cm.current_settings() == cm.Settings()


def test_using_threads_inside_a_block_restores_the_process_default():
    with cm.settings(threads=1), cm.using_threads(2):
        assert cm.current_settings().threads == 1  # the block's own override wins here
    assert cm.current_settings().threads is None


# ---------------------------------------------------------------- time budgets
def _slow_model(layers: int, seconds_each: float) -> cm.nn.Sequential:
    class Slow(cm.nn.ReLU):
        def forward(self, x: cm.Tensor) -> cm.Tensor:
            time.sleep(seconds_each)
            return super().forward(x)

    return cm.nn.Sequential(*[Slow() for _ in range(layers)]).name_modules()


def test_a_time_budget_stops_the_work_before_the_next_layer_and_names_it():
    model = _slow_model(50, 0.01)
    started = time.monotonic()
    budget = pytest.raises(TimeBudgetError, match=r"budget of 0\.05 s, before layer \d+ \(Slow\)")
    with budget, cm.time_budget(0.05):
        model(cm.Tensor(np.ones((1, 3), dtype=np.float32)))
    assert time.monotonic() - started < 0.3  # not the 0.5 s the whole model takes


def test_a_time_budget_stops_back_propagation_between_steps():
    x = cm.Tensor(np.ones((2, 3)), requires_grad=True)
    loss = x
    for _ in range(20):
        loss = loss * 1.0
    loss = loss.sum()
    with cm.time_budget(0), pytest.raises(TimeBudgetError, match="back-propagating"):
        loss.backward()
    assert x.grad is None


def test_work_within_its_budget_runs_and_the_budget_ends_with_the_block():
    model = _slow_model(3, 0.0)
    x = cm.Tensor(np.ones((1, 3), dtype=np.float32))
    with cm.time_budget(60):
        assert cm.current_settings().deadline is not None
        np.testing.assert_array_equal(model(x).data, x.data)
    assert cm.current_settings().deadline is None
    with cm.time_budget(0):
        time.sleep(0.001)
    np.testing.assert_array_equal(model(x).data, x.data)  # no budget left behind


def test_an_inner_budget_keeps_the_earlier_deadline():
    with cm.time_budget(0.001):
        outer = cm.current_settings().deadline
        with cm.time_budget(60):
            assert cm.current_settings().deadline == outer
        with cm.time_budget(0):
            assert cm.current_settings().deadline < outer


def test_a_budget_belongs_to_its_thread():
    with cm.time_budget(0):
        assert in_another_thread(lambda: cm.current_settings().deadline) is None


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf") * -1, "1", True, None])
def test_a_time_budget_must_be_seconds(bad):
    with pytest.raises(InvalidArgumentError, match="time budget"), cm.time_budget(bad):
        pass


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "soon", True])
def test_a_deadline_setting_must_be_a_finite_time(bad):
    with pytest.raises(InvalidArgumentError, match="deadline"), cm.settings(deadline=bad):
        pass
