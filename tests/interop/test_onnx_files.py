"""Hostile .onnx files: one line, status 2, quickly and in bounded memory; nothing half-loads."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from hostile_corpus import run_measured  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_cases import named_model  # noqa: E402

from convmath.errors import CheckpointError, InteropError  # noqa: E402
from convmath.interop.onnx import load, to_onnx  # noqa: E402

MAX_SECONDS, MAX_BYTES = 2.0, 200 << 20


def _graph(nodes, inputs=None, initializers=(), output_shape=("N", 10)) -> onnx.ModelProto:
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])]
    graph = helper.make_graph(
        nodes,
        "hostile",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))],
        list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _valid() -> bytes:
    model, shape = named_model("digits_cnn")
    return to_onnx(model, shape).SerializeToString()


def _lying_tensor() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.zeros((4, 1, 3, 3), np.float32), "c.W")
    weight.raw_data = weight.raw_data[:-8]
    return _graph([helper.make_node("Conv", ["x", "c.W"], ["y"])], initializers=[weight])


def _huge_tensor() -> onnx.ModelProto:
    weight = TensorProto(name="c.W", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20, 3, 3])
    return _graph([helper.make_node("Conv", ["x", "c.W"], ["y"])], initializers=[weight])


def _external() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.zeros((4, 1, 3, 3), np.float32), "c.W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    return _graph([helper.make_node("Conv", ["x", "c.W"], ["y"])], initializers=[weight])


def _bfloat16() -> onnx.ModelProto:
    weight = helper.make_tensor("c.W", TensorProto.BFLOAT16, [4, 1, 3, 3], [0] * 36)
    return _graph([helper.make_node("Conv", ["x", "c.W"], ["y"])], initializers=[weight])


def _nan_weights() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.full((4, 1, 3, 3), np.nan, np.float32), "c.W")
    return _graph([helper.make_node("Conv", ["x", "c.W"], ["y"])], initializers=[weight])


def _huge_input() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 1 << 30, 1 << 30])
    return _graph([helper.make_node("Relu", ["x"], ["y"])], inputs=[x])


CASES = {
    "not protobuf": (lambda: b"\x00\xffthis is not an onnx model" * 10, "not an ONNX model"),
    "text": (lambda: b"hello\n", "not an ONNX model"),
    "empty": (lambda: b"", "empty, not an ONNX model"),
    "truncated": (lambda: _valid()[: len(_valid()) // 2], "not an ONNX model"),
    "a cycle": (
        lambda: _graph(
            [helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
        ),
        "reads 'b' as its input 0, which is a value no earlier node computes",
    ),
    "a dangling input": (
        lambda: _graph([helper.make_node("Add", ["x", "nowhere"], ["y"])]),
        "reads 'nowhere'",
    ),
    "a missing initializer": (
        lambda: _graph([helper.make_node("Conv", ["x", "c.W"], ["y"], name="conv")]),
        r"node 'conv' \(Conv\) needs its input 1 \('c.W'\) to be a constant",
    ),
    "data that does not fit its shape": (_lying_tensor, "holds 136 bytes for shape"),
    "huge declared dimensions": (_huge_tensor, "over the parameter limit"),
    "external data": (_external, "keeps its data in another file"),
    "bfloat16": (_bfloat16, "is bfloat16; convmath reads float32"),
    "NaN weights": (_nan_weights, "holds NaN or infinite values"),
    "a huge input": (_huge_input, "over 4096 along a side"),
    "two inputs": (
        lambda: _graph(
            [helper.make_node("Add", ["x", "z"], ["y"])],
            inputs=[
                helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 1, 8, 8])
                for name in ("x", "z")
            ],
        ),
        "one input and one output; this one has 2 inputs",
    ),
    "no output computed": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["r"])]),
        "no node computes the graph's output 'y'",
    ),
    "another domain": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"], domain="com.microsoft")]),
        "is from the operator set 'com.microsoft'",
    ),
}


def _write(tmp_path: Path, key: str) -> Path:
    make, _ = CASES[key]
    made = make()
    data = made if isinstance(made, bytes) else made.SerializeToString()
    path = tmp_path / "hostile.onnx"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("key", list(CASES))
def test_a_hostile_file_is_refused_by_the_library(tmp_path, key: str) -> None:
    path = _write(tmp_path, key)
    with pytest.raises(InteropError, match=CASES[key][1]):
        load(path)


@pytest.mark.parametrize("command", ["summary", "explain", "evaluate", "predict", "filters"])
@pytest.mark.parametrize("key", ["not protobuf", "huge declared dimensions", "a cycle"])
def test_a_hostile_file_gives_one_line_and_status_2_fast_in_bounded_memory(
    tmp_path, key: str, command: str
) -> None:
    path = _write(tmp_path, key)
    argv = [command, str(path)] + (["x.png"] if command == "predict" else [])
    status, lines, seconds, peak = run_measured(argv)
    assert status == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"convmath {command}: error: {path}"), lines
    assert seconds < MAX_SECONDS
    assert peak < MAX_BYTES


def test_a_file_larger_than_the_parameter_limit_allows_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.onnx"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)  # sparse: nothing is written
    monkeypatch.setenv("CONVMATH_MAX_PARAMETERS", "1000000")
    with pytest.raises(InteropError, match="more than a model within the parameter limit"):
        load(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    with pytest.raises(InteropError, match="not a regular file"):
        load(fifo)


def test_a_hostile_convmath_config_is_refused_like_a_checkpoint(tmp_path) -> None:
    from convmath.run import load_trained

    model, shape = named_model("digits_cnn")
    proto = to_onnx(model, shape, metadata={"model": {"name": "no such model"}})
    path = tmp_path / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(CheckpointError, match=r"m.onnx: the configuration has no dataset"):
        load_trained(path)


def _relu_chain(count: int) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    names = ["x"] + [f"v{k}" for k in range(count - 1)] + ["y"]
    nodes = [helper.make_node("Relu", [a], [b]) for a, b in itertools.pairwise(names)]
    return _graph(nodes, inputs=[x], output_shape=("N", 4))


def test_a_long_graph_of_unnamed_nodes_imports_in_linear_time() -> None:
    from convmath.interop.onnx import from_onnx

    started = time.perf_counter()
    imported = from_onnx(_relu_chain(20_000))
    assert len(imported.model.nodes) == 20_000
    assert time.perf_counter() - started < 10  # quadratic naming took a minute here


def test_one_weight_shared_by_many_layers_counts_once_per_layer(monkeypatch) -> None:
    from convmath.interop.onnx import from_onnx

    monkeypatch.setenv("CONVMATH_MAX_PARAMETERS", "100000")
    weight = numpy_helper.from_array(np.zeros((100, 100), np.float32), "fc.W")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 100])
    names = ["x"] + [f"v{k}" for k in range(199)] + ["y"]
    nodes = [helper.make_node("Gemm", [a, "fc.W"], [b]) for a, b in itertools.pairwise(names)]
    with pytest.raises(InteropError, match="the layers would hold over 100,000 weights"):
        from_onnx(_graph(nodes, inputs=[x], initializers=[weight], output_shape=("N", 100)))


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3.0, 3.0]),
            "expected integers",
        ),
        (
            helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[1, 1]),
            "malformed",
        ),
        (helper.make_node("Transpose", ["x"], ["y"], name="p", perm=2), "malformed"),
        (helper.make_node("MaxPool", ["x"], [], name="p", kernel_shape=[2, 2]), "has no output"),
        (helper.make_node("Concat", [], ["y"], name="p", axis=1), "malformed"),
        (
            helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], ceil_mode=0.5),
            "has ceil_mode=0.5; expected integers",
        ),
        (
            helper.make_node(
                "BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], name="p", epsilon=-1.0
            ),
            "has epsilon=-1.0",
        ),
    ],
)
def test_a_malformed_node_is_refused_naming_it(node, message: str) -> None:
    from convmath.interop.onnx import from_onnx

    ones = numpy_helper.from_array(np.ones(1, np.float32), "s")
    with pytest.raises(InteropError, match=rf"node 'p' \({node.op_type}\) .*{message}"):
        from_onnx(_graph([node], initializers=[ones]))
