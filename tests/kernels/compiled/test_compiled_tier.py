"""The compiled tier's switch: one setting, its start-up variable, and what runs without numba."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import dispatch
from convmath.kernels import compiled, registry
from convmath.kernels.normalization import BatchNormKernel
from convmath.ops.normalization import BatchNorm

ROOT = Path(__file__).resolve().parents[3]


def test_every_compiled_twin_is_a_subclass_of_the_kernel_it_replaces():
    for kernel, twin in registry.COMPILED.items():
        assert issubclass(twin, kernel), twin
        assert twin.__name__.startswith("Compiled")


def test_the_setting_switches_the_twin_in_and_out():
    if not compiled.INSTALLED:
        pytest.skip("numba is not installed")
    with cm.settings(compiled=True):
        assert dispatch.kernel_for(BatchNorm) is registry.COMPILED[BatchNormKernel]
        assert compiled.status() == "compiled tier: on (numba)"
        with cm.settings(kernels=False):
            assert dispatch.kernel_for(BatchNorm) is BatchNorm  # the equation, whatever the tier
    with cm.settings(compiled=False):
        assert dispatch.kernel_for(BatchNorm) is BatchNormKernel
        assert "CONVMATH_COMPILED=0" in compiled.status()


def test_the_setting_takes_only_true_or_false():
    with pytest.raises(cm.errors.InvalidArgumentError, match="compiled takes True or False"):
        cm.configure(compiled="yes")


def _child(code, **env):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_start_up_variable_turns_the_tier_off_and_numba_is_not_imported_before_use():
    code = (
        "import sys, convmath as cm; from convmath.kernels import compiled;"
        "print(cm.current_settings().compiled, 'numba' in sys.modules)"
    )
    assert _child(code, CONVMATH_COMPILED="0") == ["False", "False"]
    assert _child(code, CONVMATH_COMPILED="1") == ["True", "False"]  # imported on first use


def test_without_numba_the_numpy_kernels_run_with_the_same_numbers(rng):
    """A child where numba cannot be found: no twins, today's kernels, the tier said off."""
    code = (
        "import sys; sys.modules['numba'] = None\n"  # import numba fails, find_spec says absent
        "import importlib.util, numpy as np, convmath as cm, convmath.functional as F\n"
        "from convmath import dispatch\nfrom convmath.kernels import compiled\n"
        "a = cm.Tensor(np.linspace(-2, 3, 4 * 6 * 6 * 3).reshape(4, 6, 6, 3), requires_grad=True)\n"
        "z = F.max_pool2d(F.batch_norm(a), 2)\n"
        "print(len(dispatch.COMPILED), type(z._op).__name__, z.data.sum().hex())\n"
        "print(compiled.status().split(':')[1].strip().split()[0])\n"
    )
    got = _child(code)
    a = cm.Tensor(np.linspace(-2, 3, 4 * 6 * 6 * 3).reshape(4, 6, 6, 3))
    with cm.settings(compiled=False):
        want = F.max_pool2d(F.batch_norm(a), 2).data.sum().hex()
    assert got == ["0", "MaxPool2DKernel", want, "off"]


def test_a_loop_compiles_uncached_where_no_folder_takes_the_cache(monkeypatch):
    numba = pytest.importorskip("numba")
    from convmath.kernels.compiled.loops import compiled_loop

    original = numba.njit

    def no_cache_folder(*args, cache=False, **options):
        if cache:  # as numba does when no locator finds a writable folder
            raise RuntimeError("cannot cache function: no locator available")
        return original(*args, **options)

    monkeypatch.setattr(numba, "njit", no_cache_folder)

    def doubled(values):
        return values * 2

    assert compiled_loop(doubled)(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]


@pytest.mark.slow
def test_the_machine_code_is_cached_on_disk_for_the_next_process(tmp_path):
    if not compiled.INSTALLED:
        pytest.skip("numba is not installed")
    code = (
        "import numpy as np, convmath as cm, convmath.functional as F\n"
        "from convmath.kernels import rules\n"  # the child's own rule: channels that compile
        "shape = (2, 4, 4, rules.COMPILED_POOL_MIN_CHANNELS)\n"
        "a = cm.Tensor(np.ones(shape, np.float32), requires_grad=True)\n"
        "F.max_pool2d(a, 2).sum().backward(); print('ok')\n"
    )
    assert _child(code, NUMBA_CACHE_DIR=str(tmp_path)) == ["ok"]
    cached = [path.name for path in tmp_path.rglob("*") if path.suffix in (".nbi", ".nbc")]
    assert any(name.startswith("pool._max_pool") for name in cached), cached
