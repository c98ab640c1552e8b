"""Elementwise arithmetic with NumPy broadcasting.

For a binary op ``C = op(A, B)`` the inputs broadcast to C's shape. Back
propagation computes dC * dC/dA at C's shape, then sums it over every axis
along which A was broadcast (:func:`unbroadcast`), so that dA has A's shape.
Python numbers are converted to the other operand's dtype, so ``A * 2``
stays float32.
"""

from __future__ import annotations

import numpy as np

from convmath.errors import ShapeError
from convmath.tensor import Function, Tensor, as_tensor, equations_from, same_dtype

Operand = Tensor | float | int


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _operands(a: Operand, b: Operand, op: str) -> tuple[Tensor, Tensor]:
    a_tensor = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b_tensor = as_tensor(b, like=a_tensor)
    same_dtype([a_tensor, b_tensor], op)
    try:
        np.broadcast_shapes(a_tensor.shape, b_tensor.shape)
    except ValueError:
        raise ShapeError(
            f"{op}: shapes {a_tensor.shape} and {b_tensor.shape} do not broadcast (sizes must"
            f" match or be 1, aligned from the last axis)"
        ) from None
    return a_tensor, b_tensor


class Add(Function):
    """C = A + B;  dA = unbroadcast(dC),  dB = unbroadcast(dC)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(grad, self.shapes[0]), unbroadcast(grad, self.shapes[1])


class Sub(Function):
    """C = A - B;  dA = unbroadcast(dC),  dB = -unbroadcast(dC)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        db = -unbroadcast(grad, self.shapes[1]) if self.needs_grad[1] else None
        return unbroadcast(grad, self.shapes[0]), db


class Mul(Function):
    """C = A * B;  dA = unbroadcast(dC * B),  dB = unbroadcast(dC * A)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        da = db = None
        if self.needs_grad[0]:
            da = unbroadcast(grad * self.b, self.a.shape)
        if self.needs_grad[1]:
            db = unbroadcast(grad * self.a, self.b.shape)
        return da, db


class Div(Function):
    """C = A / B;  dA = unbroadcast(dC / B),  dB = unbroadcast(-dC * A / B**2)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a / b

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        grad_over_b = grad / self.b
        da = unbroadcast(grad_over_b, self.a.shape) if self.needs_grad[0] else None
        db = (
            unbroadcast(-grad_over_b * self.a / self.b, self.b.shape)
            if self.needs_grad[1]
            else None
        )
        return da, db


class Pow(Function):
    """C = A ** B;  dA = unbroadcast(dC * B * A**(B-1)),  dB = unbroadcast(dC * C * log A).

    dB needs A > 0 (the log); it is only computed when B requires a gradient.
    """

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        self.c = a**b
        return self.c

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        da = db = None
        if self.needs_grad[0]:
            da = unbroadcast(grad * self.b * self.a ** (self.b - 1), self.a.shape)
        if self.needs_grad[1]:
            db = unbroadcast(grad * self.c * np.log(self.a), self.b.shape)
        return da, db


class Maximum(Function):
    """C = max(A, B) elementwise.

    dA = unbroadcast(dC * [A > B] + dC/2 * [A = B]), and symmetrically for dB:
    where the two are equal the gradient is shared equally (as in PyTorch).
    """

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        share_a = (self.a > self.b) + 0.5 * (self.a == self.b)
        share_a = share_a.astype(grad.dtype, copy=False)
        da = unbroadcast(grad * share_a, self.a.shape) if self.needs_grad[0] else None
        db = unbroadcast(grad * (1 - share_a), self.b.shape) if self.needs_grad[1] else None
        return da, db


class Neg(Function):
    """C = -A;  dA = -dC."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return -grad


class Exp(Function):
    """C = exp(A);  dA = dC * C."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.c = np.exp(a)
        return self.c

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * self.c


class Log(Function):
    """C = log(A) (natural);  dA = dC / A."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.a = a
        return np.log(a)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad / self.a


class Sqrt(Function):
    """C = sqrt(A);  dA = dC / (2 C)."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.c = np.sqrt(a)
        return self.c

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad / (2 * self.c)


