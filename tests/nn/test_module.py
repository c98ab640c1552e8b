"""Module and Sequential: parameter walking, modes, state, shapes checked at construction."""

import numpy as np
import pytest
from layer_checks import rng

import convmath as cm
from convmath import nn


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Dense(3, 4, rng=rng())
        self.blocks = [nn.Dense(4, 4, rng=rng()), nn.ReLU()]
        self.heads = {"out": nn.Dense(4, 2, rng=rng())}
        self.shared = self.first  # the same module twice: its parameters count once

    def forward(self, x):
        x = self.blocks[1](self.blocks[0](self.first(x)))
        return self.heads["out"](x)


def test_parameters_are_found_in_attributes_lists_and_dicts():
    model = Pair()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["first.W", "first.b", "blocks.0.W", "blocks.0.b", "heads.out.W", "heads.out.b"]
    assert model.num_parameters() == (3 + 1) * 4 + (4 + 1) * 4 + (4 + 1) * 2


def test_train_and_eval_reach_every_module():
    model = nn.Sequential(
        nn.Conv2D(1, 2, 3, rng=rng()), nn.BatchNorm2D(2), nn.Dropout(0.5, rng=rng())
    )
    model.eval()
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())


def test_state_dict_round_trip_includes_buffers():
    model = nn.Sequential(nn.Conv2D(1, 2, 3, rng=rng()), nn.BatchNorm2D(2))
    model(cm.Tensor(np.random.default_rng(1).standard_normal((4, 5, 5, 1)).astype(np.float32)))
    state = model.state_dict()
    assert set(state) == {"0.W", "0.b", "1.gamma", "1.beta", "1.running_mean", "1.running_var"}
    assert np.any(state["1.running_mean"] != 0)
    fresh = nn.Sequential(nn.Conv2D(1, 2, 3, rng=np.random.default_rng(5)), nn.BatchNorm2D(2))
    fresh.load_state_dict(state)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    state["0.W"][...] = 7  # a copy: the model is not changed through it
    assert not np.any(model.state_dict()["0.W"] == 7)


def test_load_state_dict_reports_every_problem_before_changing_anything():
    model = nn.Sequential(nn.Dense(3, 2, rng=rng()))
    before = model.state_dict()
    bad = {"0.W": np.zeros((2, 3), np.float32), "extra": np.zeros(1)}
    with pytest.raises(cm.ShapeError) as caught:
        model.load_state_dict(bad)
    message = str(caught.value)
    assert "missing ['0.b']" in message
    assert "unexpected ['extra']" in message
    assert "0.W: expected (3, 2), got (2, 3)" in message
    np.testing.assert_array_equal(model.state_dict()["0.W"], before["0.W"])


def test_construction_time_shape_errors_name_the_layer():
    model = nn.Sequential(
        {"conv1": nn.Conv2D(1, 6, 5, rng=rng()), "conv2": nn.Conv2D(3, 16, 5, rng=rng())}
    ).name_modules()
    with pytest.raises(
        cm.ShapeError,
        match=r"Conv2D 'conv2' expected n_C_prev=3 but the input has shape \(24, 24, 6\)",
    ):
        model.output_shape((28, 28, 1))
    small = nn.Sequential({"conv": nn.Conv2D(1, 6, 5, rng=rng())}).name_modules()
    with pytest.raises(
        cm.ShapeError, match=r"Conv2D 'conv': the window does not fit: n_H_prev=4, f=5"
    ):
        small.output_shape((4, 4, 1))
    dense = nn.Sequential({"fc": nn.Dense(10, 2, rng=rng())}).name_modules()
    with pytest.raises(
        cm.ShapeError, match=r"Dense 'fc' expects a vector.*flatten the volume first"
    ):
        dense.output_shape((4, 4, 1))
