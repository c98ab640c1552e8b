"""Batch normalisation as a layer: shapes and its 2*n_C parameters."""

from layer_checks import check_layer

from convmath import nn


def test_batch_norm_shapes_parameters_and_costs():
    check_layer(nn.BatchNorm2D(16), (10, 10, 16), (10, 10, 16), 32, 0)
