"""The GIL-releasing products give matmul's own bits."""

import numpy as np
import pytest

from convmath.kernels.products import batched_product, product


@pytest.mark.parametrize(("m", "k", "n"), [(25, 4096, 6), (1, 300, 7), (64, 33, 128)])
def test_product_is_matmul_bit_for_bit(rng, m, k, n):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_array_equal(product(a, b), a @ b)
    np.testing.assert_array_equal(product(b.T, a.T), b.T @ a.T)  # transposed views, no copy
    ones = np.ones(k, dtype=np.float32)
    np.testing.assert_array_equal(product(ones, b), ones @ b)


def test_batched_product_over_one_or_many_matrices(rng):
    for batch in (1, 3):
        a = rng.standard_normal((batch, 9, 40)).astype(np.float32)
        b = rng.standard_normal((batch, 40, 5)).astype(np.float32)
        got = batched_product(a, b)
        assert got.shape == (batch, 9, 5)
        np.testing.assert_array_equal(got, np.matmul(a, b))
