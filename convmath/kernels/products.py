"""Matrix products that let the other workers run: ``np.dot`` where ``@`` would hold the GIL.

NumPy's ``matmul`` (and ``@``) keeps the GIL through the whole BLAS call when
its result is small, below about 500 elements, however long the inner
dimension: a filter gradient dW (25 x 6 for LeNet's first layer, summed over
25,088 positions), a bias gradient or a per-channel sum as ones @ rows. Two
workers computing such products then take turns instead of running side by
side (measured here: two threads at 0.95x of one, against 1.9x for larger
products). For operands that BLAS takes as they are (C- or Fortran-ordered,
as the kernels' are: contiguous matrices and their transposes) ``np.dot``
calls the same BLAS routine with the same arguments, gives the same bits,
and releases the GIL for any size; other strides it copies first, where
``matmul`` would loop on its own, so the bits may differ there.
:func:`batched_product` keeps ``matmul`` for several matrices (grouped
convolutions), which holds the GIL for small products again.
"""

from __future__ import annotations

import numpy as np


def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 1-D and 2-D operands (as ``np.dot``), with the GIL released."""
    return np.dot(a, b)


def batched_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` over a leading batch axis; one 2-D :func:`product` per matrix for a batch of 1."""
    if a.ndim == 3 and len(a) == 1 and len(b) == 1:
        return product(a[0], b[0])[None]
    return np.matmul(a, b)
