"""The op tests check the equations themselves: every op here runs with kernels off.

tests/kernels proves each kernel equal to its op on the same case tables.
"""

import pytest

import convmath as cm


@pytest.fixture(autouse=True)
def equations_only():
    with cm.use_kernels(False):
        yield
