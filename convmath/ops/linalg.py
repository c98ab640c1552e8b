"""Matrix products: ``matmul`` and the fully connected layer's ``dense``."""

from __future__ import annotations

import numpy as np

from convmath.errors import ShapeError
from convmath.ops.elementwise import unbroadcast
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class MatMul(Function):
    """C = A @ B over the last two axes, leading axes broadcast as in NumPy.

    Shapes (..., n, k) @ (..., k, p) -> (..., n, p).
    dA = dC @ B^T,  dB = A^T @ dC  (^T swaps the last two axes), each summed
    back over broadcast leading axes.
    """

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a @ b

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        da = (
            unbroadcast(grad @ self.b.swapaxes(-1, -2), self.a.shape)
            if self.needs_grad[0]
            else None
        )
        db = (
            unbroadcast(self.a.swapaxes(-1, -2) @ grad, self.b.shape)
            if self.needs_grad[1]
            else None
        )
        return da, db


class Dense(Function):
    """The FC layer's linear part: Z = A W + b.

    Shapes: A (m, n_in), W (n_in, n_out), b (n_out,) -> Z (m, n_out).
    Backward: dA = dZ W^T,  dW = A^T dZ,  db = sum over m of dZ.
    """

    def forward(self, a: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        self.a, self.w = a, w
        return a @ w if b is None else a @ w + b

    def backward(self, dz: np.ndarray) -> tuple[np.ndarray | None, ...]:
        da = dz @ self.w.T if self.needs_grad[0] else None
        dw = self.a.T @ dz if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return da, dw
        return da, dw, dz.sum(axis=0) if self.needs_grad[2] else None


@equations_from(MatMul)
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """A @ B (both at least 2-D).

    Shapes
    ------
    A: (..., n, k);  B: (..., k, p);  C: (..., n, p), the leading axes broadcast

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2], [3, 4]])
    >>> print(F.matmul(A, Tensor([[0, 1], [1, 0]])).data)  # swaps the columns of A
    [[2. 1.]
     [4. 3.]]
    >>> F.matmul(Tensor(np.ones((5, 2, 3))), Tensor(np.ones((3, 4)))).shape
    (5, 2, 4)
    """
    same_dtype([a, b], "matmul")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(
            f"matmul needs tensors with at least 2 axes, got shapes {a.shape} and {b.shape};"
            f" reshape a vector to (1, n) or (n, 1)"
        )
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(
            f"matmul: A has shape {a.shape} and B has shape {b.shape}; A's last axis"
            f" ({a.shape[-1]}) must equal B's second-to-last ({b.shape[-2]})"
        )
    return MatMul.apply(a, b)


@equations_from(Dense)
def dense(a: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """Z = A W + b for A (m, n_in), W (n_in, n_out), b (n_out,).

    The FC layer's Z^[l] = W^[l] A^[l-1] + b^[l], one row per example.

    Shapes
    ------
    A: (m, n_in);  W: (n_in, n_out);  b: (n_out,)
    Z: (m, n_out)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2, 3]])  # m = 1 example, n_in = 3
    >>> W = Tensor([[1, 0], [0, 1], [1, 1]])  # n_out = 2
    >>> print(F.dense(A, W, Tensor([10, 20])).data)  # [1 + 3 + 10, 2 + 3 + 20]
    [[14. 25.]]
    """
    inputs = [a, w] if b is None else [a, w, b]
    same_dtype(inputs, "dense")
    if a.ndim != 2:
        raise ShapeError(
            f"dense expects A of shape (m, n_in), got {a.shape}; flatten the volume first"
        )
    if w.ndim != 2 or w.shape[0] != a.shape[1]:
        raise ShapeError(
            f"dense expects W of shape (n_in, n_out) = ({a.shape[1]}, n_out) for A of shape"
            f" {a.shape}, got {w.shape}"
        )
    if b is not None and b.shape != (w.shape[1],):
        raise ShapeError(f"dense expects b of shape ({w.shape[1]},), got {b.shape}")
    return Dense.apply(*inputs)
