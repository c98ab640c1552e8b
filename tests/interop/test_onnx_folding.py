"""Shape arithmetic folded at import (convmath/interop/onnx/folding.py): each folding node gives
what onnxruntime computes, the batch size travels as a mark into a Reshape, and anything that
would compute with it, or make too much, is refused naming the node."""

from __future__ import annotations

import time

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_cases import forward  # noqa: E402

from convmath.errors import InteropError  # noqa: E402
from convmath.interop.onnx import from_onnx  # noqa: E402
from convmath.interop.onnx.importer import Importer  # noqa: E402
from convmath.interop.onnx.load import TRANSLATORS  # noqa: E402


def _i64(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def _model(nodes, tensors, output: str, output_type=None, opset: int = 17) -> onnx.ModelProto:
    """x (N, 2, 3, 4) -> Relu beside the folding nodes; the graph's output is ``output``."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])
    y = helper.make_tensor_value_info(output, output_type or TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"), *nodes],
        "folding",
        [x],
        [y],
        [numpy_helper.from_array(array, name) for name, array in tensors.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# Each case: its nodes, its constants, and the folded value the checks read ("out").
CASES = {
    "shape-gather-unsqueeze-concat": (
        [
            helper.make_node("Shape", ["c"], ["s"], name="shape"),
            helper.make_node("Gather", ["s", "one"], ["g"], name="gather", axis=0),
            helper.make_node("Unsqueeze", ["g", "zero"], ["u"], name="unsqueeze"),
            helper.make_node("Concat", ["u", "minus"], ["out"], name="concat", axis=0),
        ],
        {
            "c": np.zeros((5, 7), np.float32),
            "one": np.array(1, np.int64),
            "zero": _i64(0),
            "minus": _i64(-1, 3),
        },
    ),
    "constant-of-shape-concat-reshape-slice-transpose-cast": (  # PyTorch's F.pad amounts
        [
            helper.make_node(
                "ConstantOfShape",
                ["n"],
                ["zeros"],
                name="zeros",
                value=numpy_helper.from_array(_i64(0)),
            ),
            helper.make_node("Concat", ["p", "zeros"], ["all"], name="concat", axis=0),
            helper.make_node("Reshape", ["all", "pairs"], ["rs"], name="reshape"),
            helper.make_node("Slice", ["rs", "start", "end", "axis", "step"], ["s"], name="slice"),
            helper.make_node("Transpose", ["s"], ["t"], name="transpose", perm=[1, 0]),
            helper.make_node("Reshape", ["t", "flat"], ["f"], name="flatten"),
            helper.make_node("Cast", ["f"], ["out"], name="cast", to=TensorProto.INT64),
        ],
        {
            "n": _i64(4),
            "p": _i64(0, 0, 3, 5),
            "pairs": _i64(-1, 2),
            "start": _i64(-1),
            "end": _i64(-(2**63)),
            "axis": _i64(0),
            "step": _i64(-1),
            "flat": _i64(-1),
        },
    ),
    "range-expand-where-equal": (
        [
            helper.make_node("Range", ["zero", "six", "two"], ["rg"], name="range"),
            helper.make_node("Expand", ["rg", "shape"], ["e"], name="expand"),
            helper.make_node("Equal", ["e", "two"], ["is2"], name="equal"),
            helper.make_node("Where", ["is2", "e", "minus"], ["out"], name="where"),
        ],
        {
            "zero": np.array(0, np.int64),
            "six": np.array(6, np.int64),
            "two": np.array(2, np.int64),
            "shape": _i64(2, 3),
            "minus": np.array(-1, np.int64),
        },
    ),
    "integer-arithmetic-truncates-toward-zero": (
        [
            helper.make_node("Div", ["a", "b"], ["d"], name="div"),
            helper.make_node("Mul", ["d", "b"], ["m"], name="mul"),
            helper.make_node("Sub", ["a", "m"], ["s"], name="sub"),
            helper.make_node("Add", ["s", "d"], ["out"], name="add"),
        ],
        {"a": _i64(7, -7, 7, -7, 0), "b": _i64(2, 2, -2, -2, 3)},
    ),
    "squeeze-unsqueeze-identity-float": (
        [
            helper.make_node("Unsqueeze", ["w", "axes"], ["u"], name="unsqueeze"),
            helper.make_node("Squeeze", ["u", "axes"], ["s"], name="squeeze"),
            helper.make_node("Identity", ["s"], ["i"], name="identity"),
            helper.make_node("Div", ["i", "w"], ["out"], name="div"),
        ],
        {"w": np.array([[1.5, -2.0], [4.0, 8.0]], np.float32), "axes": _i64(0, 3)},
    ),
}


def _folded(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    importer = Importer(proto, "folding", TRANSLATORS)
    importer.run()
    return importer.constants


@pytest.mark.parametrize("key", list(CASES))
def test_each_folding_node_gives_what_onnxruntime_computes(key: str) -> None:
    nodes, tensors = CASES[key]
    reference = _model(nodes, tensors, "out", TensorProto.INT64)
    dtype = {"squeeze-unsqueeze-identity-float": TensorProto.FLOAT}.get(key, TensorProto.INT64)
    reference.graph.output[0].type.tensor_type.elem_type = dtype
    session = ort.InferenceSession(
        reference.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    want = session.run(["out"], {"x": np.zeros((1, 2, 3, 4), np.float32)})[0]
    # The same nodes beside a graph whose output is the Relu: the importer folds them.
    got = _folded(_model(nodes, tensors, "r"))["out"]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def _flatten_by_shape(opset: int = 17) -> onnx.ModelProto:
    """x.view(x.size(0), -1) as PyTorch's exporter writes it."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten"),
    ]
    tensors = {"zero": np.array(0, np.int64), "axes": _i64(0), "minus": _i64(-1)}
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 24])
    inits = [numpy_helper.from_array(a, n) for n, a in tensors.items()]
    graph = helper.make_graph(nodes, "flatten", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("batch", [1, 5])
def test_the_batch_size_from_shape_becomes_a_flatten_for_any_batch(batch: int) -> None:
    proto = _flatten_by_shape()
    x = np.random.default_rng(batch).normal(size=(batch, 2, 3, 4)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    model = from_onnx(proto).model.eval()
    np.testing.assert_array_equal(forward(model, x.transpose(0, 2, 3, 1).copy()), want)


def test_a_channel_shuffle_reshape_transpose_reshape_gives_onnxruntimes_order() -> None:
    nodes = [
        helper.make_node("Reshape", ["x", "split"], ["a"], name="split"),
        helper.make_node("Transpose", ["a"], ["b"], name="swap", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["b", "join"], ["y"], name="join"),
    ]
    tensors = {"split": _i64(0, 2, 3, 5, 5), "join": _i64(-1, 6, 5, 5)}
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(a, n) for n, a in tensors.items()]
    graph = helper.make_graph(nodes, "shuffle", [x], [y], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = np.random.default_rng(0).normal(size=(3, 6, 5, 5)).astype(np.float32)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": data})[0]
    got = forward(from_onnx(proto).model.eval(), data.transpose(0, 2, 3, 1).copy())
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), want)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (helper.make_node("ConstantOfShape", ["n1"], ["z"], name="z"),
         r"node 'z' \(ConstantOfShape\) computes a shape from the batch size"),
        (helper.make_node("Expand", ["minus", "n1"], ["z"], name="z"),
         r"node 'z' \(Expand\) computes a shape from the batch size"),
        (helper.make_node("Add", ["n1", "minus"], ["z"], name="z"),
         r"node 'z' \(Add\) computes a number from the batch size, which convmath leaves free"),
        (helper.make_node("Slice", ["x", "zero1", "n1"], ["z"], name="z"),
         r"node 'z' \(Slice\) reads the batch size in its input 2 \('n1'\)"),
    ],
)  # fmt: skip
def test_computing_with_the_batch_size_is_refused_naming_the_node(node, message: str) -> None:
    proto = _flatten_by_shape()
    proto.graph.node.insert(3, node)
    proto.graph.initializer.append(numpy_helper.from_array(_i64(0), "zero1"))
    with pytest.raises(InteropError, match=message):
        from_onnx(proto)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([helper.make_node("Mul", ["x", "nf"], ["z"], name="times_batch")],
         r"node 'times_batch' \(Mul\) reads the batch size in its input 1 \('nf'\)"),
        ([helper.make_node("MatMul", ["y", "w"], ["m"], name="fc"),
          helper.make_node("Add", ["m", "nf"], ["z"], name="plus_batch")],
         r"node 'plus_batch' \(Add\) reads the batch size in its input 1 \('nf'\)"),
    ],
)  # fmt: skip
def test_a_weight_made_from_the_batch_size_is_refused_not_taken_as_one(nodes, message) -> None:
    """x * N (a scale) or MatMul + N (a bias) folded at N = 1 would give wrong numbers for
    any other batch: refused, as every computation with the batch size is."""
    proto = _flatten_by_shape()
    cast = helper.make_node("Cast", ["n1"], ["nf"], name="cast", to=TensorProto.FLOAT)
    proto.graph.node.extend([cast, *nodes])
    proto.graph.initializer.append(numpy_helper.from_array(np.ones((24, 3), np.float32), "w"))
    with pytest.raises(InteropError, match=message):
        from_onnx(proto)


