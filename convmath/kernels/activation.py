"""The ReLU and GELU kernels: part by part on the workers."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_slab
from convmath.ops import activation as ops
from convmath.ops.special import normal_cdf


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


class GELUKernel(ops.GELU):
    """Computes :class:`convmath.ops.activation.GELU` part by part on the workers.

    The exact form's erf takes some 40 NumPy passes per value: on a part that
    fits in the cache they run from the cache, not from memory. The tanh form
    runs as the op.
    """

    def forward(self, z: np.ndarray, *, approximate: str) -> np.ndarray:
        if approximate != "none":
            return super().forward(z, approximate=approximate)
        self.z, self.approximate = z, approximate
        self.cdf, a = np.empty_like(z), np.empty_like(z)

        def work(part: slice) -> None:
            self.cdf[part] = normal_cdf(z[part])
            np.multiply(z[part], self.cdf[part], out=a[part])

        for_each_slab(work, z, a, self.cdf)
        return a

    def backward(self, da: np.ndarray) -> np.ndarray:
        if self.approximate != "none":
            return super().backward(da)
        dz = np.empty(self.z.shape, dtype=da.dtype)
        da = np.broadcast_to(da, dz.shape)

        def work(part: slice) -> None:
            np.multiply(da[part], ops.gelu_slope(self.z[part], self.cdf[part]), out=dz[part])

        for_each_slab(work, dz, self.z, self.cdf)
        return dz
