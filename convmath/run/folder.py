"""A run's output folder belongs to one run: locked while it trains, never mixed with another's.

Entering :class:`RunFolder` takes an exclusive lock on ``OUT/.convmath.lock``
(an operating-system file lock, which the kernel releases when the process
ends however it ends, so a killed run never blocks the next; the file also
records the holder's process id for the message). Then it removes the
temporary files of writes that a crash cut short, and refuses a new run into
a folder that holds another run's files unless ``overwrite`` is given, in
which case those files are deleted first, so that every file in the folder
is this run's. Resuming a run in its own folder is always allowed. A run that
fails before it has written anything removes the folders it created (the
output folder, and the parents it had to make), never one that was there.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from types import TracebackType

from convmath.errors import RunFolderError
from convmath.train.outputs import LOCK, RUN_FILES

HOLDER_READS, HOLDER_WAIT_S = 20, 0.01  # up to 0.2 s for a new holder to write its id

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
        self._created: list[Path] = []  # the folders entering made, deepest first

    def __enter__(self) -> RunFolder:
        self._created = [p for p in (self.path, *self.path.parents) if not os.path.lexists(p)]
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK
        for _ in range(10):
            descriptor = self._open_lock(lock)
            if not _try_lock(descriptor):
                holder = self._holder(descriptor)
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
        if self._descriptor is None:
            return
        lock = self.path / LOCK
        try:
            # Removed while still held (so a waiting run locks a new file), and only if it is
            # still our file: one that replaced it belongs to another run.
            if os.stat(lock).st_ino == os.fstat(self._descriptor).st_ino:
                lock.unlink()
        except OSError:
            pass  # gone already, or (Windows) an open file cannot be removed: harmless
        finally:
            os.close(self._descriptor)
            self._descriptor = None
            self._remove_created(error)

    def _remove_created(self, error: BaseException | None) -> None:
        """A run that failed leaves no folder it made and left empty (it failed before its
        first epoch); a folder that was there before, or that holds a file, stays."""
        if error is None:
            return
        for folder in self._created:
            try:
                folder.rmdir()  # only an empty folder
            except OSError:
                return

    @staticmethod
    def _holder(descriptor: int) -> str:
        """The process id the holder wrote, waiting briefly: it locks first, then writes."""
        for _ in range(HOLDER_READS):
            os.lseek(descriptor, 0, os.SEEK_SET)
            holder = os.read(descriptor, 64).decode(errors="replace").strip()
            if holder:
                return holder
            time.sleep(HOLDER_WAIT_S)
        return "unknown"

    @staticmethod
    def _open_lock(lock: Path) -> int:
        """The lock file, opened without following a link or blocking on a FIFO."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            descriptor = os.open(lock, flags, 0o644)
        except OSError as error:
            raise RunFolderError(
                f"{lock}: cannot open the run's lock file ({error.strerror or error}); remove it"
                f" if it is not a regular file"
            ) from None
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:
            os.close(descriptor)
            raise RunFolderError(
                f"{lock}: the run's lock file is not a plain file of its own (a device, a FIFO"
                f" or a hard link to another file); remove it"
            )
        return descriptor

    def _remove_temporaries(self) -> None:
        """Files of atomic writes that a crash or a SIGKILL cut short (``.NAME.*.tmp``)."""
        for name in RUN_FILES:
            for leftover in self.path.glob(f".{name}.*.tmp"):
                leftover.unlink(missing_ok=True)

    def foreign_files(self) -> list[str]:
        """The run files already in the folder (a dangling link counts)."""
        return [name for name in RUN_FILES if os.path.lexists(self.path / name)]

    def claim(self, *, resuming: bool) -> None:
        """Make the folder this run's: a resumed run keeps its files; a new one needs it empty.

        A run file that is a link is refused either way: writing through it would write
        outside the folder.
        """
        links = [name for name in RUN_FILES if (self.path / name).is_symlink()]
        if links:
            raise RunFolderError(
                f"{self.path}: {', '.join(links)}: a link, where a run writes only files of its"
                f" own folder; remove it"
            )
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
