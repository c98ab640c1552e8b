"""Batch normalisation as a layer: shapes and its 2*n_C parameters."""

import numpy as np
import pytest
from layer_checks import check_layer

import convmath as cm
from convmath import nn


def test_batch_norm_shapes_parameters_and_costs():
    check_layer(nn.BatchNorm2D(16), (10, 10, 16), (10, 10, 16), 32, 0)


def test_layer_norm_layer_normalises_each_position_in_both_modes():
    ln = nn.LayerNorm(4, eps=1e-6)
    check_layer(ln, (3, 3, 4), (3, 3, 4), 8, 0)
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 4)).astype(np.float32)
    z = ln(cm.Tensor(x)).data
    np.testing.assert_allclose(z.mean(axis=-1), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=-1), 1, rtol=1e-4)
    ln.eval()
    np.testing.assert_array_equal(ln(cm.Tensor(x)).data, z)  # no running statistics
    assert "over the 4 channels of each position" in ln.formulas((3, 3, 4))[0]
    with pytest.raises(cm.ShapeError, match=r"LayerNorm expected n_C=4 channels last"):
        ln.output_shape((3, 3, 5))
    with pytest.raises(cm.InvalidArgumentError, match="LayerNorm eps must be > 0"):
        nn.LayerNorm(4, eps=-1.0)
