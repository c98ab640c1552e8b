"""The layers of today's CNNs (MobileNet, ShuffleNet, EfficientNet, ConvNeXt) as convmath.nn
layers: each is saved and rebuilt by its arguments, and shown by summary, explain and the maps."""

import json
import re

import numpy as np

import convmath as cm
from convmath import nn
from convmath.cli import main
from convmath.inspect import explain, layer_activations
from convmath.inspect.arithmetic import explain_value, explainable
from convmath.inspect.summary import summary_table
from convmath.inspect.trace import trace
from convmath.nn.architecture import describe, rebuild
from convmath.serve.served import ServedModel

INPUT = (8, 8, 3)


def modern_cnn(seed=0):
    """A small CNN holding every layer of this family once."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        {
            "conv1": nn.Conv2D(3, 8, 3, padding=1, rng=rng),
            "relu6": nn.ReLU6(),
            "ir": nn.InvertedResidual(8, 8, expanded=16, se_squeeze=8, rng=rng),
            "se": nn.SqueezeExcitation(8, 4, "silu", "sigmoid", rng=rng),
            "conv2": nn.Conv2D(8, 8, 3, padding=1, groups=8, rng=rng),  # depthwise
            "hswish": nn.HardSwish(),
            "shuffle": nn.ChannelShuffle(2),
            "conv3": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "silu": nn.SiLU(),
            "conv4": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "ln": nn.LayerNorm(8, eps=1e-6),
            "gelu": nn.GELU(),
            "layer_scale": nn.LayerScale(8, init=0.5),
            "conv5": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "hsigmoid": nn.HardSigmoid(0.2, 0.5),
            "conv6": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "clip": nn.Clip(-1.0, 1.0),
            "adaptive": nn.AdaptiveAvgPool2D((3, 3)),
            "slice": nn.ChannelSlice(2, 6),
            "mean": nn.SpatialMean(),
            "flatten": nn.Flatten(),
            "fc": nn.Dense(4, 10, rng=rng),
        }
    ).name_modules()


KINDS = ["ReLU6", "HardSwish", "SiLU", "GELU", "HardSigmoid", "Clip"]  # (8, 8, 8) -> (8, 8, 8)
RESHAPING = {
    "AdaptiveAvgPool2D": (3, 3, 8),
    "ChannelSlice": (3, 3, 4),
    "SpatialMean": (1, 1, 4),
    "ChannelShuffle": (8, 8, 8),
    "LayerNorm": (8, 8, 8),
    "LayerScale": (8, 8, 8),
}


def _x(n=2):
    return cm.Tensor(np.random.default_rng(1).standard_normal((n, *INPUT)).astype(np.float32))


def test_the_architecture_rebuilds_with_the_same_numbers():
    model = modern_cnn()
    tree = json.loads(json.dumps(describe(model)))
    again = rebuild(tree).name_modules()
    again.load_state_dict(model.state_dict())
    model.eval(), again.eval()
    np.testing.assert_array_equal(again(_x()).data, model(_x()).data)
    assert again["hsigmoid"].alpha == 0.2
    assert again["clip"].hi == 1.0


def test_save_and_load_keep_every_layer(tmp_path):
    model = modern_cnn()
    path = cm.save(model, tmp_path / "modern.safetensors", input_shape=INPUT)
    loaded, _, _ = cm.load(path)
    assert [type(m).__name__ for m in loaded] == [type(m).__name__ for m in model]
    model.eval()
    np.testing.assert_array_equal(loaded(_x()).data, model(_x()).data)


def produces(row: str, shape: tuple, text: str) -> bool:
    """Whether ``text`` has ``row``'s line: its output, named (Z^[3]...), of ``shape``."""
    line = rf"{re.escape(row)} -> [ZA]~?\^\[\d+\] {re.escape(str(shape))}"
    return re.search(line, text) is not None


def test_summary_and_explain_show_them(tmp_path, capsys):
    model = modern_cnn()
    table = summary_table(model, INPUT)
    text = explain(model, INPUT).text()
    backward = explain(model, INPUT).text(backward=True)
    for kind in KINDS:
        assert f" {kind} " in table, kind
        assert produces(f"({kind})", (8, 8, 8), text), kind
        assert produces(f"({kind})", (8, 8, 8), backward), kind
    for kind, shape in RESHAPING.items():
        assert produces(f"({kind})", shape, text), kind
        assert produces(f"({kind})", shape, backward), kind
    assert "groups = 8" in text  # the depthwise convolution says so
    assert "groups = 16" in text  # the inverted residual's depthwise convolution
    assert "ir (InvertedResidual)\n    inverted residual (8 -> 16 -> 8, 3x3 depthwise" in text
    assert produces("ir.main.se.scale (Multiply)", (8, 8, 16), text)
    assert produces("ir.add (Add)", (8, 8, 8), text)
    assert produces("se.scale (Multiply)", (8, 8, 8), text)
    assert "ds (1, 1, 8) = sum over the 8*8 positions of dA * A_prev" in backward
    # The article's names, each with the layer's number l.
    # GELU follows a LayerNorm, which gives Z~ (as batch norm does): psi acts on Z~.
    assert re.search(
        r"A\^\[(\d+)\] = psi\(Z~\^\[\1\]\) = Z~\^\[\1\] Phi\(Z~\^\[\1\]\), Phi\(Z~\^\[\1\]\) ="
        r" \(1 \+ erf\(Z~\^\[\1\]/sqrt\(2\)\)\)/2",
        text,
    )
    dz = r"dZ~\^\[(\d+)\] = dA\^\[\1\] \* \(Phi\(Z~\^\[\1\]\) \+ Z~\^\[\1\] phi"
    assert re.search(dz, backward)
    path = cm.save(model, tmp_path / "modern.safetensors", input_shape=INPUT)
    for command in (["summary", str(path)], ["explain", str(path), "--backward"]):
        assert main(command) == 0
        out = capsys.readouterr().out
        assert all(kind in out for kind in [*KINDS, *RESHAPING]), command
        assert "SqueezeExcitation" in out or "Multiply" in out, command


