"""Residual blocks and Inception modules: shapes, costs, shortcuts, branch names."""

import numpy as np
import pytest
from layer_checks import rng

import convmath as cm
from convmath import nn
from convmath.inspect.gradcheck import model_gradcheck


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


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_squeeze_excitation_scales_each_channel_by_its_gate():
    rng = np.random.default_rng(0)
    se = nn.SqueezeExcitation(6, 3, "silu", "sigmoid", rng=rng)
    x = rng.standard_normal((2, 5, 4, 6)).astype(np.float32)
    fc1, fc2 = se.squeeze["fc1"], se.squeeze["fc2"]
    pooled = x.mean(axis=(1, 2))  # (m, n_C)
    hidden = pooled @ fc1.W.data[0, 0] + fc1.b.data
    gate = _sigmoid((hidden * _sigmoid(hidden)) @ fc2.W.data[0, 0] + fc2.b.data)
    expected = x * gate[:, None, None, :]
    np.testing.assert_allclose(se(cm.Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)
    assert se.num_parameters() == (6 + 1) * 3 + (3 + 1) * 6
    assert [name for name, _ in se.named_parameters()] == [
        "squeeze.fc1.W", "squeeze.fc1.b", "squeeze.fc2.W", "squeeze.fc2.b",
    ]  # fmt: skip


def test_squeeze_excitation_gradients():
    rng = np.random.default_rng(1)
    se = nn.SqueezeExcitation(4, 2, gate="hard_sigmoid", rng=rng)
    report = model_gradcheck(se, rng.standard_normal((2, 3, 3, 4)), rng=rng)
    assert report.passed, report.table()


@pytest.mark.parametrize(
    ("n_C_prev", "n_C", "stride", "options", "out", "residual"),
    [
        (8, 8, 1, {"expanded": 16}, (6, 6, 8), True),  # MobileNetV2, t = 2
        (8, 8, 1, {"expanded": 8}, (6, 6, 8), True),  # t = 1: no expansion layer
        (8, 12, 2, {"expanded": 24, "f": 5, "activation": "hard_swish", "se_squeeze": 8},
         (3, 3, 12), False),  # MobileNetV3, 5x5, with SE
        (4, 4, 1, {"se_squeeze": 4, "se_gate": "sigmoid", "activation": "silu"}, (6, 6, 4), True),
    ],
    ids=["v2", "v2-t1", "v3-se-s2", "efficientnet-like"],
)  # fmt: skip
def test_inverted_residual_shapes_and_gradients(n_C_prev, n_C, stride, options, out, residual):
    rng = np.random.default_rng(2)
    block = nn.InvertedResidual(n_C_prev, n_C, stride, rng=rng, **options).name_modules()
    assert block.output_shape((6, 6, n_C_prev)) == out
    assert block.residual is residual
    names = [name for name, _ in block.main.named_children()]
    assert ("expand" in names) is (options.get("expanded", 6 * n_C_prev) != n_C_prev)
    assert ("se" in names) is ("se_squeeze" in options)
    depthwise = block.main["depthwise"]
    assert depthwise.groups == depthwise.n_C_prev == depthwise.n_C
    x = rng.standard_normal((2, 6, 6, n_C_prev))
    block.eval()  # batch norm as a fixed affine map: the check sees one function
    for _, module in block.named_modules():
        if isinstance(module, nn.BatchNorm2D):  # as trained: with beta = 0 a window of the
            # ReLU's zeros would give exactly 0 at the next ReLU's kink, for every step of beta
            module.beta.data[:] = rng.uniform(0.2, 0.5, module.n_C)
            module.running_var[:] = rng.uniform(0.5, 2, module.n_C)
    report = model_gradcheck(block, x, rng=rng)
    assert report.passed, report.table()
    if residual:  # a_out = main(a) + a
        with cm.no_grad():
            x32 = cm.Tensor(x.astype(np.float32))
            np.testing.assert_allclose(
                block(x32).data, block.main(x32).data + x32.data, rtol=1e-6, atol=1e-6
            )


def test_block_arguments_are_checked():
    rng = np.random.default_rng(0)
    with pytest.raises(cm.InvalidArgumentError, match="SqueezeExcitation gate must be one of"):
        nn.SqueezeExcitation(4, 2, gate="softplus", rng=rng)
    with pytest.raises(cm.ShapeError, match=r"SqueezeExcitation expected n_C=4"):
        nn.SqueezeExcitation(4, 2, rng=rng).output_shape((3, 3, 5))
    with pytest.raises(cm.InvalidArgumentError, match="InvertedResidual stride"):
        nn.InvertedResidual(4, 4, 0, rng=rng)


def test_mobile_blocks_give_the_same_numbers_with_and_without_the_kernels():
    rng = np.random.default_rng(3)
    block = nn.InvertedResidual(
        8, 8, rng=rng, expanded=16, activation="hard_swish", se_squeeze=8
    ).name_modules()
    x = rng.standard_normal((4, 7, 7, 8)).astype(np.float32)
    results = []
    for kernels in (True, False):
        block.zero_grad()
        with cm.use_kernels(kernels):
            a = cm.Tensor(x, requires_grad=True)
            out = block(a)
            weights = np.cos(np.arange(out.data.size)).reshape(out.shape).astype(np.float32)
            (out * cm.Tensor(weights)).sum().backward()
        results.append((out.data, a.grad, [p.grad for p in block.parameters()]))
    (out_k, da_k, grads_k), (out_e, da_e, grads_e) = results
    np.testing.assert_allclose(out_k, out_e, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(da_k, da_e, rtol=1e-4, atol=1e-5)
    for mine, equation in zip(grads_k, grads_e, strict=True):
        np.testing.assert_allclose(mine, equation, rtol=1e-4, atol=1e-4)
