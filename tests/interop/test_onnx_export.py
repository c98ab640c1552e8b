"""ONNX export, checked by onnx's own checker and by onnxruntime against convmath's forward."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx_cases import GEOMETRIES, NAMED, forward, geometry, named_model  # noqa: E402

from convmath.errors import InteropError, ShapeError  # noqa: E402
from convmath.interop.onnx import export, to_onnx  # noqa: E402
from convmath.nn import Module, Sequential  # noqa: E402

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def session(proto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(proto, x: np.ndarray) -> np.ndarray:
    return session(proto).run(None, {"input": x})[0]


def nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("key", list(NAMED))
@pytest.mark.parametrize("nchw_input", [False, True], ids=["nhwc", "nchw"])
def test_every_named_model_runs_in_onnxruntime_as_in_convmath(key: str, nchw_input: bool) -> None:
    model, shape = named_model(key)
    proto = to_onnx(model, shape, nchw_input=nchw_input)
    onnx.checker.check_model(proto, full_check=True)
    runner = session(proto)
    for batch in (1, 5):  # the batch dimension is dynamic
        x = np.random.default_rng(batch).normal(size=(batch, *shape)).astype(np.float32)
        got = runner.run(None, {"input": nchw(x) if nchw_input else x})[0]
        np.testing.assert_allclose(got, forward(model, x), **TOLERANCE)


@pytest.mark.parametrize("key", GEOMETRIES)
def test_every_layer_geometry_runs_in_onnxruntime_as_in_convmath(key: str) -> None:
    model, shape = geometry(key)
    proto = to_onnx(model, shape)
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(3).normal(size=(3, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(proto, x), forward(model, x), **TOLERANCE)


def test_opset_17_gets_the_oldest_ir_version_it_allows_and_no_auto_pad() -> None:
    model, shape = named_model("googlenet_small")
    proto = to_onnx(model, shape)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    assert (
        proto.ir_version == 8
    )  # onnx's helper would stamp its newest, which older runtimes refuse
    attributes = {(n.op_type, a.name) for n in proto.graph.node for a in n.attribute}
    assert not any(name == "auto_pad" for _, name in attributes)
    model, shape = geometry("avg pool pad, not counted")
    pools = [n for n in to_onnx(model, shape).graph.node if n.op_type == "AveragePool"]
    assert [a.i for a in pools[0].attribute if a.name == "count_include_pad"] == [0]


@pytest.mark.parametrize("opset", [13, 21])
def test_other_opsets_export_and_run(opset: int) -> None:
    model, shape = named_model("resnet")
    proto = to_onnx(model, shape, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(proto, x), forward(model, x), **TOLERANCE)


def test_the_dense_after_a_flatten_reads_onnx_flatten_order() -> None:
    """A plain transpose of the first Dense weights would be wrong: this test sees it."""
    model, shape = named_model("lenet5")
    proto = to_onnx(model, shape)
    x = np.random.default_rng(1).normal(size=(4, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(proto, x), forward(model, x), **TOLERANCE)
    naive = onnx.ModelProto()
    naive.CopyFrom(proto)
    for tensor in naive.graph.initializer:
        if tensor.name == "fc1.W":
            tensor.CopyFrom(onnx.numpy_helper.from_array(model["fc1"].W.data.T.copy(), "fc1.W"))
    assert not np.allclose(run(naive, x), forward(model, x), atol=1e-3)


def test_a_model_that_does_not_fit_its_input_is_refused_naming_the_layer() -> None:
    model, _ = named_model("lenet5")
    with pytest.raises(ShapeError, match=r"Dense 'fc1' expected n_in=400 but the input has 16"):
        to_onnx(model, (12, 12, 1))


def test_a_layer_onnx_cannot_express_is_refused_by_name() -> None:
    class Mine(Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(InteropError, match=r"cannot export Mine '0' \(Mine\): ONNX export knows"):
        to_onnx(Sequential(Mine()), (4, 4, 1))


def test_an_opset_out_of_range_is_refused() -> None:
    model, shape = named_model("digits_cnn")
    with pytest.raises(InteropError, match="between 13 and 21; got 9"):
        to_onnx(model, shape, opset=9)


def test_export_writes_the_file_atomically_with_its_metadata(tmp_path) -> None:
    model, shape = named_model("digits_cnn")
    path = export(model, shape, tmp_path / "m.onnx", metadata={"dataset": "digits"})
    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props} == {
        "convmath.config": '{"dataset": "digits"}'
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary left
