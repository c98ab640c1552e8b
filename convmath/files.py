"""Opening a file that must be a regular file, without hanging on a FIFO or reading a device;
writing one atomically.

``open()`` on a FIFO blocks until a writer appears, and a device such as
``/dev/zero`` reads forever; both are refused here before anything is read.
The file is opened non-blocking, checked with ``fstat`` on the open
descriptor (no window between the check and the open), then read normally.

Every file convmath writes (checkpoints, histories, metrics, exports, pictures) is written
by :func:`atomic_write`: a crash, Ctrl-C or SIGTERM at any moment leaves the old file or the
new one, and no temporary file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from convmath.errors import ConvMathError, InvalidArgumentError


def open_regular(path: str | os.PathLike[str], error: type[ConvMathError]) -> BinaryIO:
    """``path`` opened for binary reading, or ``error`` naming it if it is not a regular file."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as failure:
        raise error(f"{path}: cannot read ({failure.strerror or failure})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise error(f"{path}: not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash at any moment leaves the old file or the new.

    Temporary file in the same folder, fsync, rename over the target, fsync
    of the folder (so the rename itself survives a power loss). With
    ``overwrite=False`` the file takes its name only if no file holds it, at
    that very moment (a hard link, which never replaces): a file that appeared
    since the caller looked is kept, and :class:`InvalidArgumentError` says so.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 is for secrets, not results
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temporary, path)
        else:
            _name_if_free(temporary, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _name_if_free(temporary: str, path: Path) -> None:
    """Give the written file ``path`` as its name, unless a file (or a link) has that name."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise InvalidArgumentError(f"{path} exists; not replaced") from None
    except OSError:  # a file system without hard links: look, then rename
        if os.path.lexists(path):
            raise InvalidArgumentError(f"{path} exists; not replaced") from None
        os.replace(temporary, path)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
