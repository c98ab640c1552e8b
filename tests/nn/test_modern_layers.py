"""The layers of today's CNNs (MobileNet, ShuffleNet, EfficientNet, ConvNeXt) as convmath.nn
layers: each is saved and rebuilt by its arguments, and shown by summary, explain and the maps."""

import json

import numpy as np

import convmath as cm
from convmath import nn
from convmath.cli import main
from convmath.inspect import explain, layer_activations
from convmath.inspect.arithmetic import explainable
from convmath.inspect.summary import summary_table
from convmath.nn.architecture import describe, rebuild

INPUT = (8, 8, 3)


def modern_cnn(seed=0):
    """A small CNN holding every layer of this family once."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        {
            "conv1": nn.Conv2D(3, 8, 3, padding=1, rng=rng),
            "relu6": nn.ReLU6(),
            "conv2": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "hswish": nn.HardSwish(),
            "conv3": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "silu": nn.SiLU(),
            "conv4": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "gelu": nn.GELU(),
            "conv5": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "hsigmoid": nn.HardSigmoid(0.2, 0.5),
            "conv6": nn.Conv2D(8, 8, 3, padding=1, rng=rng),
            "clip": nn.Clip(-1.0, 1.0),
            "flatten": nn.Flatten(),
            "fc": nn.Dense(8 * 8 * 8, 10, rng=rng),
        }
    ).name_modules()


KINDS = ["ReLU6", "HardSwish", "SiLU", "GELU", "HardSigmoid", "Clip"]


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


def test_summary_and_explain_show_them(tmp_path, capsys):
    model = modern_cnn()
    table = summary_table(model, INPUT)
    text = explain(model, INPUT).text()
    backward = explain(model, INPUT).text(backward=True)
    for kind in KINDS:
        assert f" {kind} " in table, kind
        assert f"({kind}) -> (8, 8, 8)" in text, kind
        assert f"({kind}) -> (8, 8, 8)" in backward, kind
    assert "A = Z Phi(Z), Phi(Z) = (1 + erf(Z/sqrt(2)))/2" in text
    assert "dZ = dA * (Phi(Z) + Z phi(Z))" in backward
    path = cm.save(model, tmp_path / "modern.safetensors", input_shape=INPUT)
    for command in (["summary", str(path)], ["explain", str(path), "--backward"]):
        assert main(command) == 0
        out = capsys.readouterr().out
        assert all(kind in out for kind in KINDS), command


def test_the_feature_maps_are_taken_after_each_activation():
    model = modern_cnn()
    maps = dict(layer_activations(model, _x(1).data[0]))
    assert list(maps) == [f"conv{k}" for k in range(1, 7)]
    with cm.no_grad():
        model.eval()
        a = _x(1)
        for name, layer in model.named_children():
            a = layer(a)
            if name == "hsigmoid":
                np.testing.assert_array_equal(maps["conv5"], a.data[0])  # A = psi(Z), not Z
                break
    assert all(explainable(model[kind.lower()]) for kind in ("relu6", "silu", "gelu", "clip"))
