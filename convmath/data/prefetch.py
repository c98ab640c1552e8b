"""Batches made one step ahead, on a thread of their own, while the last one trains.

Augmentation runs on the thread that draws the batches, and the cores wait
for it between steps (a ``mnist-best`` epoch: about 10 of 95 s). The
batches are drawn in the same order from the same generators as a plain
loop draws them, so their bits are the same; only who draws them changes.
The trainer does this only with the ``prefetch`` setting on: on 2 cores the
thread's work competes with the kernels' workers, and an epoch measured
0.96-1.02x (``benchmarks/prefetch.py``).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from convmath.errors import InvalidArgumentError

Item = TypeVar("Item")
_DONE = object()  # the end of the iterable
WAIT = 0.1  # seconds between looks at the stop flag while the queue is full


def prefetched(items: Iterable[Item], ahead: int = 1) -> Iterator[Item]:
    """Iterate over ``items`` while a thread makes up to ``ahead`` of the next ones.

    The iterable is iterated on that thread only, start to end, so a generator
    it draws from is never used from two threads at once (the caller must not
    draw from it meanwhile); once this iterator is exhausted, the thread has
    ended. The thread runs in a copy of the caller's context, so ``with
    convmath.settings(...)`` holds there too. An exception raised there is
    raised here, at the item it replaced. Closing this iterator (``break``, an
    exception in the loop's body, ``contextlib.closing``) stops the thread
    before the next item it would make, and waits for it: nothing is drawn
    behind the caller's back afterwards.
    """
    if isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 1:
        raise InvalidArgumentError(f"prefetched: ahead must be an int >= 1, got {ahead!r}")
    return _prefetched(items, ahead)


def _prefetched(items: Iterable[Item], ahead: int) -> Iterator[Item]:
    made: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                made.put(entry, timeout=WAIT)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((_DONE, error))

    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(make,), name="convmath-prefetch", daemon=True
    )
    worker.start()
    try:
        while True:
            item, error = made.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
