"""The switch between equations and kernels: use_kernels, and what Function.apply runs."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import dispatch
from convmath.kernels.conv import Conv2DKernel
from convmath.ops.conv import Conv2D

# the convolution's kernel, or its compiled twin where the compiled tier is on (numba installed)
CONV_KERNEL = dispatch.COMPILED.get(Conv2DKernel, Conv2DKernel)


def conv_op():
    a = cm.Tensor(np.ones((1, 4, 4, 1), np.float32))
    w = cm.Tensor(np.ones((3, 3, 1, 1), np.float32), requires_grad=True)
    return F.conv2d(a, w)._op


def test_kernels_are_on_after_import_and_run_in_place_of_their_op():
    assert cm.kernels_enabled()
    assert type(conv_op()) is CONV_KERNEL
    assert dispatch.kernel_for(Conv2D) is CONV_KERNEL
    with cm.settings(compiled=False):
        assert type(conv_op()) is Conv2DKernel


def test_use_kernels_switches_at_once_and_restores_as_a_context_manager():
    with cm.use_kernels(False):
        assert not cm.kernels_enabled()
        assert type(conv_op()) is Conv2D
        with cm.use_kernels(True):
            assert type(conv_op()) is CONV_KERNEL
        assert not cm.kernels_enabled()
    assert cm.kernels_enabled()
    cm.use_kernels(False)
    try:
        assert type(conv_op()) is Conv2D
    finally:
        cm.use_kernels(True)


def test_the_switch_is_restored_when_the_block_raises():
    with pytest.raises(cm.ShapeError), cm.use_kernels(False):
        F.conv2d(cm.Tensor(np.ones((4, 4))), cm.Tensor(np.ones((3, 3, 1, 1))))
    assert cm.kernels_enabled()


@pytest.mark.parametrize("bad", [0, 1, "no", None])
def test_use_kernels_takes_only_a_bool(bad):
    with pytest.raises(cm.InvalidArgumentError, match="use_kernels takes True or False"):
        cm.use_kernels(bad)
    assert cm.kernels_enabled()


def test_an_op_without_a_kernel_runs_its_equation_either_way():
    a = cm.Tensor(np.ones((1, 4, 4, 1), np.float32), requires_grad=True)
    assert type(F.avg_pool2d(a, 2)._op).__name__ == "AvgPool2D"


def test_an_op_keeps_its_name_whichever_implementation_runs():
    op = conv_op()
    assert type(op) is CONV_KERNEL
    assert op.name == "Conv2D"  # what error messages call it


def test_kernels_in_this_thread_leaves_other_threads_as_they_are():
    import threading

    from convmath.dispatch import kernels_enabled, kernels_in_this_thread

    seen = {}
    inside, checked = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait(10)
        seen["other"] = kernels_enabled()
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with kernels_in_this_thread(False):
        assert not kernels_enabled()
        with kernels_in_this_thread(True):
            assert kernels_enabled()
        assert not kernels_enabled()
        inside.set()
        checked.wait(10)
    thread.join(10)
    assert seen == {"other": True}
    assert kernels_enabled()
    with cm.use_kernels(False), kernels_in_this_thread(True):
        assert kernels_enabled()  # the thread's own setting wins over the process's
