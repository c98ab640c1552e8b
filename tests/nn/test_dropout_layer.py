"""Dropout as a layer: inverted dropout while training, the identity in eval mode."""

import numpy as np
from layer_checks import check_layer

import convmath as cm
from convmath import nn


def test_dropout_keeps_the_shape_and_is_the_identity_in_eval():
    layer = nn.Dropout(0.5, rng=np.random.default_rng(0))
    check_layer(layer, (6, 6, 2), (6, 6, 2), 0, 0)
    x = cm.Tensor(np.ones((2, 6, 6, 2)))
    np.testing.assert_array_equal(layer.eval()(x).data, x.data)


def test_dropout_zeroes_and_rescales_while_training():
    layer = nn.Dropout(0.25, rng=np.random.default_rng(0))
    out = layer(cm.Tensor(np.ones((1, 400)))).data
    assert set(np.unique(out)) <= {0.0, 1 / 0.75}
    assert 0.15 < np.mean(out == 0) < 0.35
    assert layer.backward_formulas((400,)) == [
        "dA^[l] before dropout = dA^[l] after it * mask / (1 - 0.25): the units dropped in"
        " forward get 0"
    ]
