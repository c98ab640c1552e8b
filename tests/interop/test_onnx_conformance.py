"""ONNX's operator conformance tests (the node cases of onnx.backend.test) through the importer.

Each node case is one ONNX node with its inputs and the outputs ONNX expects.
A source build of onnx ships them as folders, ``backend/test/data/node/<case>/``
holding ``model.onnx`` and ``test_data_set_0/input_K.pb, output_K.pb``; a wheel
may leave the folders out but always ships the generators that write them
(``onnx.backend.test.case.node``, seeded, run offline). The cases are read from
the folders when they are installed, else generated in memory: the same data.

Conformance graphs pass the weights as graph inputs (Conv's W, Gemm's B and C,
BatchNormalization's scale, bias, mean and variance, Reshape's shape...), and
convmath takes weights only as constants. So each case runs as a backend that
needs constant weights runs it: every graph input but the first becomes an
initializer holding that input's test data, and the first is the one input of
the imported model, an (N, C, H, W) one given channels-last, an (N, n) one as it
is. The output is compared with ONNX's expected output_0.

Only float32 cases apply (no casting). Not applicable either: cases of several
data inputs (Add, Sum and Concat of two variable tensors; a convmath model has
one input) and cases whose output is a Softmax (the importer drops a final
Softmax: convmath models give logits). The other cases are refused with an
InteropError (1-D, 3-D or 5-D data, attributes convmath does not compute).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import numpy_helper  # noqa: E402

import convmath  # noqa: E402
from convmath.errors import InteropError  # noqa: E402
from convmath.interop.onnx import from_onnx  # noqa: E402

# The operators the importer supports, and the generator module of each (onnx's file names).
OPERATORS = {
    "Conv": "conv",
    "Relu": "relu",
    "LeakyRelu": "leakyrelu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "MaxPool": "maxpool",
    "AveragePool": "averagepool",
    "GlobalAveragePool": "globalaveragepool",
    "BatchNormalization": "batch_normalization",
    "Gemm": "gemm",
    "MatMul": "matmul",
    "Add": "add",
    "Sum": "sum",
    "Concat": "concat",
    "Flatten": "flatten",
    "Reshape": "reshape",
    "Transpose": "transpose",
    "Pad": "pad",
    "Slice": "slice",
    "Dropout": "dropout",
    "Identity": "identity",
    "Softmax": "softmax",
    "Clip": "clip",
    "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish",
    "Mul": "mul",
    "ReduceMean": "reducemean",
}

# The cases convmath computes as ONNX does, within rtol 1e-4 and atol 1e-5.
PASSING = [
    # Conv
    "test_basic_conv_with_padding",
    "test_basic_conv_without_padding",
    "test_conv_with_strides_padding",
    "test_conv_with_strides_no_padding",
    "test_conv_with_strides_and_asymmetric_padding",
    "test_conv_with_autopad_same",
    # MaxPool
    "test_maxpool_2d_default",
    "test_maxpool_2d_precomputed_pads",
    "test_maxpool_2d_precomputed_strides",
    "test_maxpool_2d_strides",
    "test_maxpool_2d_ceil",
    "test_maxpool_2d_ceil_output_size_reduce_by_one",
    # AveragePool
    "test_averagepool_2d_default",
    "test_averagepool_2d_precomputed_pads",
    "test_averagepool_2d_precomputed_pads_count_include_pad",
    "test_averagepool_2d_precomputed_strides",
    "test_averagepool_2d_strides",
    # GlobalAveragePool
    "test_globalaveragepool",
    "test_globalaveragepool_precomputed",
    # BatchNormalization
    "test_batchnorm_example",
    "test_batchnorm_epsilon",
    # Gemm
    "test_gemm_default_no_bias",
    "test_gemm_default_zero_bias",
    "test_gemm_default_scalar_bias",
    "test_gemm_default_single_elem_vector_bias",
    "test_gemm_default_vector_bias",
    "test_gemm_transposeB",
    "test_gemm_alpha",
    "test_gemm_beta",
    # MatMul
    "test_matmul_2d",
    # Flatten
    "test_flatten_axis1",
    "test_flatten_default_axis",
    "test_flatten_negative_axis3",
]

# Cases the importer accepts but whose model then raises something other than an InteropError
# (none now: a pool padded over half its window is refused at import, naming the node).
CRASHING: set[str] = set()

RTOL, ATOL = 1e-4, 1e-5
DATA = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"


@dataclass(frozen=True)
class Case:
    model: object  # onnx.ModelProto
    inputs: tuple  # arrays, or None for a value that is not a tensor (a sequence, an optional)
    outputs: tuple


def _array(value: object) -> np.ndarray | None:
    if isinstance(value, np.ndarray | np.generic):  # a generator may give a NumPy scalar
        return np.asarray(value)
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return None


def _read_folder(folder: Path) -> Case:
    model = onnx.load(str(folder / "model.onnx"))
    data = folder / "test_data_set_0"

    def read(kind: str, values: list) -> tuple:
        arrays = []
        for k, value in enumerate(values):
            if not value.type.HasField("tensor_type"):
                arrays.append(None)
                continue
            tensor = onnx.TensorProto()
            tensor.ParseFromString((data / f"{kind}_{k}.pb").read_bytes())
            arrays.append(numpy_helper.to_array(tensor))
        return tuple(arrays)

    return Case(model, read("input", model.graph.input), read("output", model.graph.output))


def _generated() -> dict[str, Case]:
    """The node cases of OPERATORS, made by onnx's generators (seeded, offline)."""
    import onnx.backend.test.case.node as node_cases

    state = np.random.get_state()  # noqa: NPY002 (the generators seed NumPy's global state)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the generators' own deprecations and overflows
            for module in OPERATORS.values():
                importlib.import_module(f"{node_cases.__name__}.{module}")
    finally:
        np.random.set_state(state)  # noqa: NPY002
    cases = {}
    for case in node_cases._NodeTestCases:
        inputs, outputs = case.data_sets[0]
        cases[case.name] = Case(case.model, tuple(map(_array, inputs)), tuple(map(_array, outputs)))
    return cases


