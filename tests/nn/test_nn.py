"""Modules, layers and blocks: parameter walking, state, shapes checked at construction."""

import numpy as np
import pytest

import convmath as cm
from convmath import nn


def rng():
    return np.random.default_rng(0)


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


def test_forward_errors_name_the_layer_and_quote_the_batch_shape():
    conv = nn.Sequential({"conv2": nn.Conv2D(6, 16, 5, rng=rng())}).name_modules()
    batch = cm.Tensor(np.zeros((64, 14, 14, 3), np.float32))
    with pytest.raises(
        cm.ShapeError,
        match=r"Conv2D 'conv2' expected n_C_prev=6 but the input has shape \(64, 14, 14, 3\)",
    ):
        conv(batch)


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
        (nn.MaxPool2D(2), (28, 28, 6), (14, 14, 6), 0, 0),
        (nn.AvgPool2D(3, 2, 1), (7, 7, 3), (4, 4, 3), 0, 0),
        (nn.GlobalAvgPool2D(), (8, 8, 64), (64,), 0, 0),
        (nn.Flatten(), (5, 5, 16), (400,), 0, 0),
        (nn.Dense(400, 120, rng=rng()), (400,), (120,), 48_120, 48_000),
        (nn.BatchNorm2D(16), (10, 10, 16), (10, 10, 16), 32, 0),
    ],
    ids=["conv1", "conv2", "grouped", "maxpool", "avgpool", "gap", "flatten", "dense", "bn"],
)
def test_layer_shapes_parameters_and_costs(layer, input_shape, output_shape, parameters, macs):
    assert layer.output_shape(input_shape) == output_shape
    assert layer.num_parameters() == parameters
    assert layer.macs(input_shape) == macs
    x = cm.Tensor(np.random.default_rng(2).standard_normal((2, *input_shape)).astype(np.float32))
    assert layer(x).shape == (2, *output_shape)


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


def test_inception_cost_of_the_article_example():
    assert nn.inception_cost(28, 28, 192, 32, 5) == 120_422_400
    assert nn.inception_cost(28, 28, 192, 32, 5, bottleneck=16) == 12_443_648
    module = nn.InceptionModule(192, 64, 96, 128, 16, 32, 32, rng=rng())
    assert module.output_shape((28, 28, 192)) == (28, 28, 256)
    assert module.num_parameters() == 163_696  # the GoogLeNet 3a module of workload W4
    cost = module.cost((28, 28, 192))
    assert cost["reduced"] == 128_049_152
    assert cost["naive"] > 2 * cost["reduced"]
    naive = nn.InceptionModule(192, 64, 96, 128, 16, 32, 32, rng=rng(), reduce=False)
    assert naive.output_shape((28, 28, 192)) == (28, 28, 64 + 128 + 32 + 192)
    assert sum(r.macs for r in naive.describe((28, 28, 192))) == cost["naive"]
    assert sum(r.macs for r in module.describe((28, 28, 192))) == cost["reduced"]


def test_residual_block_shortcuts():
    identity = nn.ResidualBlock(16, 16, rng=rng())
    assert identity.projection is None
    assert identity.identity
    projection = nn.ResidualBlock(16, 32, 2, rng=rng())
    assert projection.output_shape((32, 32, 16)) == (16, 16, 32)
    assert projection.projection is not None
    pad = nn.ResidualBlock(16, 32, 2, rng=rng(), shortcut="pad")
    assert pad.output_shape((32, 32, 16)) == (16, 16, 32)
    assert pad.num_parameters() == 3 * 3 * 16 * 32 + 3 * 3 * 32 * 32 + 4 * 32
    bottleneck = nn.ResidualBlock(64, 64, rng=rng(), bottleneck=True)
    assert bottleneck.output_shape((8, 8, 64)) == (8, 8, 64)
    x = cm.Tensor(np.random.default_rng(4).standard_normal((2, 9, 9, 16)).astype(np.float32))
    assert pad(x).shape == (2, 5, 5, 32)
    rows = pad.describe((9, 9, 16))
    assert "option A" in "\n".join(rows[-1].formulas)


def test_a_channels_first_input_is_told_to_transpose():
    conv = nn.Conv2D(3, 4, 3, rng=rng()).name_modules()
    with pytest.raises(
        cm.ShapeError, match=r"if this is channels-first \(NCHW\), pass x.transpose\(0, 2, 3, 1\)"
    ):
        conv(cm.Tensor(np.zeros((2, 3, 8, 8), np.float32)))
    with pytest.raises(cm.ShapeError) as error:  # no hint when the shape is not NCHW-like
        conv(cm.Tensor(np.zeros((2, 8, 8, 5), np.float32)))
    assert "NCHW" not in str(error.value)


def test_inception_branches_are_named_for_what_they_are():
    block = nn.InceptionModule(8, 2, 3, 4, 2, 3, 2, rng=np.random.default_rng(0)).name_modules()
    names = [row.name for row in block.describe((6, 6, 8)) if not row.is_heading]
    assert names[:4] == ["1x1.conv", "1x1.relu", "3x3.reduce", "3x3.reduce_relu"]
    assert names[-4:] == ["pool.pool", "pool.proj", "pool.proj_relu", "concat"]
    naive = nn.InceptionModule(4, 2, 3, 4, 2, 3, 2, rng=np.random.default_rng(0), reduce=False)
    assert sorted(naive.state_dict()) == sorted(
        f"{b}.conv.{p}" for b in ("1x1", "3x3", "5x5") for p in ("W", "b")
    )


def test_a_checkpoint_from_before_the_branch_names_still_loads():
    from convmath import models

    model = models.build("googlenet_small", (32, 32, 3), 10, rng=np.random.default_rng(1))
    state = model.state_dict()
    legacy = {}  # the names these weights had: inception1.branches.1.2.W for inception1.3x3.conv.W
    for name, array in state.items():
        for i, branch in enumerate(("1x1", "3x3", "5x5", "pool")):
            marker = f".{branch}."
            if marker in name:
                head, tail = name.split(marker)
                layer, parameter = tail.rsplit(".", 1)
                order = list(model[head].branches[i].layers).index(layer)
                name = f"{head}.branches.{i}.{order}.{parameter}"
        legacy[name] = array
    assert "inception1.branches.1.2.W" in legacy
    fresh = models.build("googlenet_small", (32, 32, 3), 10, rng=np.random.default_rng(2))
    fresh.load_state_dict(legacy)
    for name, array in state.items():
        np.testing.assert_array_equal(fresh.state_dict()[name], array, err_msg=name)
