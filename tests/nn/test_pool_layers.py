"""The POOL layers: shapes, no parameters, no multiply-accumulates."""

import pytest
from layer_checks import check_layer

from convmath import nn


@pytest.mark.parametrize(
    ("layer", "input_shape", "output_shape"),
    [
        (nn.MaxPool2D(2), (28, 28, 6), (14, 14, 6)),
        (nn.AvgPool2D(3, 2, 1), (7, 7, 3), (4, 4, 3)),
        (nn.GlobalAvgPool2D(), (8, 8, 64), (64,)),
    ],
    ids=["maxpool", "avgpool", "gap"],
)
def test_pool_shapes_parameters_and_costs(layer, input_shape, output_shape):
    check_layer(layer, input_shape, output_shape, parameters=0, macs=0)
