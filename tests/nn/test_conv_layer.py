"""The CONV layer: shapes, parameters and costs; errors that name the layer."""

import numpy as np
import pytest
from layer_checks import check_layer, rng

import convmath as cm
from convmath import nn


@pytest.mark.parametrize(
    ("layer", "input_shape", "output_shape", "parameters", "macs"),
    [
        (nn.Conv2D(1, 6, 5, padding=2, rng=rng()), (28, 28, 1), (28, 28, 6), 156, 117_600),
        (nn.Conv2D(6, 16, 5, rng=rng()), (14, 14, 6), (10, 10, 16), 2_416, 240_000),
        (
            nn.Conv2D(4, 8, 3, stride=2, padding=1, groups=4, rng=rng()),
            (9, 9, 4),
            (5, 5, 8),
            80,
            1_800,
        ),
    ],
    ids=["conv1", "conv2", "grouped"],
)
def test_conv_shapes_parameters_and_costs(layer, input_shape, output_shape, parameters, macs):
    check_layer(layer, input_shape, output_shape, parameters, macs)


def test_forward_errors_name_the_layer_and_quote_the_batch_shape():
    conv = nn.Sequential({"conv2": nn.Conv2D(6, 16, 5, rng=rng())}).name_modules()
    batch = cm.Tensor(np.zeros((64, 14, 14, 3), np.float32))
    with pytest.raises(
        cm.ShapeError,
        match=r"Conv2D 'conv2' expected n_C_prev=6 but the input has shape \(64, 14, 14, 3\)",
    ):
        conv(batch)


def test_a_channels_first_input_is_told_to_transpose():
    conv = nn.Conv2D(3, 4, 3, rng=rng()).name_modules()
    with pytest.raises(
        cm.ShapeError, match=r"if this is channels-first \(NCHW\), pass x.transpose\(0, 2, 3, 1\)"
    ):
        conv(cm.Tensor(np.zeros((2, 3, 8, 8), np.float32)))
    with pytest.raises(cm.ShapeError) as error:  # no hint when the shape is not NCHW-like
        conv(cm.Tensor(np.zeros((2, 8, 8, 5), np.float32)))
    assert "NCHW" not in str(error.value)
