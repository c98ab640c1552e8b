"""Weight initialisers: seeded, float32, and scaled as their papers say."""

import numpy as np
import pytest
from layer_checks import rng

import convmath as cm
from convmath import nn


@pytest.mark.parametrize("name", sorted(nn.INITIALIZERS))
def test_initializers_are_seeded_and_scaled(name):
    a = nn.initialize(name, (64, 64), 64, 64, np.random.default_rng(3))
    b = nn.initialize(name, (64, 64), 64, 64, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32
    expected_std = {
        "he_normal": np.sqrt(2 / 64),
        "he_normal_fan_out": np.sqrt(2 / 64),
        "he_uniform": np.sqrt(2 / 64),
        "glorot_uniform": np.sqrt(1 / 64),
        "torch_default": np.sqrt(1 / (3 * 64)),
        "zeros": 0.0,
    }[name]
    assert a.std() == pytest.approx(expected_std, rel=0.05, abs=1e-9)


def test_initializer_errors():
    with pytest.raises(cm.InvalidArgumentError, match="unknown initialiser 'orthogonal'"):
        nn.initialize("orthogonal", (2, 2), 2, 2, rng())
    with pytest.raises(cm.InvalidArgumentError, match="default_rng"):
        nn.Dense(2, 2, rng=None)