def test_the_feature_maps_are_taken_after_each_activation():
    model = modern_cnn()
    maps = dict(layer_activations(model, _x(1).data[0]))
    assert list(maps) == ["conv1", "ir", "se", *(f"conv{k}" for k in range(2, 7)), "adaptive"]
    with cm.no_grad():
        model.eval()
        a = _x(1)
        for name, layer in model.named_children():
            a = layer(a)
            if name == "hsigmoid":
                np.testing.assert_array_equal(maps["conv5"], a.data[0])  # A = psi(Z), not Z
                break
    assert all(explainable(model[kind.lower()]) for kind in ("relu6", "silu", "gelu", "clip"))


def test_the_page_opens_their_values():
    model = modern_cnn()
    x = _x(1).data[0]
    traced = trace(model, x)
    a_prev = traced.input_of("adaptive")
    answer = explain_value(traced, "adaptive", [1, 2, 5])  # rows [2, 6), columns [5, 8)
    assert answer["rows"] == [2, 3, 4, 5]
    assert answer["cols"] == [5, 6, 7]
    np.testing.assert_allclose(answer["value"], a_prev[2:6, 5:8, 5].mean(), rtol=1e-6)
    shuffled = explain_value(traced, "shuffle", [0, 0, 3])  # channel 3 = 1*2 + 1: group 1, j 1
    assert shuffled["source"] == [0, 0, 5]
    assert shuffled["value"] == traced.input_of("shuffle")[0, 0, 5]
    assert explain_value(traced, "slice", [0, 0, 1])["source"] == [0, 0, 3]
    mean = explain_value(traced, "mean", [0, 0, 2])
    np.testing.assert_allclose(mean["value"], traced.input_of("mean")[:, :, 2].mean(), rtol=1e-6)
    scaled = explain_value(traced, "se.scale", [2, 3, 4])
    s4 = traced.outputs["se.squeeze"].data[0, 0, 0, 4]
    np.testing.assert_allclose(scaled["value"], traced.input_of("se")[2, 3, 4] * s4, rtol=1e-6)
    added = explain_value(traced, "ir.add", [1, 2, 3])
    z, a = traced.outputs["ir.main"].data[0, 1, 2, 3], traced.input_of("ir")[1, 2, 3]
    np.testing.assert_allclose(added["value"], z + a, rtol=1e-6)
    normalised = explain_value(traced, "ln", [3, 2, 1])
    np.testing.assert_allclose(normalised["y"], normalised["value"], rtol=1e-5, atol=1e-6)
    assert "this position's 8 channels" in normalised["equation"]
    gelu = explain_value(traced, "gelu", [1, 1, 1])
    assert gelu["kind"] == "activation"
    named = r"A\^\[\d+\]_\(2,2,2\) = psi\(Z~?\^\[\d+\]_\(2,2,2\)\) = GELU\("
    assert re.match(named, gelu["equation"])


def test_the_served_page_shows_every_row_forward_and_backward(tmp_path):
    model = modern_cnn()
    served = ServedModel.load(cm.save(model, tmp_path / "m.safetensors", input_shape=INPUT))
    rows = served.describe()["layers"]
    kinds = {row["kind"] for row in rows}
    assert {"SqueezeExcitation", "InvertedResidual", "Multiply", *KINDS, *RESHAPING} <= kinds
    opened = {row["name"] for row in rows if row["explainable"]}
    assert {"ir.add", "se.scale", "ir.main.se.scale", "adaptive", "gelu", "ln"} <= opened
    pixels = np.random.default_rng(3).random(INPUT).tolist()
    maps = served.forward({"pixels": pixels})["maps"]
    assert maps["se.scale"].shape == (8, 8, 8)
    assert maps["mean"].shape == (1, 1, 4)
    gradients = served.backward({"image": {"pixels": pixels}, "target": 3})["gradients"]
    assert set(gradients) == set(maps)
    assert np.abs(gradients["ir.main.se.squeeze.gate"]).sum() > 0
