"""The worker threads behind :func:`convmath.kernels.parallel.run_chunks`, handed jobs by locks.

An op's chunks are handed to the workers once per op, dozens of times per
training step, so the hand-over itself must be cheap. Each worker thread
waits on a lock of its own; handing it a job is one release, and its answer
one more: about 16 us a round trip here, against 51 us for a
ThreadPoolExecutor's submit and future (whose queue, future and condition
variable are Python objects). For LeNet-5 at batch 64 that is about 1 ms of
a 7 ms training step.

One caller at a time uses a crew (:meth:`Crew.claim`); a second thread that
asks while it is busy runs its op on its own thread, which gives the same
numbers (chunks never depend on the number of workers).

A caller interrupted while it waits (Ctrl-C) cannot know when the workers it
did not collect will finish, and their answers would be taken for the next
op's: the crew retires then, and the next op starts a fresh one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from convmath.errors import InvalidArgumentError


class _Member:
    """One worker thread: waits for a job, runs it, says it is done."""

    def __init__(self, index: int) -> None:
        self.index = index
        self._start, self._done = threading.Lock(), threading.Lock()
        self._start.acquire()  # held: the thread waits on it until a job comes
        self._done.acquire()
        self._job: Callable[[int], None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"convmath-chunk-{index}", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        while True:
            self._start.acquire()
            job = self._job
            if job is None:  # retired
                return
            try:
                job(self.index)
            except BaseException as error:  # handed to the caller by collect()
                self._error = error
            finally:
                self._done.release()

    def hand(self, job: Callable[[int], None]) -> None:
        self._error, self._job = None, job
        self._start.release()

    def collect(self) -> BaseException | None:
        """Wait until the job handed is done; its exception, if it raised one."""
        self._done.acquire()
        return self._error

    def stop(self) -> None:
        self._job = None
        with contextlib.suppress(RuntimeError):  # already released: a job handed, not yet taken
            self._start.release()


class Crew:
    """``size - 1`` worker threads; with the caller's own thread, ``size`` workers."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._members: list[_Member] = []
        self._busy = threading.Lock()
        self._retired = False
        try:
            for k in range(1, size):
                self._members.append(_Member(k))
        except RuntimeError as error:  # the system refused a thread ("can't start new thread")
            self._stop_members()
            raise InvalidArgumentError(
                f"cannot start {size} worker threads: the system refused one after"
                f" {len(self._members)} ({error}); ask for fewer (--threads N,"
                f" convmath.set_threads(N))"
            ) from None

    @property
    def retired(self) -> bool:
        return self._retired

    @property
    def busy(self) -> bool:
        """Whether a caller holds the crew now."""
        return self._busy.locked()

    def claim(self) -> bool:
        """Take the crew for one op (True), or False if another thread has it or it retired."""
        if not self._busy.acquire(blocking=False):
            return False
        if self._retired:
            self._busy.release()
            return False
        return True

    def run(self, job: Callable[[int], None], workers: int) -> None:
        """``job(k)`` for k = 0..workers-1, k = 0 on the calling thread; needs :meth:`claim`.

        Returns once every worker is done, then releases the crew; the first
        exception (the caller's own first) is raised then. Interrupted before
        every worker has answered, the crew retires (see the module's notes).
        """
        members = self._members[: workers - 1]
        errors: list[BaseException | None] = []
        try:
            for member in members:
                member.hand(job)
            try:
                job(0)
            finally:
                for member in members:
                    errors.append(member.collect())
        finally:
            if len(errors) < len(members):
                self._stop_members()
            self._busy.release()
        for error in errors:
            if error is not None:
                raise error

    def retire(self) -> None:
        """Stop the threads, once the op running on them (if any) is done."""
        with self._busy:
            self._stop_members()

    def _stop_members(self) -> None:
        self._retired = True
        for member in self._members:
            member.stop()
