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


def test_adaptive_pooling_is_bounded_by_the_side_limit_and_describes_few_bins():
    with pytest.raises(cm.InvalidArgumentError, match=r"at most 4096 a side, got \(4097, 1\)"):
        nn.AdaptiveAvgPool2D((4097, 1))
    wide = nn.AdaptiveAvgPool2D((4096, 1))
    assert wide.formulas((4096, 3, 1))[1].endswith("[0, 1), [1, 2), [2, 3), [3, 4), ...")
    default = nn.MaxPool2D(1).scratch_bytes((4096, 3, 1), 1, 4, training=False)
    assert wide.scratch_bytes((4096, 3, 1), 1, 4, training=False) == default + (
        4 * (4096 * 4096 + 1 * 3)
    )  # the two averaging matrices P_H (4096, 4096) and P_W (1, 3) besides the temporaries
