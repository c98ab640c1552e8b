"""The compiled tier: numba loops for the memory-bound passes NumPy cannot fuse.

Each kernel here is a subclass of today's NumPy kernel (so of its op) that
runs serial loops compiled by numba (``nogil=True``, cached on disk) inside
the worker crew's chunks (:mod:`convmath.kernels.parallel`); the matrix
products stay on BLAS. numba's own ``parallel=True`` threading is never
used: beside the crew it oversubscribes the cores.

- normalization.py  batch norm, and BN+ReLU, forward and backward in one pass each
- pool.py           max pooling with its winners, any window, stride and padding
- depthwise.py      depthwise convolutions: forward, dW and dA_prev, each output once
- winograd.py       F(2x2, 3x3)'s input and output tile transforms
- loops.py          the door to numba: a loop compiled on first call

:mod:`convmath.kernels.registry` puts these twins in ``dispatch.COMPILED``
where numba is installed; they run while the ``compiled`` setting is on
(``convmath.settings(compiled=False)``; ``CONVMATH_COMPILED=0`` starts a
process with it off). Without numba, today's kernels run: the same numbers.
"""

from convmath.kernels.compiled.loops import INSTALLED, status

__all__ = ["INSTALLED", "status"]
