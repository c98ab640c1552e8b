"""First-class ops: each a ``Function`` with forward and backward side by side.

Importing this package also gives :class:`convmath.Tensor` its Python
operators (``+ - * / ** @``, indexing) and shortcut methods (``sum``,
``reshape``...), which simply call the functions of these modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.ops import activation, elementwise, linalg, reduce
from convmath.ops import shape as shape_ops
from convmath.tensor import Tensor, as_tensor


def _shape_args(args: tuple[Any, ...]) -> tuple[int, ...] | None:
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(args) == 1 and not isinstance(args[0], int | np.integer):
        return tuple(args[0]) if args[0] is not None else None
    return tuple(args) or None


_METHODS: dict[str, Any] = {
    "__add__": lambda self, other: elementwise.add(self, other),
    "__radd__": lambda self, other: elementwise.add(other, self),
    "__sub__": lambda self, other: elementwise.sub(self, other),
    "__rsub__": lambda self, other: elementwise.sub(other, self),
    "__mul__": lambda self, other: elementwise.mul(self, other),
    "__rmul__": lambda self, other: elementwise.mul(other, self),
    "__truediv__": lambda self, other: elementwise.div(self, other),
    "__rtruediv__": lambda self, other: elementwise.div(other, self),
    "__pow__": lambda self, other: elementwise.pow(self, other),
    "__rpow__": lambda self, other: elementwise.pow(other, self),
    "__neg__": elementwise.neg,
    "__matmul__": lambda self, other: linalg.matmul(self, as_tensor(other, like=self)),
    "__rmatmul__": lambda self, other: linalg.matmul(as_tensor(other, like=self), self),
    "__getitem__": shape_ops.getitem,
    "sum": reduce.sum,
    "mean": reduce.mean,
    "max": reduce.max,
    "reshape": lambda self, *shape: shape_ops.reshape(self, _shape_args(shape) or ()),
    "transpose": lambda self, *axes: shape_ops.transpose(self, _shape_args(axes)),
    "T": property(shape_ops.transpose),
    "flatten": shape_ops.flatten,
    "exp": elementwise.exp,
    "log": elementwise.log,
    "sqrt": elementwise.sqrt,
    "relu": activation.relu,
}

for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)
