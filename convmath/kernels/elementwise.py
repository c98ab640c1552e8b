"""Elementwise kernels: same-shape arithmetic part by part on the workers."""

from __future__ import annotations

import numpy as np

from convmath.kernels.parallel import for_each_slab
from convmath.ops import elementwise as ops
from convmath.ops.elementwise import unbroadcast


def parted(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ufunc(a, b), part by part on the workers when a and b have one shape (or b is 0-d)."""
    if a.ndim == 0 or not (b.shape == a.shape or b.ndim == 0):
        return ufunc(a, b)
    out = np.empty(a.shape, dtype=np.result_type(a, b))
    if b.ndim == 0:
        for_each_slab(lambda part: ufunc(a[part], b, out=out[part]), a, out)
    else:
        for_each_slab(lambda part: ufunc(a[part], b[part], out=out[part]), a, b, out)
    return out


class AddKernel(ops.Add):
    """Computes :class:`convmath.ops.elementwise.Add` part by part."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        return parted(np.add, a, b)


class SubKernel(ops.Sub):
    """Computes :class:`convmath.ops.elementwise.Sub` part by part."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        return parted(np.subtract, a, b)


class MulKernel(ops.Mul):
    """Computes :class:`convmath.ops.elementwise.Mul` part by part."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return parted(np.multiply, a, b)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        da = db = None
        if self.needs_grad[0]:
            b = np.broadcast_to(self.b, grad.shape)
            da = unbroadcast(parted(np.multiply, grad, b), self.a.shape)
        if self.needs_grad[1]:
            a = np.broadcast_to(self.a, grad.shape)
            db = unbroadcast(parted(np.multiply, grad, a), self.b.shape)
        return da, db


class PowKernel(ops.Pow):
    """Computes :class:`convmath.ops.elementwise.Pow`; the square (a squared error) part by part.

    A ** 2 runs as A * A and its dA = 2 dC A as one product doubled in place.
    """

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.square = b.ndim == 0 and b == 2
        if not self.square:
            return super().forward(a, b)
        self.a, self.b = a, b
        self.c = parted(np.multiply, a, a)
        return self.c

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not (self.square and self.needs_grad[0] and grad.shape == self.a.shape):
            return super().backward(grad)
        da = np.empty(grad.shape, dtype=grad.dtype)

        def double_product(part: slice) -> None:
            np.multiply(grad[part], self.a[part], out=da[part])
            da[part] += da[part]

        for_each_slab(double_product, grad, self.a, da)
        db = super().backward(grad)[1] if self.needs_grad[1] else None
        return da, db
