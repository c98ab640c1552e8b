"""The POOL layers: shapes, no parameters, no multiply-accumulates."""

import pytest
from layer_checks import check_layer

import convmath as cm
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


def test_adaptive_average_and_spatial_mean_layers():
    check_layer(nn.AdaptiveAvgPool2D(7), (13, 9, 4), (7, 7, 4), 0, 0)
    check_layer(nn.AdaptiveAvgPool2D((2, 3)), (5, 5, 2), (2, 3, 2), 0, 0)
    check_layer(nn.SpatialMean(), (6, 5, 8), (1, 1, 8), 0, 0)
    formulas = nn.AdaptiveAvgPool2D((3, 1)).formulas((7, 4, 2))
    assert (
        "n_H: 3 bins of 7: [floor(i*7/3), ceil((i + 1)*7/3)) = [0, 3), [2, 5), [4, 7)"
        in (formulas[1])
    )
    assert (
        "sum_(y=1..5) A^[l-1]_(x,y,c): the mean of each channel, kept as a volume (1, 1, 8)"
        in nn.SpatialMean().formulas((6, 5, 8))[0]
    )
    with pytest.raises(cm.ShapeError, match=r"AdaptiveAvgPool2D expects a volume"):
        nn.AdaptiveAvgPool2D(2).output_shape((10,))
