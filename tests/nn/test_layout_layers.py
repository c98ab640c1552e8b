"""The layers that move values: Flatten's shape, channels-last."""

import numpy as np
import pytest
from layer_checks import check_layer

import convmath as cm
from convmath import nn
from convmath.nn.graph import Graph, Multiply, Node


def test_flatten_shapes_parameters_and_costs():
    check_layer(nn.Flatten(), (5, 5, 16), (400,), 0, 0)


def test_channel_shuffle_and_channel_slice():
    check_layer(nn.ChannelShuffle(4), (5, 5, 16), (5, 5, 16), 0, 0)
    check_layer(nn.ChannelSlice(3, 10), (5, 5, 16), (5, 5, 7), 0, 0)
    a = cm.Tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 2, 6))
    np.testing.assert_array_equal(
        nn.ChannelShuffle(3)(a).data[0, 0, 0], [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    )
    np.testing.assert_array_equal(nn.ChannelSlice(4, 6)(a).data[0, 0, 1], [10.0, 11.0])
    assert "channel k*2 + j -> j*3 + k" in nn.ChannelShuffle(3).formulas((1, 2, 6))[0]
    assert "A_prev[..., 4:6]" in nn.ChannelSlice(4, 6).formulas((1, 2, 6))[0]


def test_channel_layers_refuse_what_does_not_fit():
    with pytest.raises(cm.ShapeError, match=r"ChannelShuffle shuffles 4 groups, but .* n_C = 6"):
        nn.ChannelShuffle(4).output_shape((2, 2, 6))
    with pytest.raises(cm.ShapeError, match=r"ChannelSlice takes channels 4:8 but .*n_C = 6"):
        nn.ChannelSlice(4, 8).output_shape((2, 2, 6))
    with pytest.raises(cm.InvalidArgumentError, match="0 <= start < stop, got start=3, stop=3"):
        nn.ChannelSlice(3, 3)
    with pytest.raises(cm.InvalidArgumentError, match="ChannelShuffle groups"):
        nn.ChannelShuffle(0)


def test_multiply_merges_a_gate_into_a_map_by_broadcasting():

    rng = np.random.default_rng(0)
    graph = Graph(
        [
            Node("squeeze", nn.SpatialMean(), ("x",), "s"),
            Node("gate", nn.Sigmoid(), ("s",), "g"),
            Node("scale", Multiply(), ("x", "g"), "y"),
        ],
        "x",
        "y",
    )
    assert graph.output_shape((4, 5, 3)) == (4, 5, 3)
    x = rng.standard_normal((2, 4, 5, 3))
    expected = x / (1 + np.exp(-x.mean(axis=(1, 2), keepdims=True)))
    np.testing.assert_allclose(graph(cm.Tensor(x)).data, expected, rtol=1e-14)
    with pytest.raises(cm.ShapeError, match="the inputs to multiply must broadcast"):
        Multiply().merged_shape([(4, 5, 3), (1, 1, 2)])