@cache
def _cases() -> dict[str, Case]:
    """Every node case whose graph is one node of an operator in OPERATORS, by name."""
    if DATA.is_dir():
        found = {folder.name: _read_folder(folder) for folder in sorted(DATA.iterdir())}
    else:
        found = _generated()
    return {
        name: case
        for name, case in found.items()
        if len(case.model.graph.node) == 1 and case.model.graph.node[0].op_type in OPERATORS
    }


def _constant_weights(case: Case) -> object:
    """The case's model with every graph input but the first made an initializer of its data."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    for value, array in zip(list(graph.input)[1:], case.inputs[1:], strict=True):
        assert array is not None, f"{value.name} is not a tensor"
        graph.initializer.append(numpy_helper.from_array(array, value.name))
        graph.input.remove(value)
    return model


def _run(case: Case, name: str) -> np.ndarray:
    imported = from_onnx(_constant_weights(case), name)
    x = case.inputs[0]
    model = imported.model
    model.eval()
    with convmath.no_grad():
        y = model(convmath.Tensor(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)).data
    return y.transpose(0, 3, 1, 2) if x.ndim == 4 and y.ndim == 4 else y


@pytest.mark.parametrize("name", PASSING)
def test_a_conformance_case_computes_what_onnx_expects(name: str) -> None:
    case = _cases()[name]
    assert case.inputs[0].dtype == np.float32
    assert case.outputs[0].dtype == np.float32
    np.testing.assert_allclose(_run(case, name), case.outputs[0], rtol=RTOL, atol=ATOL)


def test_every_listed_case_is_in_the_installed_onnx() -> None:
    missing = sorted((set(PASSING) | CRASHING) - set(_cases()))
    assert not missing, f"not node cases of onnx {onnx.__version__}: {missing}"
    assert len(set(PASSING)) == len(PASSING)
    assert not set(PASSING) & CRASHING


def test_every_other_case_is_refused_with_an_interop_error_or_runs() -> None:
    """No case makes the importer, or the model it gives, raise anything but InteropError."""
    crashes = {}
    for name, case in _cases().items():
        if name in PASSING or any(a is None for a in case.inputs[1:]):
            continue
        try:
            _run(case, name)
        except InteropError:
            pass
        except Exception as error:  # a bug: what the importer refuses, it refuses so
            crashes[name] = f"{type(error).__name__}: {error}"
    assert set(crashes) == CRASHING, crashes
