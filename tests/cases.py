"""The case tables shared by the op tests (tests/ops) and the kernel tests (tests/kernels)."""

import itertools

import numpy as np

FILTER_SIZES = [1, 2, 3, 5]
PADDINGS = [0, 1, 2, "same", "valid"]
STRIDES = [1, 2, 3]
DILATIONS = [1, 2]
GROUPINGS = ["single", "depthwise"]


def conv_case(rng, f, padding, stride, dilation, grouping, m=2, n_h=9, n_w=7):
    """A_prev, W, b and groups for one row of CONV_CASES (float64)."""
    n_c_prev = 3
    groups = 1 if grouping == "single" else n_c_prev
    n_c = 4 if grouping == "single" else 2 * n_c_prev
    a = rng.standard_normal((m, n_h, n_w, n_c_prev))
    w = rng.standard_normal((f, f, n_c_prev // groups, n_c))
    b = rng.standard_normal(n_c)
    return a, w, b, groups


def fits(n, f, padding, stride, dilation):
    if padding == "same":
        return True
    p = 0 if padding == "valid" else padding
    return n + 2 * p - dilation * (f - 1) - 1 >= 0


CONV_CASES = [
    case
    for case in itertools.product(FILTER_SIZES, PADDINGS, STRIDES, DILATIONS, GROUPINGS)
    if fits(7, case[0], case[1], case[2], case[3])
]

POOL_CASES = [
    (f, s, p) for f, s, p in itertools.product([1, 2, 3], [None, 1, 2, 3], [0, 1]) if p <= f // 2
]

BATCH_NORM_SHAPES = [(4, 3, 3, 2), (6, 5), (8, 6, 5, 16), (3, 1, 1, 7)]

DENSE_SHAPES = [(3, 4, 5), (7, 12, 1), (64, 30, 10), (1, 9, 3)]  # (m, n_in, n_out)


def distinct(rng, shape):
    """Tie-free values (at least 0.01 apart) so max pooling has a unique winner."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.01 + rng.uniform(-1e-3, 1e-3, size)).reshape(shape)
