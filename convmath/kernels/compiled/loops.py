"""The compiled tier's one door to numba: a serial loop compiled on its first call.

numba is an optional extra (``pip install convmath[compiled]``). It is found
here without being imported (importing it costs a few tenths of a second),
and imported when the first compiled loop runs. Each loop is compiled with
``nogil=True`` (the crew's workers run it side by side), ``cache=True`` (the
machine code is kept on disk: later processes load it instead of compiling)
and NumPy's error model (a division by zero gives inf or NaN, as in NumPy).

Where the cache goes is numba's choice: ``NUMBA_CACHE_DIR`` if set, else a
``__pycache__`` folder beside this package when it is writable, else the
user's cache folder (``~/.cache/numba`` on Linux, numba's
``UserWideCacheLocator``); an installation in a read-only site-packages
thus caches in the user's folder. Where no folder is writable at all, the
loops are compiled again in each process (slower to start, same code).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from typing import Any

from convmath.switchboard import COMPILED_VARIABLE, current_settings

INSTALLED = importlib.util.find_spec("numba") is not None  # found, not imported
_lock = threading.Lock()


class CompiledLoop:
    """A Python loop over arrays, run as numba machine code (compiled on the first call)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__name__, self.__doc__ = function.__name__, function.__doc__
        self._compiled: Callable[..., Any] | None = None

    def __call__(self, *args: Any) -> Any:
        compiled = self._compiled
        if compiled is None:
            compiled = self.compile()
        return compiled(*args)

    def compile(self) -> Callable[..., Any]:
        """numba's dispatcher for the loop (it compiles, or loads from its cache, per signature)."""
        with _lock:  # two workers' first calls make one dispatcher
            if self._compiled is None:
                import numba  # the optional extra, imported when a compiled loop first runs

                options = {"nogil": True, "error_model": "numpy"}
                try:
                    self._compiled = numba.njit(cache=True, **options)(self.function)
                except RuntimeError:  # no folder to cache in: compiled again in each process
                    self._compiled = numba.njit(**options)(self.function)
        return self._compiled


def compiled_loop(function: Callable[..., Any]) -> CompiledLoop:
    """Decorator: ``function`` (serial loops over arrays) compiled by numba on its first call."""
    return CompiledLoop(function)


def status() -> str:
    """One line: whether the compiled tier runs now, and why not (benchmarks print it)."""
    if not INSTALLED:
        return "compiled tier: off (numba is not installed: pip install convmath[compiled])"
    if not current_settings().compiled:
        return f"compiled tier: off (the compiled setting is False; {COMPILED_VARIABLE}=0 at start)"
    return "compiled tier: on (numba)"
