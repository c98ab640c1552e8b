"""Batch chunks: run an op over slices of the mini-batch, sized to stay in cache, on all cores.

Small convolutions are memory-bound: their im2col matrix is f*f times larger
than the input, and a pass over a whole batch of it goes out to main memory
several times (the copy, the GEMM, col2im). Cut into chunks of a few
examples, each chunk's matrix is built, multiplied and dropped while it is
still in the core's cache, and the chunks of one op are independent, so the
cores can take turns: worker ``k`` of ``T`` takes chunks k, k+T, k+2T, ...
in order. BLAS runs single-threaded meanwhile (its own threads would fight
the workers for the cores), and NumPy releases the GIL inside its copies,
ufuncs and GEMMs, so the workers run truly side by side.

The speed travels with the library, not with the command that calls it: the
workers start on first use, one per CPU the process may use unless
:func:`set_threads` says otherwise, and BLAS is held to one thread only while
convmath computes (:func:`single_threaded_blas`, entered by every chunked op
and around whole training and evaluation loops), then given back its own
setting. ``fit``, a ``Trainer``, a notebook or a thread of the user's own run
at the command line's speed, and the user's own NumPy keeps its BLAS threads.

The chunks of an op do not depend on the number of workers, and a result
that sums over chunks (a filter gradient, batch statistics) adds its parts in
batch order: the same seed reproduces a run bit for bit, whatever the thread
count.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from convmath.errors import InvalidArgumentError
from convmath.kernels import rules
from convmath.kernels.crew import Crew
from convmath.switchboard import configure, current_settings, defaults

T = TypeVar("T")


_crew: Crew | None = None  # the worker threads, started when first needed
_inside = threading.local()  # .active: a crew worker; .blas_depth: single_threaded_blas nesting
_lock = threading.Lock()


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def get_threads() -> int:
    """How many workers run the chunks of an op (every available CPU unless set otherwise)."""
    return current_settings().threads or available_cpus()


def set_threads(count: int | None) -> None:
    """Run chunked ops on ``count`` workers; ``None`` restores the default, every available CPU.

    Every GEMM of convmath's ops runs on one thread inside a worker (see
    :func:`single_threaded_blas`), so a run gives the same bits for any
    ``count``. This changes the whole process; set it from one thread,
    outside any op. The workers themselves start when an op first needs them.
    """
    global _crew
    if getattr(_inside, "active", False):
        raise InvalidArgumentError("set_threads cannot be called from inside a chunked op")
    with _lock:
        configure(threads=count)
        retired, _crew = _crew, None
    if retired is not None:
        retired.retire()  # once the op running on it, if any, is done


@contextlib.contextmanager
def using_threads(count: int | None = None) -> Iterator[None]:
    """Within the block, run on ``count`` workers (default: every available CPU), process-wide."""
    previous = defaults().threads  # the process's, not a block's override
    set_threads(available_cpus() if count is None else count)
    try:
        yield
    finally:
        set_threads(previous)


def chunk_bounds(m: int, bytes_per_example: int, *, target: int | None = None) -> list[range]:
    """Split examples 0..m-1 into consecutive ranges of about ``target`` bytes of work each.

    A job of rules.MIN_PARALLEL_BYTES or more gets at least rules.MIN_CHUNKS chunks, so
    that the workers share it; smaller ones stay whole (a hand-over would cost
    more). The split never depends on the number of workers, and every sum
    over chunks adds them in batch order, so results are the same bits
    whatever the thread count. Sizes differ by at most one example.
    """
    target = rules.CHUNK_BYTES if target is None else target
    total = m * max(bytes_per_example, 1)
    count = max(1, -(-total // target))
    if total >= rules.MIN_PARALLEL_BYTES:
        count = max(count, rules.MIN_CHUNKS)
    count = min(m, count) if m else 1
    edges = [m * k // count for k in range(count + 1)]
    return [range(edges[k], edges[k + 1]) for k in range(count)]


def examples_at_once(m: int, bytes_per_example: int) -> int:
    """The most examples of a batch of ``m`` whose chunks the workers hold at the same time.

    (The largest chunk of :func:`chunk_bounds`, times the chunks that run side by side.)
    """
    if m <= 0:
        return 0
    chunks = chunk_bounds(m, bytes_per_example)
    largest = max(len(chunk) for chunk in chunks)
    return min(m, largest * min(len(chunks), max(get_threads(), 1)))


def run_chunks(chunks: list[range], work: Callable[[range, int], None]) -> None:
    """Call ``work(chunk, worker)`` for every chunk; worker k takes chunks k, k+T, ...

    ``worker`` (0 <= worker < T) lets ``work`` keep per-worker scratch space;
    keep sums per chunk and add them in batch order (as :func:`map_parts`
    does), so that results do not depend on T. An exception in any chunk is
    raised here once every worker has stopped. Nested calls (``work`` itself
    calling run_chunks) run on the calling thread. BLAS runs on one thread
    for the call's duration (:func:`single_threaded_blas`).
    """
    with single_threaded_blas():
        _run_chunks(chunks, work)


def _run_chunks(chunks: list[range], work: Callable[[range, int], None]) -> None:
    workers = _worker_count(chunks)
    crew = _claim_crew() if workers > 1 else None
    if crew is None:  # one worker, or another thread has the crew: this thread alone
        for chunk in chunks:
            work(chunk, 0)
        return
    workers = min(workers, crew.size)  # set_threads may have changed the count meanwhile
    caller = np.geterr()  # the caller's floating-point error handling holds in every worker

    def run_worker(worker: int) -> None:
        _inside.active = True
        try:
            with np.errstate(**caller):
                for chunk in chunks[worker::workers]:
                    work(chunk, worker)
        finally:
            _inside.active = False

    crew.run(run_worker, workers)


def workers_at_hand() -> bool:
    """Whether an op started now would have all get_threads() workers (a hint: no claim)."""
    if get_threads() == 1:
        return True
    if getattr(_inside, "active", False):  # nested: the op runs on this worker alone
        return False
    crew = _crew
    return crew is None or crew.retired or not crew.busy


def start_workers() -> None:
    """Start the get_threads() workers now rather than at the first op that needs them.

    A count the system cannot start (``can't start new thread``) then fails
    here, as one :class:`InvalidArgumentError`, before any work is done.
    """
    if get_threads() > 1 and not getattr(_inside, "active", False):
        _current_crew()


def _claim_crew() -> Crew | None:
    """The crew of get_threads() workers, claimed for one op; None if another thread has it."""
    crew = _current_crew()
    return crew if crew.claim() else None


def _current_crew() -> Crew:
    """The crew of get_threads() workers, started if there is none (or a smaller one, idle)."""
    global _crew
    wanted = get_threads()  # this thread's or task's setting (convmath.settings(threads=...))
    with _lock:  # set_threads may swap the crew from another thread
        # retired: a caller was interrupted (see crew.py); smaller: a block asks for more
        if _crew is None or _crew.retired or (_crew.size < wanted and not _crew.busy):
            if _crew is not None:
                _crew.retire()
                _crew = None
            _crew = Crew(wanted)  # InvalidArgumentError if the system refuses a thread
        return _crew


def _worker_count(chunks: list[range]) -> int:
    """How many workers :func:`run_chunks` will use for ``chunks``."""
    return 1 if getattr(_inside, "active", False) else min(get_threads(), len(chunks))


def for_each_part(m: int, bytes_per_example: int, work: Callable[[slice], None]) -> None:
    """``work(part)`` for slices ``part`` of the batch 0..m-1 that cover it once, on the workers."""
    run_chunks(chunk_bounds(m, bytes_per_example), lambda chunk, _: work(_as_slice(chunk)))


def for_each_slab(work: Callable[[Any], object], *arrays: np.ndarray) -> None:
    """``work(part)`` over parts of the first axis of same-shaped ``arrays``, on the workers.

    For elementwise passes: ``work`` applies the same index to each array
    (broadcast views included). A 0-d array is one part, indexed by ``...``.
    """
    first = arrays[0]
    if first.ndim == 0:
        work(...)
        return
    bytes_per_row = sum(first.dtype.itemsize * (first.size // max(len(first), 1)) for _ in arrays)
    for_each_part(len(first), bytes_per_row, work)


def map_parts(m: int, bytes_per_example: int, part_result: Callable[[slice], T]) -> list[T]:
    """``part_result(part)`` for slices of the batch 0..m-1 that cover it once, in batch order."""
    results: dict[int, T] = {}

    def work(chunk: range, _worker: int) -> None:
        results[chunk.start] = part_result(_as_slice(chunk))

    run_chunks(chunk_bounds(m, bytes_per_example), work)
    return [results[start] for start in sorted(results)]


def sum_over_parts(
    m: int, bytes_per_example: int, part_sum: Callable[[slice], np.ndarray]
) -> np.ndarray:
    """The sum of ``part_sum(part)`` over slices of the batch 0..m-1, added in batch order."""
    chunks = chunk_bounds(m, bytes_per_example)
    total = OrderedSum(chunks)
    run_chunks(chunks, lambda chunk, _: total.add(chunk, part_sum(_as_slice(chunk))))
    return total.result()


class OrderedSum:
    """Adds one array per chunk in batch order, as the workers hand them in.

    (((s_0 + s_1) + s_2) + ...): the same bits whichever worker finishes
    first, and only the few sums that arrive ahead of their turn wait in
    memory (not one per chunk, which for large filters would add up).
    """

    def __init__(self, chunks: list[range]) -> None:
        self._order = [chunk.start for chunk in chunks]
        self._waiting: dict[int, np.ndarray] = {}
        self._next = 0
        self._total: np.ndarray | None = None
        self._lock = threading.Lock()

    def add(self, chunk: range, value: np.ndarray) -> None:
        with self._lock:
            self._waiting[chunk.start] = value
            while self._next < len(self._order) and self._order[self._next] in self._waiting:
                value = self._waiting.pop(self._order[self._next])
                if self._total is None:
                    self._total = np.array(value, copy=True)
                else:
                    self._total += value
                self._next += 1

    def result(self) -> np.ndarray:
        if self._total is None or self._next < len(self._order):
            raise RuntimeError("OrderedSum: a chunk's sum is missing")
        return self._total


def _as_slice(chunk: range) -> slice:
    return slice(chunk.start, chunk.stop)


class _BlasHold:
    """BLAS held to one thread while any thread of the process is inside convmath's work.

    The first thread to enter saves each BLAS library's thread count and sets
    it to 1; the last to leave restores it. Setting a count is a call into
    the library of about 1.5 us (threadpoolctl's controller, looked up once),
    and nested entries on a thread cost a counter only.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: list[tuple[Any, int]] = []
        self._libraries: list[Any] | None = None  # BLAS libraries loaded, found on first use

    def enter(self) -> None:
        with self._lock:
            if self._holders == 0:  # (a failure here leaves no holder counted)
                self._saved = [(lib, lib.get_num_threads()) for lib in self._blas_libraries()]
                for lib, count in self._saved:
                    if count != 1:
                        _set_blas_threads(lib, 1)
            self._holders += 1

    def leave(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                for lib, count in self._saved:
                    if count != 1:
                        _set_blas_threads(lib, count)
                self._saved = []

    def after_fork(self, held_here: bool) -> None:
        """In a forked child only the forking thread lives on: it alone may still hold BLAS."""
        self._lock = threading.Lock()
        self._holders = 1 if held_here else 0
        if not held_here:  # the child's BLAS is as it was at the fork: give it its own back
            for lib, count in self._saved:
                if count != 1:
                    _set_blas_threads(lib, count)
            self._saved = []

    def _blas_libraries(self) -> list[Any]:
        if self._libraries is None:
            self._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        return self._libraries


def _set_blas_threads(library: Any, count: int) -> None:
    """Set a BLAS library's thread count from whichever thread holds it.

    threadpoolctl's OpenBLAS controller obeys only the first thread that ever
    set the count (others are silently ignored while it lives); the hold is
    serialised by its own lock, so it calls the library's setter directly.
    """
    setter = getattr(library, "_real_set_num_threads", None) or library.set_num_threads
    setter(count)


_blas = _BlasHold()


class _SingleThreadedBlas:
    """The context manager :func:`single_threaded_blas` returns (a class: entered per module)."""

    __slots__ = ()

    def __enter__(self) -> None:
        depth = getattr(_inside, "blas_depth", 0)
        if depth == 0:
            _blas.enter()
        _inside.blas_depth = depth + 1

    def __exit__(self, *exc: object) -> None:
        depth = _inside.blas_depth - 1
        _inside.blas_depth = depth
        if depth == 0:
            _blas.leave()


_SINGLE_THREADED_BLAS = _SingleThreadedBlas()


def single_threaded_blas() -> _SingleThreadedBlas:
    """Within the block, BLAS runs on one thread (restored after; nests; any thread may enter).

    A BLAS call on its own threads leaves them spinning for a while after it
    returns, on the very cores the workers need, and its threads may split a
    sum differently. Chunked ops enter this themselves, and so (through
    ``dispatch.holding``) does every module call and every back propagation:
    a loop of the user's own runs as the trainer does. The trainer and the
    inference loop enter it once around their whole loop, so each op inside
    pays a counter's increment, not a call into the library.
    """
    return _SINGLE_THREADED_BLAS


def _forget_crew_after_fork() -> None:
    """A forked child inherits the crew but not its threads: start a new one when needed."""
    global _crew, _lock
    _crew = None
    _lock = threading.Lock()
    _blas.after_fork(held_here=getattr(_inside, "blas_depth", 0) > 0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_crew_after_fork)
