"""trace and explain_value: every number of one example, and how each value was computed."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import models, nn
from convmath.errors import InvalidArgumentError
from convmath.inspect import explain
from convmath.inspect.arithmetic import _tex_number, _tex_text, explain_value, explainable
from convmath.inspect.trace import trace

SHAPES = {"resnet": (16, 16, 3), "googlenet_small": (12, 12, 1), "digits_cnn": (8, 8, 1)}


def built(name: str):
    shape = SHAPES.get(name, (28, 28, 1))
    model = models.build(name, shape, 10, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    return model, shape, x


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_row_has_its_output_and_gradient_and_the_model_is_untouched(name):
    model, shape, x = built(name)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    result = trace(model, x, target=3)
    for row in explain(model, shape).rows:
        if row.is_heading:
            continue
        assert result.output_of(row.name).shape == row.output_shape, row.name
        assert result.gradient_of(row.name).shape == row.output_shape, row.name
        assert explainable(result.module_of(row.name)[1]), row.name
    with cm.no_grad():
        model.eval()
        logits = model(cm.Tensor(x[None])).data[0]
    np.testing.assert_allclose(result.logits, logits, rtol=1e-4, atol=1e-5)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(p.grad is None for p in model.parameters())


def test_the_gradients_are_autograds_and_the_loss_is_the_cross_entropy():
    model, _, x = built("lenet5")
    result = trace(model, x, target=7)
    model.eval()
    tensor = cm.Tensor(x[None], requires_grad=True)
    loss = F.softmax_cross_entropy(model(tensor), np.array([7]))
    loss.backward()
    assert result.loss == pytest.approx(float(loss.data), rel=1e-6)
    np.testing.assert_allclose(result.input_gradient, tensor.grad[0], rtol=1e-4, atol=1e-7)
    p = result.probabilities
    np.testing.assert_allclose(result.gradient_of("fc3"), p - np.eye(10)[7], atol=1e-6)
    traced_conv = dict(result.model.named_modules())["conv1"]
    np.testing.assert_allclose(traced_conv.W.grad, model["conv1"].W.grad, rtol=1e-4, atol=1e-7)


def test_the_equations_agree_with_the_forward_in_every_explained_layer():
    for name in sorted(models.MODELS):
        model, shape, x = built(name)
        result = trace(model, x)
        for row in explain(model, shape).rows:
            if row.is_heading:
                continue
            out = result.output_of(row.name)
            for position in (
                [0] * out.ndim,
                [n - 1 for n in out.shape],
                [n // 2 for n in out.shape],
            ):
                answer = explain_value(result, row.name, position)
                assert answer["value"] == pytest.approx(float(out[tuple(position)])), row.name
                # the page typesets every value's equation, in the article's notation
                assert answer.get("tex"), (name, row.name, answer["kind"])
                recomputed = {
                    "conv": answer.get("z"),
                    "dense": answer.get("z"),
                    "batch_norm": answer.get("y"),
                    "layer_norm": answer.get("y"),
                    "residual_add": max(answer.get("z", 0.0), 0.0),
                }.get(answer["kind"])
                if recomputed is not None:
                    scale = max(1.0, abs(answer["value"]))
                    assert recomputed == pytest.approx(answer["value"], abs=2e-5 * scale), (
                        name,
                        row.name,
                        position,
                    )


def test_a_conv_window_in_the_padding_stride_and_dilation():
    rng = np.random.default_rng(4)
    conv = nn.Conv2D(2, 3, 3, stride=2, padding=2, dilation=2, rng=rng)
    conv.b.data[:] = [0.5, -1.0, 2.0]
    model = nn.Sequential({"conv": conv, "flatten": nn.Flatten(), "fc": nn.Dense(27, 4, rng=rng)})
    x = rng.standard_normal((6, 6, 2)).astype(np.float32)
    result = trace(model.name_modules(), x)
    answer = explain_value(result, "conv", [1, 2, 1])
    assert answer["rows"] == [0, 2, 4]  # i*s - p + u*d
    assert answer["cols"] == [2, 4, 6]
    assert answer["padded"][0].tolist() == [False, False, True]
    expected = np.zeros((3, 3, 2), np.float32)
    for u, r in enumerate(answer["rows"]):
        for v, c in enumerate(answer["cols"]):
            if 0 <= r < 6 and 0 <= c < 6:
                expected[u, v] = x[r, c]
    np.testing.assert_array_equal(answer["window"], expected)
    assert answer["bias"] == -1.0
    assert answer["z"] == pytest.approx(answer["value"], abs=1e-5)
    flat = explain_value(result, "flatten", [5])
    assert flat["source"] == [0, 1, 2]  # channels-last order: 5 = (0*3 + 1)*3 + 2


def test_average_pooling_and_the_residual_and_inception_joins():
    model, _, x = built("googlenet_small")
    result = trace(model, x)
    join = next(row.name for row in explain(model, (12, 12, 1)).rows if row.kind == "Concatenate")
    channels = result.output_of(join).shape[2]
    answer = explain_value(result, join, [0, 0, channels - 1])
    assert answer["kind"] == "concat"
    assert answer["branch"].endswith(".pool")

    model, _, x = built("resnet")
    result = trace(model, x)
    answer = explain_value(result, "stage2_0.add", [1, 1, 30])  # option A: a zero channel
    assert answer["shortcut"] == 0.0
    assert max(answer["z"], 0.0) == pytest.approx(answer["value"], abs=1e-5)

    pool = nn.AvgPool2D(3, 1, padding=1)
    pool.count_include_pad = False
    tiny = nn.Sequential({"pool": pool, "gap": nn.GlobalAvgPool2D()}).name_modules()
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    result = trace(tiny, x)
    corner = explain_value(result, "pool", [0, 0, 0])
    assert corner["kind"] == "average"
    assert corner["value"] == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert "/ 4" in corner["equation"]
    gap = explain_value(result, "gap", [0])
    assert gap["kind"] == "average"


def test_the_softmax_of_the_output():
    model, _, x = built("digits_cnn")
    result = trace(model, x)
    answer = explain_value(result, "softmax", [2])
    np.testing.assert_allclose(answer["probabilities"], result.probabilities)
    assert answer["exps"].max() == 1.0  # the largest logit, shifted to 0
    assert answer["value"] == pytest.approx(answer["exps"][2] / answer["sum"])


@pytest.mark.parametrize(
    ("row", "position", "message"),
    [
        ("conv9", [0, 0, 0], "no layer 'conv9'"),
        ("conv1", [8, 0, 0], "outside 'conv1'"),
        ("conv1", [0, 0], "must be 3 integers"),
        ("conv1", [0, 0, True], "must be 3 integers"),
        ("softmax", [10], "outside 'softmax'"),
        ("fc2", "3", "must be 1 integers"),
    ],
)
def test_bad_rows_and_positions_are_refused_by_name(row, position, message):
    model, _, x = built("digits_cnn")
    with pytest.raises(InvalidArgumentError, match=message):
        explain_value(trace(model, x), row, position)


def test_a_target_outside_the_classes_is_refused():
    model, _, x = built("digits_cnn")
    with pytest.raises(InvalidArgumentError, match=r"0\.\.9"):
        trace(model, x, target=10)


def test_a_layer_norm_value_is_explained_with_its_positions_own_statistics():
    rng = np.random.default_rng(5)
    norm = nn.LayerNorm(4)
    norm.gamma.data[:] = [1.5, -0.5, 2.0, 1.0]
    norm.beta.data[:] = [0.25, 0.0, -1.0, 0.5]
    model = nn.Sequential(
        {"conv": nn.Conv2D(2, 4, 3, rng=rng), "norm": norm, "flatten": nn.Flatten(),
         "fc": nn.Dense(16, 3, rng=rng)}
    )  # fmt: skip
    x = rng.standard_normal((4, 4, 2)).astype(np.float32)
    result = trace(model.name_modules(), x)
    answer = explain_value(result, "norm", [1, 0, 2])
    channels = result.output_of("conv")[1, 0].astype(np.float64)
    assert answer["kind"] == "layer_norm"
    assert answer["channels"] == 4
    assert answer["mu"] == pytest.approx(channels.mean())
    assert answer["sigma"] == pytest.approx(np.sqrt(channels.var() + norm.eps))
    assert answer["y"] == pytest.approx(answer["value"], rel=1e-5)
    assert answer["value"] == pytest.approx(float(result.output_of("norm")[1, 0, 2]))
    assert "\\gamma" in answer["tex"]
    assert "channels" in answer["equation"]


def test_names_typeset_as_text_have_their_tex_characters_escaped():
    assert _tex_text("3x3") == "3x3"
    assert _tex_text("a_b{c}^~\\#$%&") == ("a\\_b\\{c\\}\\^{}\\~{}\\textbackslash{}\\#\\$\\%\\&")
    assert _tex_text("x\x1b[31m" + "y" * 60) == "x[31m" + "y" * 34  # no control characters


def test_squeeze_excitation_and_mobilenet_blocks_are_typeset_with_their_numbers():
    rng = np.random.default_rng(5)
    model = nn.Sequential(
        {
            "conv": nn.Conv2D(1, 8, 3, stride=2, padding=1, rng=rng),
            "se": nn.SqueezeExcitation(8, 2, rng=rng),
            "ir": nn.InvertedResidual(8, 8, 1, rng=rng),  # with its shortcut
            "down": nn.InvertedResidual(8, 16, 2, rng=rng),  # without
            "shuffle": nn.ChannelShuffle(2),
            "half": nn.ChannelSlice(4, 12),
            "adapt": nn.AdaptiveAvgPool2D(2),
            "flat": nn.Flatten(),
            "fc": nn.Dense(8 * 2 * 2, 3, rng=rng),
        }
    ).name_modules()
    result = trace(model, rng.standard_normal((10, 10, 1)).astype(np.float32))
    for row, kind in [
        ("se", "scale"),
        ("ir", "residual_add"),
        ("down", "elementwise"),
        ("shuffle", "elementwise"),
        ("half", "elementwise"),
        ("adapt", "average"),
    ]:
        answer = explain_value(result, row, [1, 0, 5])
        assert answer["kind"] == kind
        assert answer["tex"].startswith("A^{[")
        assert answer["tex"].endswith(f"= {_tex_number(answer['value'])}"), answer["tex"]
    scale = explain_value(result, "se", [1, 0, 5])
    assert scale["a_prev"] * scale["s"] == pytest.approx(scale["value"], rel=1e-5)
    assert "\\times" in scale["tex"]
    assert "\t" not in scale["tex"]
