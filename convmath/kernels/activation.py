"""The ReLU kernel: part by part on the workers."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_slab
from convmath.ops import activation as ops


class ReLUKernel(ops.ReLU):
    """Computes :class:`convmath.ops.activation.ReLU` part by part on the workers."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        a = np.empty_like(z)
        for_each_slab(lambda part: np.maximum(z[part], 0, out=a[part]), z, a)
        self.a = a
        return a

    def backward(self, da: np.ndarray) -> np.ndarray:
        dz = np.empty(self.a.shape, dtype=da.dtype)
        da = np.broadcast_to(da, dz.shape)
        for_each_slab(lambda part: np.multiply(da[part], self.a[part] > 0, out=dz[part]), dz)
        return dz