@equations_from(Add)
def add(a: Operand, b: Operand) -> Tensor:
    """A + B with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2, 3], [4, 5, 6]])
    >>> b = Tensor([10, 20, 30], requires_grad=True)
    >>> C = F.add(A, b)  # b is added to each row
    >>> print(C.data)
    [[11. 22. 33.]
     [14. 25. 36.]]
    >>> F.sum(C).backward()
    >>> print(b.grad)  # dC summed over the axis b was broadcast along: 2 rows
    [2. 2. 2.]
    """
    return Add.apply(*_operands(a, b, "add"))


@equations_from(Sub)
def sub(a: Operand, b: Operand) -> Tensor:
    """A - B with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.sub(Tensor([[1, 2, 3], [4, 5, 6]]), 1).data)
    [[0. 1. 2.]
     [3. 4. 5.]]
    """
    return Sub.apply(*_operands(a, b, "sub"))


@equations_from(Mul)
def mul(a: Operand, b: Operand) -> Tensor:
    """A * B elementwise with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor([[1, 2, 3], [4, 5, 6]])
    >>> print(F.mul(A, Tensor([[2], [10]])).data)  # (2, 3) * (2, 1): one factor per row
    [[ 2.  4.  6.]
     [40. 50. 60.]]
    """
    return Mul.apply(*_operands(a, b, "mul"))


@equations_from(Div)
def div(a: Operand, b: Operand) -> Tensor:
    """A / B elementwise with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.div(Tensor([[1, 2, 3], [4, 5, 6]]), 2).data)
    [[0.5 1.  1.5]
     [2.  2.5 3. ]]
    """
    return Div.apply(*_operands(a, b, "div"))


@equations_from(Pow)
def pow(a: Operand, b: Operand) -> Tensor:
    """A ** B elementwise with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.pow(Tensor([[1, 2, 3], [4, 5, 6]]), 2).data)
    [[ 1.  4.  9.]
     [16. 25. 36.]]
    """
    return Pow.apply(*_operands(a, b, "pow"))


@equations_from(Maximum)
def maximum(a: Operand, b: Operand) -> Tensor:
    """Elementwise max(A, B) with broadcasting.

    Shapes
    ------
    A, B: shapes that broadcast (aligned from the last axis, sizes equal or 1);
    C: the broadcast shape, e.g. (m, n_H, n_W, n_C) and (n_C,) give (m, n_H, n_W, n_C)

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.maximum(Tensor([[-1, 2, -3]]), 0).data)
    [[0. 2. 0.]]
    """
    return Maximum.apply(*_operands(a, b, "maximum"))


@equations_from(Neg)
def neg(a: Tensor) -> Tensor:
    """-A.

    Shapes
    ------
    A: any shape;  C: the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.neg(Tensor([1, -2, 3])).data)
    [-1.  2. -3.]
    """
    return Neg.apply(a)


@equations_from(Exp)
def exp(a: Tensor) -> Tensor:
    """exp(A) elementwise.

    Shapes
    ------
    A: any shape;  C: the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.exp(Tensor([0.0, 1.0, 2.0])).data, 3))
    [1.    2.718 7.389]
    """
    return Exp.apply(a)


@equations_from(Log)
def log(a: Tensor) -> Tensor:
    """Natural log of A elementwise.

    Shapes
    ------
    A: any shape;  C: the same shape

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(np.round(F.log(Tensor([1.0, np.e, 100.0])).data, 3))
    [0.    1.    4.605]
    """
    return Log.apply(a)


@equations_from(Sqrt)
def sqrt(a: Tensor) -> Tensor:
    """Square root of A elementwise.

    Shapes
    ------
    A: any shape;  C: the same shape

    Example
    -------
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> print(F.sqrt(Tensor([[4, 9], [16, 25]])).data)
    [[2. 3.]
     [4. 5.]]
    """
    return Sqrt.apply(a)
