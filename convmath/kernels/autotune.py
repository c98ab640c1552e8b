"""Choose a kernel's algorithm per layer: by a measured rule (the default), or by timing them.

Some ops have several algorithms that compute the same function (a 3x3
convolution by im2col or by Winograd; its input gradient by col2im, by the
dual convolution or by the dual's Winograd). Which is fastest depends on
the layer's shape, the BLAS, the CPU and the worker count. Two policies:

- ``"rule"`` (the default): thresholds measured once and written in the
  kernels/rules.py (``winograd_pays``, ``dual_pays``...). The same
  choice on every run, so a seed reproduces a run bit for bit.
- ``"measure"``: the first time an op meets a key (its shapes and options,
  the worker count), every candidate runs ``REPEATS`` times and the fastest
  (best of its runs, wall clock) is kept for the rest of the process. The
  choice never changes the numbers beyond float rounding, and each
  algorithm gives the same bits on any number of workers; but two runs may
  choose differently where two candidates are about as fast. A key met while
  the workers are busy with another caller's op (the server's requests), or
  from inside a worker, takes the rule and is not kept: timed there, the
  candidates would run on fewer workers than the key says.

:func:`choices` lists what was chosen and the times that chose it, for the
benchmarks and ``convmath train --autotune``; the rule's choices are listed
too, the first ``LISTED_RULES`` keys (a server meets a new key for each new
batch size).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from convmath.errors import InvalidArgumentError
from convmath.kernels import parallel
from convmath.switchboard import configure, current_settings, settings

REPEATS = 3  # runs per candidate: the best of them counts, so one slow run (noise) does not
LISTED_RULES = 1000


@dataclass(frozen=True)
class Choice:
    """The algorithm an op uses for one key, and how it was chosen."""

    op: str  # e.g. "conv2d forward"
    layer: str  # the key, readable: shapes and options
    algorithm: str
    seconds: dict[str, float] = field(default_factory=dict)  # best time per candidate (measured)

    def line(self) -> str:
        """One line: what was chosen, and the times if measured."""
        if not self.seconds:
            return f"{self.op:<22} {self.layer:<52} {self.algorithm}"
        times = ", ".join(
            f"{name} {1000 * seconds:.2f} ms" for name, seconds in sorted(self.seconds.items())
        )
        return f"{self.op:<22} {self.layer:<52} {self.algorithm:<14} ({times})"


_table: dict[tuple, Choice] = {}
_lock = threading.Lock()


def get_policy() -> str:
    """``"rule"`` or ``"measure"``: how kernels choose their algorithms now (here)."""
    return current_settings().autotune


def set_policy(policy: str) -> None:
    """Choose by the measured rules (``"rule"``) or by timing the candidates (``"measure"``).

    For the whole process; the choices made so far stay (see :func:`clear`).
    """
    configure(autotune=policy)


@contextlib.contextmanager
def using_policy(policy: str) -> Iterator[None]:
    """Run a ``with`` block under ``policy`` (in this thread or task), then the previous one."""
    with settings(autotune=policy):
        yield


def choose(
    op: str,
    key: tuple,
    layer: Callable[[], str],
    candidates: Sequence[str],
    rule: str,
    run: Callable[[str], object],
) -> str:
    """The algorithm to use for ``key``: ``rule`` under the rule policy, else the fastest.

    ``candidates`` are the algorithms that compute this op for this key
    (``rule`` among them); ``run(name)`` computes it once with algorithm
    ``name`` (its result is dropped). Under ``"measure"`` an unseen key
    times every candidate ``REPEATS`` times, and the choice is kept;
    a key seen before returns its choice at once. ``layer()`` describes the
    key in :func:`choices` (called once per key).
    """
    if rule not in candidates:
        raise InvalidArgumentError(f"{op}: rule {rule!r} is not among {list(candidates)}")
    policy = get_policy()
    entry = (policy, op, key)
    found = _table.get(entry)
    if policy == "rule" or len(candidates) == 1:  # listed, but the rule decides each time
        if found is None and len(_table) < LISTED_RULES:
            with _lock:
                _table[entry] = Choice(op, layer(), rule)
        return rule
    if found is not None:
        return found.algorithm
    if not parallel.workers_at_hand():
        return rule
    seconds = {}
    for name in candidates:
        best = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            run(name)
            best = min(best, time.perf_counter() - started)
        seconds[name] = best
    fastest = min(candidates, key=lambda name: (seconds[name], name != rule))
    with _lock:
        found = _table.setdefault(entry, Choice(op, layer(), fastest, seconds))
    return found.algorithm


def choices(policy: str | None = None) -> list[Choice]:
    """What was chosen in this process so far under ``policy`` (default: the current one).

    In the order the keys were first met; measured choices carry their times.
    """
    policy = get_policy() if policy is None else policy
    with _lock:
        return [choice for (made_by, *_), choice in _table.items() if made_by == policy]


def clear() -> None:
    """Forget every choice: the next step measures again (under ``"measure"``)."""
    with _lock:
        _table.clear()