def test_a_folding_node_that_reads_a_value_is_refused_saying_it_folds_constants() -> None:
    proto = _model([helper.make_node("Range", ["r", "r", "r"], ["q"], name="range")], {}, "r")
    with pytest.raises(
        InteropError, match=r"node 'range' \(Range\) computes from a value that is not a constant"
    ):
        from_onnx(proto)


@pytest.mark.parametrize(
    ("node", "tensors", "message"),
    [
        (helper.make_node("Div", ["a", "b"], ["z"], name="z"), {"a": _i64(1), "b": _i64(0)},
         r"node 'z' \(Div\) divides an integer by 0"),
        (helper.make_node("Gather", ["a", "b"], ["z"], name="z", axis=0),
         {"a": _i64(1, 2), "b": _i64(5)}, r"node 'z' \(Gather\) gathers indices \[5\]"),
        (helper.make_node("Cast", ["f"], ["z"], name="z", to=TensorProto.INT64),
         {"f": np.array([1e30], np.float32)}, r"node 'z' \(Cast\) casts NaN, infinite or huge"),
        (helper.make_node("Cast", ["a"], ["z"], name="z", to=TensorProto.INT32),
         {"a": _i64(3 * 10**9)},
         r"node 'z' \(Cast\) casts integers from 3000000000 to 3000000000, beyond int32"),
        (helper.make_node("Sub", ["a", "b"], ["z"], name="z"),
         {"a": np.array([-(2**31)], np.int32), "b": np.array([1], np.int32)},
         r"node 'z' \(Sub\) computes integers from -2147483649 to -2147483649, beyond int32"),
        (helper.make_node("Mul", ["a", "a"], ["z"], name="z"),
         {"a": np.array([70000], np.int32)},
         r"node 'z' \(Mul\) computes integers from 4900000000 to 4900000000, beyond int32"),

        (helper.make_node("Div", ["f", "g"], ["z"], name="z"),
         {"f": np.ones(1, np.float32), "g": np.zeros(1, np.float32)},
         r"node 'z' \(Div\) computes NaN or infinite values"),
        (helper.make_node("Expand", ["a", "b"], ["z"], name="z"),
         {"a": _i64(1), "b": _i64(4096, 4096)},
         r"node 'z' \(Expand\) would make a constant of 16,777,216 values"),
        (helper.make_node("Reshape", ["a", "b"], ["z"], name="z"),
         {"a": _i64(1, 2, 3), "b": _i64(-1, -1)}, r"node 'z' \(Reshape\) reshapes to \[-1, -1\]"),
        (helper.make_node("Unsqueeze", ["a", "b"], ["z"], name="z"),
         {"a": _i64(1), "b": _i64(*range(9))}, r"node 'z' \(Unsqueeze\) gives rank 10"),
    ],
)  # fmt: skip
def test_a_malformed_folding_node_is_refused_naming_it(node, tensors, message: str) -> None:
    with pytest.raises(InteropError, match=rf"^folding: {message}"):
        from_onnx(_model([node], tensors, "r"), "folding")


@pytest.mark.slow
def test_a_chain_of_99990_folding_nodes_imports_in_linear_time() -> None:
    def seconds(count: int) -> float:
        nodes = [helper.make_node("Shape", ["x"], ["s0"], name="shape")]
        nodes += [
            helper.make_node("Add", [f"s{k}", "one"], [f"s{k + 1}"], name=f"add{k}")
            for k in range(count - 2)
        ]
        nodes.append(helper.make_node("Relu", ["x"], ["y"], name="relu"))
        proto = _model([], {"one": _i64(1)}, "y")
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
        proto.graph.node[0].input[0] = "c"
        proto.graph.initializer.append(numpy_helper.from_array(np.zeros((1, 2)), "c"))
        started = time.perf_counter()
        importer = Importer(proto, "chain", TRANSLATORS)
        importer.run()
        assert importer.constants[f"s{count - 2}"].tolist() == [count - 1, count]
        return time.perf_counter() - started

    small, large = seconds(10_000), seconds(99_990)
    assert large < 15 * small + 0.5  # linear: ten times the nodes, about ten times the time
