"""ONNX export of the layers of today's CNNs (activations, adaptive pools, channel layouts,
layer norm and scale, squeeze-excitation and inverted residual blocks, the Multiply merge):
each run by onnxruntime against convmath's forward at the opsets whose operators differ, and
read back by convmath's own importer."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from layer_cases import CASES, NEW_LAYERS, case, example  # noqa: E402
from onnx_cases import forward  # noqa: E402

from convmath import nn  # noqa: E402
from convmath.errors import InteropError  # noqa: E402
from convmath.interop.onnx import from_onnx, to_onnx  # noqa: E402
from convmath.interop.onnx.export import EMITTERS  # noqa: E402
from convmath.nn.graph import Graph, Multiply, Node  # noqa: E402

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
OPSETS = [13, 17, 21]  # before HardSwish (14) and LayerNormalization (17); with Gelu (20)


def run(proto, x: np.ndarray) -> np.ndarray:
    runner = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return runner.run(None, {"input": x})[0]


def test_every_new_layer_has_a_case() -> None:
    kinds = {type(m) for key in CASES for _, m in case(key)[0].named_modules()}
    kinds |= {type(node.module) for node in case("multiply merge")[0][0].nodes}
    assert NEW_LAYERS - kinds == set()


def test_every_layer_of_convmath_nn_exports() -> None:
    named = [getattr(nn, name) for name in nn.__all__]
    layers = {k for k in named if isinstance(k, type) and issubclass(k, nn.Module)}
    assert layers - set(EMITTERS) == {nn.Module}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("key", CASES)
def test_each_layer_runs_in_onnxruntime_as_in_convmath(key: str, opset: int) -> None:
    model, shape = case(key)
    proto = to_onnx(model, shape, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    x = example(shape)
    np.testing.assert_allclose(run(proto, x), forward(model, x), **TOLERANCE)


# What the exporter writes in a form the importer does not read (every other case comes back).
IMPORTER_REFUSES = {
    "adaptive pool, uneven bins": "the importer's MatMul needs a constant right operand, not P_H A",
    "adaptive pool, more bins than rows": "the importer's MatMul needs a constant right operand",
    "gelu, tanh": "the importer reads GELU's erf formula (PyTorch's), not the tanh form's Adds",
}


@pytest.mark.parametrize("key", [key for key in CASES if key not in IMPORTER_REFUSES])
def test_each_layer_comes_back_through_the_importer(key: str) -> None:
    model, shape = case(key)
    proto = to_onnx(model, shape)
    imported = from_onnx(proto).model.eval()
    x = example(shape)
    np.testing.assert_allclose(forward(imported, x), forward(model, x), **TOLERANCE)


@pytest.mark.parametrize("key", sorted(IMPORTER_REFUSES))
def test_the_forms_the_importer_does_not_read_are_refused_by_name_never_misread(key: str) -> None:
    model, shape = case(key)
    with pytest.raises(InteropError, match=r"node '[^']+' \(\w+\)"):
        from_onnx(to_onnx(model, shape))


def ops(key: str, opset: int = 17) -> list[str]:
    model, shape = case(key)
    return [node.op_type for node in to_onnx(model, shape, opset=opset).graph.node]


@pytest.mark.parametrize(
    ("key", "opset", "present", "absent"),
    [
        ("relu6", 17, {"Clip"}, set()),
        ("hard swish", 17, {"HardSwish"}, set()),
        ("hard swish", 13, {"HardSigmoid", "Mul"}, {"HardSwish"}),
        ("silu", 17, {"Sigmoid", "Mul"}, set()),
        ("gelu", 17, {"Erf", "Div"}, {"Gelu"}),
        ("gelu, tanh", 17, {"Tanh"}, {"Gelu", "Erf"}),
        ("gelu", 21, {"Gelu"}, {"Erf"}),
        ("adaptive pool to 1x1", 17, {"GlobalAveragePool"}, {"MatMul"}),
        ("adaptive pool, uniform bins", 17, {"AveragePool"}, {"MatMul"}),
        ("adaptive pool, overlapping uniform bins", 17, {"AveragePool"}, {"MatMul"}),
        ("adaptive pool, uneven bins", 17, {"MatMul"}, {"AveragePool"}),
        ("spatial mean", 17, {"GlobalAveragePool"}, set()),
        ("channel shuffle", 17, {"Reshape", "Transpose"}, set()),
        ("layer norm", 17, {"LayerNormalization"}, set()),
        ("layer norm", 13, {"ReduceMean", "Sqrt"}, {"LayerNormalization"}),
        ("layer scale", 17, {"Mul"}, set()),
        ("multiply merge", 17, {"Mul"}, set()),
    ],
)
def test_each_layer_becomes_the_operators_documented(key, opset, present, absent) -> None:
    found = set(ops(key, opset))
    assert present <= found
    assert not absent & found


def test_an_adaptive_pool_with_uniform_bins_is_one_average_pool_window() -> None:
    model, shape = case("adaptive pool, overlapping uniform bins")  # 5 -> 2: bins [0, 3), [2, 5)
    (pool,) = [n for n in to_onnx(model, shape).graph.node if n.op_type == "AveragePool"]
    attributes = {a.name: list(a.ints) for a in pool.attribute if a.ints}
    assert attributes["kernel_shape"] == [3, 3]
    assert attributes["strides"] == [2, 2]


def test_the_inverted_residual_adds_its_input_only_at_stride_1_with_kept_channels() -> None:
    assert ops("inverted residual, MobileNetV2, residual").count("Add") == 1
    assert "Add" not in ops("inverted residual, MobileNetV3, SE, stride 2")


def test_a_product_of_values_of_different_ranks_is_refused_by_name() -> None:
    graph = Graph(
        [
            Node("pool", nn.GlobalAvgPool2D(), ("input",), "g"),
            Node("scale", Multiply(), ("input", "g"), "output"),
        ],
        "input",
        "output",
    )
    with pytest.raises(InteropError, match=r"cannot export Multiply 'scale'.*one rank"):
        to_onnx(graph, (3, 3, 2))
