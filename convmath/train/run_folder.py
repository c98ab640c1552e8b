"""A run's output folder belongs to one run: locked while it trains, never mixed with another's.

Entering :class:`RunFolder` takes an exclusive lock on ``OUT/.convmath.lock``
(an operating-system file lock, which the kernel releases when the process
ends however it ends, so a killed run never blocks the next; the file also
records the holder's process id for the message). Then it removes the
temporary files of writes that a crash cut short, and refuses a new run into
a folder that holds another run's files unless ``overwrite`` is given, in
which case those files are deleted first, so that every file in the folder
is this run's. Resuming a run in its own folder is always allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from convmath.errors import RunFolderError

LOCK = ".convmath.lock"
RUN_FILES = (
    "last.safetensors",
    "best.safetensors",
    "history.json",
    "history.csv",
    "metrics.json",
    "curves.png",
)

try:
    import fcntl

    def _try_lock(descriptor: int) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

except ImportError:  # Windows
    import msvcrt

    def _try_lock(descriptor: int) -> bool:
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True


class RunFolder:
    """The output folder ``path`` of one training run; use it as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self._descriptor: int | None = None

    def __enter__(self) -> RunFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK
        for _ in range(10):
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(descriptor):
                holder = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
                os.close(descriptor)
                raise RunFolderError(
                    f"{self.path} is in use by another convmath train (process {holder});"
                    f" wait for it to finish or choose another --out"
                )
            # The holder before us may have removed the file between our open and our lock.
            if os.path.exists(lock) and os.stat(lock).st_ino == os.fstat(descriptor).st_ino:
                break
            os.close(descriptor)
        else:
            raise RunFolderError(f"{lock}: cannot take the lock (it keeps being replaced)")
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._descriptor = descriptor
        self._remove_temporaries()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            (self.path / LOCK).unlink(missing_ok=True)  # while held: a next run locks a new file
            os.close(self._descriptor)
            self._descriptor = None

    def _remove_temporaries(self) -> None:
        """Files of atomic writes that a crash or a SIGKILL cut short (``.NAME.*.tmp``)."""
        for name in RUN_FILES:
            for leftover in self.path.glob(f".{name}.*.tmp"):
                leftover.unlink(missing_ok=True)

    def foreign_files(self) -> list[str]:
        """The run files already in the folder."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def claim(self, *, resuming: bool) -> None:
        """Make the folder this run's: a resumed run keeps its files; a new one needs it empty."""
        if resuming:
            return
        found = self.foreign_files()
        if not found:
            return
        if not self.overwrite:
            raise RunFolderError(
                f"{self.path} holds the files of another run ({', '.join(found)}); pass"
                f" --overwrite to replace them, --resume {self.path / 'last.safetensors'} to"
                f" continue that run, or --out for a new folder"
            )
        for name in found:
            (self.path / name).unlink()
