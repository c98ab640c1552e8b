"""The layers that move values: Flatten's shape, channels-last."""

from layer_checks import check_layer

from convmath import nn


def test_flatten_shapes_parameters_and_costs():
    check_layer(nn.Flatten(), (5, 5, 16), (400,), 0, 0)
