"""The FC layer: shapes, parameters and costs."""

import numpy as np
import pytest
from layer_checks import check_layer, rng

import convmath as cm
from convmath import nn
from convmath.inspect.gradcheck import model_gradcheck


def test_dense_shapes_parameters_and_costs():
    check_layer(nn.Dense(400, 120, rng=rng()), (400,), (120,), 48_120, 48_000)


def test_layer_scale_multiplies_each_channel_by_its_gamma():
    scale = nn.LayerScale(4, init=1e-6)
    check_layer(scale, (3, 3, 4), (3, 3, 4), 4, 0)
    np.testing.assert_array_equal(scale.gamma.data, np.full(4, 1e-6, np.float32))
    draw = np.random.default_rng(0)
    scale.gamma.data[:] = draw.standard_normal(4)
    x = draw.standard_normal((2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(scale(cm.Tensor(x)).data, x * scale.gamma.data, rtol=1e-6)
    report = model_gradcheck(scale, draw.standard_normal((2, 3, 3, 4)), rng=draw)
    assert report.passed, report.table()
    with pytest.raises(cm.ShapeError, match=r"LayerScale expected n_C=4 channels last"):
        scale.output_shape((3, 3, 5))
