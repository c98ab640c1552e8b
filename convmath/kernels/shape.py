"""The concatenation kernel: Inception's channel concat part by part along the batch."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_slab
from convmath.ops import shape as ops


class ConcatKernel(ops.Concat):
    """Computes :class:`convmath.ops.shape.Concat`, part by part over the batch on the workers."""

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        if axis == 0 or arrays[0].ndim == 0:
            return super().forward(*arrays, axis=axis)
        self.axis = axis
        self.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        shape = list(arrays[0].shape)
        shape[axis] = sum(a.shape[axis] for a in arrays)
        out = np.empty(shape, dtype=np.result_type(*arrays))
        for_each_slab(
            lambda part: np.concatenate([a[part] for a in arrays], axis, out=out[part]), out
        )
        return out
