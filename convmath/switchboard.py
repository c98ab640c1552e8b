"""The engine's switches in one place: kernels, worker threads, the autotuner, grad, strict mode...

=========== ============ ====================================================
setting     default      what it switches
=========== ============ ====================================================
kernels     True         ops run their fast kernels (False: the equations)
threads     None         workers for chunked ops (None: every available CPU)
autotune    "rule"       kernels choose algorithms by rule, or "measure" them
grad        True         ops record the graph for back propagation
strict      False        back propagation checks every gradient it passes on
compiled    True         kernels use their compiled loops (numba) where installed;
                         the environment variable CONVMATH_COMPILED=0 starts with False
deadline    None         the time.monotonic() by which work must end (None: any)
prefetch    False        the trainer makes the next batch (augmented) on a thread of
                         its own while one trains (off by default: on 2 cores it
                         measured 0.96-1.02x, docs/PERFORMANCE.md)
=========== ============ ====================================================

Two levels, one table. :func:`configure` sets the process's defaults, which
every thread and task starts from. ``with settings(...)`` overrides some of
them for a block, in the calling thread or asyncio task alone (a
``contextvars`` context): a server traces one request through the equations
while another thread trains with the kernels, and ``no_grad`` in one thread
leaves the others' back propagation alone. The older switches
(``use_kernels``, ``set_threads``, ``no_grad``, ``strict_mode``...) are
these two, named for what they do.

The deadline is a budget, not a switch: ``with time_budget(seconds)`` gives
the block's work that long, and :func:`check_deadline`, called before each
layer's forward pass and each step of back propagation, stops it with a
:class:`TimeBudgetError` naming where it was. A server gives every request
its budget this way; one layer's own work is not cut short (its size is
bounded by the memory estimate instead).

>>> import convmath
>>> with convmath.settings(kernels=False, grad=False):
...     convmath.current_settings().kernels, convmath.is_grad_enabled()
(False, False)
>>> convmath.current_settings().kernels
True
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from convmath.errors import InvalidArgumentError, TimeBudgetError
from convmath.shapes import positive_int

POLICIES = ("rule", "measure")  # how kernels choose their algorithms (kernels/autotune.py)
MAX_THREADS = 1024  # worker threads at most: each is a real thread, started on first use
# The compiled tier's switch at start-up: "0" starts the process with it off (kernels/compiled/).
COMPILED_VARIABLE = "CONVMATH_COMPILED"


@dataclass(frozen=True)
class Settings:
    """One value of every switch (see the module's table)."""

    kernels: bool = True
    threads: int | None = None
    autotune: str = "rule"
    grad: bool = True
    strict: bool = False
    compiled: bool = os.environ.get(COMPILED_VARIABLE, "1").strip() != "0"
    deadline: float | None = None
    prefetch: bool = False


NAMES = tuple(f.name for f in fields(Settings))
_lock = threading.Lock()
_process = [Settings()]  # the defaults (a list: replaced whole, never mutated)
# A block's overrides, with the defaults they were laid on and the result (the ops read the
# result: one context lookup and one identity check per op).
_here: ContextVar[tuple[dict[str, Any], Settings, Settings] | None] = ContextVar(
    "convmath_settings", default=None
)


def current_settings() -> Settings:
    """Every setting as it stands in the calling thread or task."""
    here = _here.get()
    if here is None:
        return _process[0]
    overrides, base, result = here
    if base is _process[0]:
        return result
    return replace(_process[0], **overrides)  # the defaults changed inside the block


def defaults() -> Settings:
    """The process's defaults, whatever a block in the calling thread overrides."""
    return _process[0]


def configure(**changes: Any) -> Settings:
    """Change the process's defaults (every thread without an override); returns the old ones."""
    checked = _checked(changes)
    with _lock:  # two threads configuring at once both keep their change
        previous = _process[0]
        _process[0] = replace(previous, **checked)
    return previous


@contextmanager
def settings(**changes: Any) -> Iterator[Settings]:
    """Within the block, these settings in this thread or task only; restored after."""
    here = _here.get()
    overrides = {**(here[0] if here else {}), **_checked(changes)}
    base = _process[0]
    result = replace(base, **overrides)
    token = _here.set((overrides, base, result))
    try:
        yield result
    finally:
        _here.reset(token)


_budgets: ContextVar[float | None] = ContextVar("convmath_budget", default=None)  # its seconds


@contextmanager
def time_budget(seconds: float) -> Iterator[Settings]:
    """Within the block, work in this thread or task must end within ``seconds``.

    A budget inside another keeps the earlier of the two deadlines.

    >>> import convmath
    >>> with convmath.time_budget(0):
    ...     convmath.nn.ReLU()(convmath.Tensor([1.0]))
    Traceback (most recent call last):
    ...
    convmath.errors.TimeBudgetError: ran past its time budget of 0 s, before layer ReLU
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise InvalidArgumentError(f"a time budget is a number of seconds >= 0, got {seconds!r}")
    deadline = time.monotonic() + float(seconds)
    earlier = current_settings().deadline
    budget = _budgets.set(float(seconds))
    try:
        with settings(deadline=deadline if earlier is None else min(deadline, earlier)) as now:
            yield now
    finally:
        _budgets.reset(budget)


def check_deadline(where: str | Callable[[], str]) -> None:
    """A :class:`TimeBudgetError` saying ``where`` (text, or a function that gives it, called
    only then) if the calling block's deadline has passed."""
    deadline = current_settings().deadline
    if deadline is not None and time.monotonic() > deadline:
        budget = _budgets.get()
        given = "" if budget is None else f" of {budget:g} s"
        raise TimeBudgetError(
            f"ran past its time budget{given}, {where if isinstance(where, str) else where()}"
        )


def _checked(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(NAMES))
    if unknown:
        raise InvalidArgumentError(f"unknown setting {unknown[0]!r}; the settings are {NAMES}")
    checked = dict(changes)
    for name in ("kernels", "grad", "strict", "compiled", "prefetch"):
        if name in checked and not isinstance(checked[name], bool):
            raise InvalidArgumentError(f"{name} takes True or False, got {checked[name]!r}")
    if checked.get("threads") is not None:
        checked["threads"] = positive_int(checked["threads"], "threads")
        if checked["threads"] > MAX_THREADS:
            raise InvalidArgumentError(
                f"threads must be at most {MAX_THREADS}, got {checked['threads']}"
            )
    deadline = checked.get("deadline")
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not math.isfinite(deadline)
    ):
        raise InvalidArgumentError(
            f"deadline is a time.monotonic() value or None, got {deadline!r}"
        )
    if "autotune" in checked and checked["autotune"] not in POLICIES:
        raise InvalidArgumentError(
            f"autotune policy must be one of {', '.join(POLICIES)}, got {checked['autotune']!r}"
        )
    return checked
