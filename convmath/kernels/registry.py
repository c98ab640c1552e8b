"""The one place that says which kernel computes which op, and who plans the modules.

Every entry maps an op of ``convmath/ops/`` (the equation) to the kernel of
``convmath/kernels/`` that computes the same function faster; the fused
kernels (CONV+ReLU, BN+ReLU, BN folding) are chosen by the planner,
:func:`convmath.kernels.fusion.plan`. ``tests/kernels/`` proves each entry
equal to its op. Ops without an entry (average pooling, softmax, the loss,
the shape ops but concat...) run their equation: no kernel beat it.
"""

from __future__ import annotations

from convmath import dispatch
from convmath.kernels import rules
from convmath.kernels.activation import GELUKernel, ReLUKernel
from convmath.kernels.conv import Conv2DKernel
from convmath.kernels.elementwise import AddKernel, MulKernel, PowKernel, SubKernel
from convmath.kernels.fusion import plan
from convmath.kernels.linalg import DenseKernel
from convmath.kernels.normalization import BatchNormKernel
from convmath.kernels.parallel import examples_at_once, single_threaded_blas
from convmath.kernels.pool import MaxPool2DKernel
from convmath.kernels.shape import ConcatKernel
from convmath.ops.activation import GELU, ReLU
from convmath.ops.conv import Conv2D
from convmath.ops.elementwise import Add, Mul, Pow, Sub
from convmath.ops.linalg import Dense
from convmath.ops.normalization import BatchNorm
from convmath.ops.pool import MaxPool2D
from convmath.ops.shape import Concat
from convmath.tensor import Function

KERNELS: dict[type[Function], type[Function]] = {
    Conv2D: Conv2DKernel,
    BatchNorm: BatchNormKernel,
    MaxPool2D: MaxPool2DKernel,
    Dense: DenseKernel,
    ReLU: ReLUKernel,
    GELU: GELUKernel,
    Add: AddKernel,
    Sub: SubKernel,
    Mul: MulKernel,
    Pow: PowKernel,
    Concat: ConcatKernel,
}


def install() -> None:
    """Put this module's table and planner where the engine looks (done by ``import convmath``)."""
    dispatch.KERNELS.clear()
    dispatch.KERNELS.update(KERNELS)
    dispatch.PLANNER[:] = [plan]
    dispatch.HOLD[:] = [single_threaded_blas()]
    dispatch.CHUNKING[:] = [examples_at_once]
    dispatch.KEEPING[:] = [rules.keeps_columns]
