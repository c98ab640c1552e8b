"""Opening a file that must be a regular file, without hanging on a FIFO or reading a device.

``open()`` on a FIFO blocks until a writer appears, and a device such as
``/dev/zero`` reads forever; both are refused here before anything is read.
The file is opened non-blocking, checked with ``fstat`` on the open
descriptor (no window between the check and the open), then read normally.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from convmath.errors import ConvMathError


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
