"""Shared by the layer tests: a layer's shape rule, parameter count and cost, checked at once."""

import numpy as np

import convmath as cm


def rng():
    return np.random.default_rng(0)


def check_layer(layer, input_shape, output_shape, parameters, macs):
    """The shape rule, the counts, and a forward pass on a batch of 2 that agrees with them."""
    assert layer.output_shape(input_shape) == output_shape
    assert layer.num_parameters() == parameters
    assert layer.macs(input_shape) == macs
    x = cm.Tensor(np.random.default_rng(2).standard_normal((2, *input_shape)).astype(np.float32))
    assert layer(x).shape == (2, *output_shape)
