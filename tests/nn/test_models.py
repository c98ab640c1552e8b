"""Named models: shapes, parameter counts, and whole-model gradient checks in float64."""

import numpy as np
import pytest

import convmath as cm
from convmath import models
from convmath.inspect.gradcheck import model_gradcheck


@pytest.mark.parametrize(
    ("name", "input_shape", "options", "parameters"),
    [
        ("lenet5", (28, 28, 1), {}, 61_706),
        ("mnist_cnn", (28, 28, 1), {}, 1_199_882),
        ("resnet", (32, 32, 3), {}, 269_722),  # ResNet-20 with option-A shortcuts
        ("digits_cnn", (8, 8, 1), {}, 38_330),
    ],
)
def test_parameter_counts(name, input_shape, options, parameters):
    model = models.build(name, input_shape, 10, rng=np.random.default_rng(0), **options)
    assert model.num_parameters() == parameters
    rows = model.describe(input_shape)
    assert sum(r.parameters for r in rows) == parameters


@pytest.mark.parametrize("name", sorted(models.MODELS))
@pytest.mark.parametrize("input_shape", [(28, 28, 1), (32, 32, 3)])
def test_every_model_builds_and_runs(name, input_shape):
    model = models.build(name, input_shape, 10, rng=np.random.default_rng(0))
    x = cm.Tensor(np.random.default_rng(1).standard_normal((2, *input_shape)).astype(np.float32))
    logits = model(x)
    assert logits.shape == (2, 10)
    assert logits.dtype == np.float32
    assert model.config["name"] == name


def test_wide_cnn_dropout_adds_layers_and_no_weights():
    plain = models.build("wide_cnn", (28, 28, 1), 10, rng=np.random.default_rng(3), width=4)
    dropped = models.build(
        "wide_cnn", (28, 28, 1), 10, rng=np.random.default_rng(3), width=4, dropout=0.4
    )
    # the same weights, drawn in the same order: dropout draws nothing at build time
    for (name, a), (_, b) in zip(
        plain.state_dict().items(), dropped.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
    layers = dict(dropped.named_modules())
    assert (layers["drop1"].rate, layers["drop2"].rate) == (0.2, 0.4)
    assert "drop1" not in dict(plain.named_modules())
    x = cm.Tensor(np.random.default_rng(1).standard_normal((3, 28, 28, 1)).astype(np.float32))
    np.testing.assert_allclose(dropped.eval()(x).data, plain.eval()(x).data, rtol=1e-6)
    assert not np.allclose(dropped.train()(x).data, plain.train()(x).data)


def test_seed_reproduces_a_model_exactly():
    a = models.build("resnet", (32, 32, 3), 10, rng=np.random.default_rng(7))
    b = models.build("resnet", (32, 32, 3), 10, rng=np.random.default_rng(7))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_resnet_depth_and_errors():
    model = models.build("resnet", (32, 32, 3), 10, rng=np.random.default_rng(0), depth=8)
    assert sum(1 for name, _ in model.named_parameters() if name.endswith(".W")) == 8 - 1 + 1
    with pytest.raises(cm.InvalidArgumentError, match="6n \\+ 2"):
        models.build("resnet", (32, 32, 3), 10, rng=np.random.default_rng(0), depth=10)


def test_a_model_that_does_not_fit_its_input_fails_at_build_naming_the_layer():
    with pytest.raises(
        cm.ShapeError, match="Conv2D 'conv2': the window does not fit: n_H_prev=4, f=5"
    ):
        models.build("lenet5", (8, 8, 1), 10, rng=np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="unknown model 'vgg'"):
        models.build("vgg", (28, 28, 1), 10, rng=np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match=r"'lenet'.*; did you mean 'lenet5'\?$"):
        models.build("lenet", (28, 28, 1), 10, rng=np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match=r"got 'ResNet'; did you mean 'resnet'\?$"):
        models.MODEL_NAME.check("ResNet", "model")
    with pytest.raises(cm.InvalidArgumentError, match="unexpected keyword"):
        models.build("lenet5", (28, 28, 1), 10, rng=np.random.default_rng(0), width=3)


@pytest.mark.parametrize(
    ("name", "input_shape", "options"),
    [
        ("lenet5", (28, 28, 1), {}),
        ("digits_cnn", (8, 8, 1), {}),
        ("mnist_cnn", (12, 12, 1), {"dropout": 0.5}),
        ("wide_cnn", (8, 8, 1), {"width": 4}),
        ("resnet", (16, 16, 3), {"depth": 8}),
        ("resnet", (8, 8, 2), {"depth": 8, "shortcut": "projection"}),
        ("googlenet_small", (8, 8, 1), {}),
    ],
    ids=[
        "lenet5",
        "digits_cnn",
        "mnist_cnn-dropout",
        "wide_cnn",
        "resnet-pad",
        "resnet-projection",
        "googlenet",
    ],
)
def test_whole_model_gradients_in_float64(name, input_shape, options):
    rng = np.random.default_rng(3)
    model = models.build(name, input_shape, 10, rng=rng, **options)
    x = rng.standard_normal((3, *input_shape))
    report = model_gradcheck(model, x, rng.integers(0, 10, 3), rng=rng)
    assert report.passed, report.table()
    assert {c.name for c in report.comparisons} >= {"input", *dict(model.named_parameters())}
    assert all(p.dtype == np.float32 for p in model.parameters())  # the model itself is untouched


@pytest.mark.parametrize("kernels", [True, False])
def test_model_gradcheck_catches_a_broken_layer(monkeypatch, kernels):
    from convmath.kernels.conv import Conv2DKernel
    from convmath.ops.conv import Conv2D

    broken = Conv2DKernel if kernels else Conv2D  # the code that runs
    original = broken.backward

    def slightly_wrong(self, grad):
        da, dw, *rest = original(self, grad)
        return (da, dw * 1.001, *rest)

    monkeypatch.setattr(broken, "backward", slightly_wrong)
    rng = np.random.default_rng(4)
    model = models.build("lenet5", (28, 28, 1), 10, rng=rng)
    with cm.use_kernels(kernels):
        x, labels = rng.standard_normal((2, 28, 28, 1)), np.array([1, 2])
        report = model_gradcheck(model, x, labels, rng=rng)
    assert not report.passed
    failing = {c.name for c in report.comparisons if not c.passed}
    assert failing == {"conv1.W", "conv2.W"}


def test_residual_branch_gradients_add_up():
    # one tensor feeds the main path and the identity shortcut: both gradients must arrive
    from convmath import nn

    rng = np.random.default_rng(5)
    block = nn.ResidualBlock(4, 4, rng=rng).name_modules()
    report = model_gradcheck(block, rng.standard_normal((2, 6, 6, 4)), rng=rng)
    assert report.passed, report.table()
    inception = nn.InceptionModule(4, 2, 2, 3, 2, 3, 2, rng=rng).name_modules()
    report = model_gradcheck(inception, rng.standard_normal((2, 5, 5, 4)), rng=rng)
    assert report.passed, report.table()
