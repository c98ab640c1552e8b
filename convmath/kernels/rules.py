"""The tuning constants and the kernel-choice rules, measured once and kept in one place.

Every number here was measured on the reference workloads (docs/PERFORMANCE.md
and the notes in docs/ARCHITECTURE.md say how); none changes what is computed,
only how fast. The kernels read them from this module at call time (a test
or a benchmark may set another value for a while), and the measuring
autotuner (:mod:`convmath.kernels.autotune`) is the other way to choose: it
times the candidates instead of following these rules.
"""

from __future__ import annotations

# Batch chunks (kernels/parallel.py)
CHUNK_BYTES = 3 << 20  # the working set one chunk aims at: measured best between 2 and 3 MiB
MIN_CHUNKS = 2  # a job worth sharing is cut at least this far (whatever the worker count)
MIN_PARALLEL_BYTES = 2 << 20  # below this, handing work to another thread costs more than it saves

# Per-channel passes on wide rows (kernels/rows.py)
WIDE_ROW = 1024  # elements: long enough that NumPy's per-row loop overhead stops mattering

# The im2col matrix (kernels/im2col.py, kernels/conv.py)
FEW_CHANNELS = 4  # below this many input channels (one group) the columns layout is used
KEEP_COLS_BYTES = 8 << 20  # smaller im2col matrices are kept from forward: cheaper than a rebuild

# The compiled tier (kernels/compiled/)
# Compiled max pooling from this many channels on: its loop runs along the channels, and below 8
# (LeNet's first pool, 6) the NumPy kernel's strided passes are faster (1.0 against 1.5 ms forward)
COMPILED_POOL_MIN_CHANNELS = 8

# Which algorithm computes a convolution (kernels/conv.py, kernels/winograd.py)
DUAL_SIZE_LIMIT = 3  # measured: the dual convolution pays while its im2col is at most ~3x larger
WINOGRAD_MIN_CHANNELS = 64  # on each side
# Depthwise layers tap by tap (kernels/depthwise.py) rather than one im2col GEMM per channel
# (benchmarks/conv_layers.py's depthwise rows, "im2col" against "convmath")
DEPTHWISE_TAPS = True
WINOGRAD_MIN_POSITIONS = 28 * 28  # output positions n_H * n_W per example
# With the compiled tile transforms (kernels/compiled/winograd.py), measured on 1 and 2 workers
# (docs/PERFORMANCE.md): 1.1-1.7x forward from 32 channels on, down to 8x8 maps; at 16 channels
# (ResNet-20's 32x32x16) even with im2col, 0.9-1.1x from run to run, so left to im2col
WINOGRAD_MIN_CHANNELS_COMPILED = 32
WINOGRAD_MIN_POSITIONS_COMPILED = 8 * 8


def winograd_pays(n_C_prev: int, n_C: int, positions: int, compiled: bool = False) -> bool:
    """Whether F(2x2, 3x3) beats im2col for a layer it computes: wide and large enough.

    ``compiled``: with the compiled tile transforms, whose thresholds are their own.
    """
    if compiled:
        channels, least = WINOGRAD_MIN_CHANNELS_COMPILED, WINOGRAD_MIN_POSITIONS_COMPILED
    else:
        channels, least = WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_POSITIONS
    return min(n_C_prev, n_C) >= channels and positions >= least


def dual_pays(dual_bytes_per_example: int, im2col_bytes_per_example: int) -> bool:
    """Whether dA_prev by the dual convolution beats col2im (not e.g. LeNet's 5x5 "valid" conv,
    whose col2im, offset by offset, pays)."""
    return dual_bytes_per_example <= DUAL_SIZE_LIMIT * im2col_bytes_per_example


def keeps_columns(batch_bytes: int) -> bool:
    """Whether the forward pass keeps its im2col matrix for the backward pass."""
    return batch_bytes <= KEEP_COLS_BYTES


def columns_layout(n_C_group: int, groups: int, pointwise: bool) -> bool:
    """Whether im2col builds the columns layout (few input channels) rather than rows."""
    return groups == 1 and n_C_group < FEW_CHANNELS and not pointwise
