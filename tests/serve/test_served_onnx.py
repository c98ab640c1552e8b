"""An ONNX file is served as its checkpoint is: the same rows, maps and answers."""

import numpy as np
import pytest

from convmath.cli import main
from convmath.serve.served import ServedModel

pytest.importorskip("onnx")


def test_an_exported_model_serves_the_same_numbers(digits_checkpoint, tmp_path):
    onnx_file = tmp_path / "digits.onnx"
    assert main(["export", str(digits_checkpoint), "--out", str(onnx_file)]) == 0
    original, imported = ServedModel.load(digits_checkpoint), ServedModel.load(onnx_file)
    names = [layer["name"] for layer in original.describe()["layers"]]
    assert [layer["name"] for layer in imported.describe()["layers"]] == names
    for k in (0, 7):
        ours, theirs = original.forward({"sample": k}), imported.forward({"sample": k})
        assert ours["prediction"] == theirs["prediction"]
        np.testing.assert_allclose(theirs["probabilities"], ours["probabilities"], atol=1e-6)
        for name in names:
            np.testing.assert_allclose(theirs["maps"][name], ours["maps"][name], atol=1e-5)
    request = {"image": {"sample": 3}, "layer": "conv2", "position": [2, 2, 5]}
    assert imported.explain(request)["z"] == pytest.approx(original.explain(request)["z"], abs=1e-5)
