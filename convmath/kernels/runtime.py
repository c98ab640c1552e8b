"""Process-wide settings that make NumPy training fast: the memory allocator.

A training step allocates and frees the same large temporaries (activations,
gradients, im2col matrices) again and again. glibc's malloc serves blocks
above its mmap threshold (128 KiB at start) with fresh mmap calls, so every
step pays page faults to zero new memory, and it returns freed heap memory
to the system eagerly. Raising the mmap threshold to 32 MiB and the trim
threshold to 1 GiB keeps that memory in the process for reuse: measured on
this 2-core machine, LeNet-5 training at batch 64 went from 6,750 to 11,676
images/s and ResNet-20 from 262 to 308 (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit systems
TRIM_THRESHOLD = 1 << 30

_tuned = False


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds, once; returns whether it applied.

    A no-op (returning False) where the C library is not glibc. It changes the
    whole process (freed memory up to 1 GiB stays in it for reuse, as a deep
    learning framework's caching allocator keeps it), so ``import convmath``
    does not call it: the training loop and the inference loop do, on first
    use, so that every door (the commands, ``fit``, a ``Trainer``, the server)
    runs at the same speed.
    """
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    _tuned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _tuned
