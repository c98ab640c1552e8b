"""The dense (FC) kernel: each product part by part over the rows, on the workers."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_part, sum_over_parts
from convmath.kernels.products import product
from convmath.kernels.rows import column_sums
from convmath.ops import linalg as ops


class DenseKernel(ops.Dense):
    """Computes :class:`convmath.ops.linalg.Dense` part by part over the m rows on the workers.

    dW sums the parts in batch order; db sums dZ on wide rows.
    """

    def forward(self, a: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        self.a, self.w = a, w
        z = np.empty((a.shape[0], w.shape[1]), dtype=a.dtype)

        def forward_part(part: slice) -> None:
            np.matmul(a[part], w, out=z[part])
            if b is not None:
                z[part] += b

        for_each_part(len(a), (a.shape[1] + w.shape[1]) * a.itemsize, forward_part)
        return z

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        row_bytes = (self.a.shape[1] + grad.shape[1]) * grad.itemsize
        da = dw = None
        if self.needs_grad[0]:
            da = np.empty(self.a.shape, dtype=grad.dtype)
            for_each_part(
                len(grad), row_bytes, lambda part: np.matmul(grad[part], self.w.T, out=da[part])
            )
        if self.needs_grad[1]:
            dw = sum_over_parts(
                len(grad), row_bytes, lambda part: product(self.a[part].T, grad[part])
            )
        if len(self.needs_grad) == 2:
            return da, dw
        db = column_sums(grad) if self.needs_grad[2] else None
        return da, dw, db
