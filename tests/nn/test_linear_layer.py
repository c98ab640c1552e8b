"""The FC layer: shapes, parameters and costs."""

from layer_checks import check_layer, rng

from convmath import nn


def test_dense_shapes_parameters_and_costs():
    check_layer(nn.Dense(400, 120, rng=rng()), (400,), (120,), 48_120, 48_000)
