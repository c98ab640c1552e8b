"""Which code runs: an op's equation (``convmath/ops/``) or its fast twin (``convmath/kernels/``).

This module is only the switch and the two tables it consults; what goes in
them is declared in one place, :mod:`convmath.kernels.registry`.

- ``Function.apply`` looks an op up in :data:`KERNELS` and, while kernels are
  on, runs the kernel registered for it: the same function, computed faster.
- While the ``compiled`` setting is on, a kernel with a compiled twin in
  :data:`COMPILED` (numba loops, :mod:`convmath.kernels.compiled`) runs that instead.
- ``Module.__call__`` asks the :data:`PLANNER` whether it has a faster way to
  run a module (several layers as one fused op); ``None`` means "run its
  forward as written".

Kernels are on after ``import convmath``. The switch is the ``kernels``
setting of :mod:`convmath.switchboard`: :func:`use_kernels` sets the
process's default (or, as a context manager, for a ``with`` block), so a
learner can step through the equations of any model and a test can run
both; :func:`kernels_in_this_thread` (``convmath.settings(kernels=...)``)
switches them for one thread's or task's block alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from convmath.errors import InvalidArgumentError
from convmath.switchboard import configure, current_settings, settings

KERNELS: dict[type, type] = {}  # op class -> kernel class, filled by convmath.kernels.registry
# kernel class -> its compiled twin (numba loops), filled by the registry where numba is installed;
# used while the ``compiled`` setting is on
COMPILED: dict[type, type] = {}
PLANNER: list[Callable[[Any], Callable[[Any], Any] | None]] = []  # at most one planner
# At most one: what the kernels hold while a module or a back propagation runs (BLAS on one
# thread, so that its own threads never spin on the cores the workers need).
HOLD: list[AbstractContextManager[Any]] = []
# At most one: how many examples' working memory a chunked kernel holds at once, for a batch
# and the bytes one example's needs (the limits' memory estimate asks, see nn Module.scratch_bytes).
CHUNKING: list[Callable[[int, int], int]] = []
# At most one: whether a convolution keeps its im2col matrix of so many bytes for backward.
KEEPING: list[Callable[[int], bool]] = []
_NOTHING = nullcontext()

_across: dict[type, type] = {}  # op -> the op computed across processes (sync batch norm)


def kernels_enabled() -> bool:
    """Whether ops run their kernels and modules their fused plans (True by default)."""
    return current_settings().kernels


def kernel_for(op: type) -> type:
    """The class that computes ``op`` now: its registered kernel, or ``op`` itself.

    An op computed across processes (:func:`compute_across`) comes first, kernels or not.
    While the ``compiled`` setting is on, a kernel with a compiled twin (:data:`COMPILED`)
    gives way to it; a fused kernel (``kernel_for(BatchNormReLU)``) is looked up the same way.
    """
    if op in _across:
        return _across[op]
    switches = current_settings()
    if not switches.kernels:
        return op
    kernel = KERNELS.get(op, op)
    return COMPILED.get(kernel, kernel) if switches.compiled else kernel


def examples_at_once(batch: int, bytes_per_example: int) -> int:
    """How many examples of ``batch`` an op that works chunk by chunk holds at once now.

    The whole batch where the equations run (kernels off); with the kernels,
    the examples of the chunks the workers hold side by side.
    """
    if CHUNKING and current_settings().kernels:
        return min(batch, CHUNKING[0](batch, bytes_per_example))
    return batch


def keeps_for_backward(matrix_bytes: int) -> bool:
    """Whether a convolution keeps its im2col matrix from forward (the equations always do)."""
    if KEEPING and current_settings().kernels:
        return KEEPING[0](matrix_bytes)
    return True


def holding() -> AbstractContextManager[Any]:
    """What a module call and a back propagation run inside (see :data:`HOLD`)."""
    return HOLD[0] if HOLD else _NOTHING


def plan_for(module: Any) -> Callable[[Any], Any] | None:
    """A faster way to run ``module`` (while kernels are on), or None."""
    if PLANNER and kernels_enabled():
        return PLANNER[0](module)
    return None


class _Switch:
    """The previous setting, restored when used as a context manager."""

    def __init__(self, previous: bool) -> None:
        self.previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        configure(kernels=self.previous)


def use_kernels(enabled: bool) -> _Switch:
    """Run the fast kernels (True) or the plain equations of ``ops/`` (False).

    Takes effect at once, for the whole process; used as a context manager it
    restores the previous setting at the end of the block::

        with convmath.use_kernels(False):
            J = loss(model(X), Y)   # every op computed as its docstring writes it
            J.backward()
    """
    if not isinstance(enabled, bool):
        raise InvalidArgumentError(f"use_kernels takes True or False, got {enabled!r}")
    return _Switch(configure(kernels=enabled).kernels)


@contextmanager
def kernels_in_this_thread(enabled: bool) -> Iterator[None]:
    """Kernels on or off for the calling thread (or task) only, for a ``with`` block.

    Other threads keep the process's setting: a server can trace one request
    through the equations while another thread trains with the kernels.
    The same as ``convmath.settings(kernels=enabled)``.
    """
    if not isinstance(enabled, bool):
        raise InvalidArgumentError(f"kernels_in_this_thread takes True or False, got {enabled!r}")
    with settings(kernels=enabled):
        yield


def computed_across(op: type) -> bool:
    """Whether ``op`` is now computed across processes (a fused kernel must not replace it)."""
    return op in _across


class _Across:
    """The previous replacements, restored when used as a context manager."""

    def __init__(self, previous: dict[type, type]) -> None:
        self.previous = previous

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _across.clear()
        _across.update(self.previous)


def compute_across(replacements: dict[type, type]) -> _Across:
    """Compute each op of ``replacements`` by its value (``{}``: none); a context restores.

    Distributed training uses it for batch norm over the global batch
    (:mod:`convmath.distributed.sync_batch_norm`)::

        with compute_across({BatchNorm: synced_over(world)}):
            trainer.fit()
    """
    previous = dict(_across)
    _across.clear()
    _across.update(replacements)
    return _Across(previous)
