"""Residual blocks and Inception modules: shapes, costs, shortcuts, branch names."""

import numpy as np
from layer_checks import rng

import convmath as cm
from convmath import nn


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
