"""The architectures people export from PyTorch: torchvision's classifiers, imported into convmath.

Each model is built with random weights (``weights=None``, a seeded torch
generator), exported by ``torch.onnx.export`` (TorchScript at opsets 17 and
18; the dynamo exporter where onnxscript is installed), imported, and its
logits compared with onnxruntime's on random inputs: the largest difference
within 1e-4 of the largest logit. A model convmath cannot compute is refused
by name: the node and the operator it lacks (docs/INTEROP.md lists them).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from onnx_cases import forward  # noqa: E402
from torchvision_models import exported, torchvision_models  # noqa: E402

from convmath.errors import InteropError  # noqa: E402
from convmath.interop.onnx import from_onnx  # noqa: E402
from convmath.interop.onnx.read import parse_model  # noqa: E402

RELATIVE_ERROR = 1e-4
BIG = 200_000_000  # CONVMATH_MAX_PARAMETERS for the models above the default 20 million


@dataclass(frozen=True)
class Case:
    arch: str
    side: int = 64
    options: dict[str, Any] = field(default_factory=dict)
    parameters: int | None = None  # the limit the import needs, where above the default
    refused: str | None = None  # the refusal's pattern, where convmath lacks an operator


GOOGLENET = {"aux_logits": False, "init_weights": True}
ZOO = {
    "resnet18": Case("resnet18"),
    "resnet50": Case("resnet50", parameters=BIG),
    "mobilenet_v2": Case("mobilenet_v2"),
    "mobilenet_v3_small": Case("mobilenet_v3_small"),
    "squeezenet1_1": Case("squeezenet1_1"),
    "googlenet": Case("googlenet", options=GOOGLENET),  # max pools in ceil mode
    "efficientnet_b0": Case("efficientnet_b0"),
    # Their adaptive average pools export only where the features divide 7x7 and 6x6: 224.
    "vgg11_bn": Case("vgg11_bn", 224, parameters=BIG),
    "alexnet": Case("alexnet", 224, parameters=BIG),
    "resnet18@224": Case("resnet18", 224),
    "shufflenet_v2_x0_5": Case("shufflenet_v2_x0_5"),  # channel shuffle, folded shapes
    "squeezenet1_0": Case("squeezenet1_0"),
    "mnasnet0_5": Case("mnasnet0_5"),
    "regnet_y_400mf": Case("regnet_y_400mf"),
    "densenet121": Case("densenet121"),
    "mobilenet_v3_large": Case("mobilenet_v3_large"),
    "resnext50_32x4d": Case("resnext50_32x4d", parameters=BIG),
    "convnext_tiny": Case("convnext_tiny", parameters=BIG),  # LayerNorm, GELU, layer scale
    # A transformer: patches as a sequence, attention over it.
    "vit_b_16": Case(
        "vit_b_16",
        224,
        parameters=BIG,
        refused=r"node '/Equal' \(Equal\) computes a comparison from the batch size",
    ),
}
FAST = {"resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "googlenet",
        "efficientnet_b0", "shufflenet_v2_x0_5"}  # fmt: skip


ONLY_OPSET_17 = {"vgg11_bn", "alexnet", "densenet121", "resnext50_32x4d", "vit_b_16"}


def _params() -> list[Any]:
    params = []
    for key in ZOO:
        for opset in (17,) if key in ONLY_OPSET_17 else (17, 18):
            slow = key not in FAST or (opset == 18 and key != "resnet18")
            marks = [pytest.mark.slow] if slow else []
            params.append(pytest.param(key, opset, marks=marks, id=f"{key}-opset{opset}"))
    return params


def _build(case: Case) -> Any:
    models = torchvision_models()
    torch.manual_seed(20261207)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(models, case.arch)(weights=None, **case.options).eval()


def _export(case: Case, opset: int, dynamo: bool = False) -> bytes:
    model = _build(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        return exported(model, case.side, opset, dynamo=dynamo)


def _check(case: Case, data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.parameters is not None:
        monkeypatch.setenv("CONVMATH_MAX_PARAMETERS", str(case.parameters))
    proto = parse_model(data, case.arch)
    if case.refused is not None:
        with pytest.raises(InteropError, match=rf"^{case.arch}: {case.refused}"):
            from_onnx(proto, case.arch)
        return
    imported = from_onnx(proto, case.arch)
    assert imported.input_shape == (case.side, case.side, 3)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(case.side).normal(size=(3, 3, case.side, case.side))
    x = x.astype(np.float32)
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = forward(imported.model.eval(), x.transpose(0, 2, 3, 1).copy())
    assert got.shape == want.shape == (3, 1000)
    error = np.abs(got - want).max() / np.abs(want).max()
    assert error < RELATIVE_ERROR, (case.arch, error)


@pytest.mark.parametrize(("key", "opset"), _params())
def test_a_torchvision_model_imports_and_agrees_or_is_refused_by_name(
    key: str, opset: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = ZOO[key]
    _check(case, _export(case, opset), monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_a_dynamo_export_imports_and_agrees_or_is_refused_by_name(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("onnxscript") is None:
        pytest.skip("the dynamo exporter needs onnxscript, which is not installed")
    case = ZOO[key]
    _check(case, _export(case, 18, dynamo=True), monkeypatch)


def test_a_model_over_the_parameter_limit_is_refused_saying_how_to_allow_it() -> None:
    data = _export(ZOO["resnet50"], 17)
    with pytest.raises(InteropError, match=r"over the parameter limit of 20,000,000 \(set"
                       r" CONVMATH_MAX_PARAMETERS to allow more\)"):  # fmt: skip
        from_onnx(parse_model(data, "resnet50"), "resnet50")


# ---------------------------------------------------------------- a CIFAR ResNet, option A
class _OptionA(torch.nn.Module):
    """The CIFAR ResNet's basic block whose shortcut subsamples and pads channels with zeros."""

    def __init__(self, n_C_prev: int, n_C: int, stride: int) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(n_C_prev, n_C, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(n_C)
        self.conv2 = nn.Conv2d(n_C, n_C, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(n_C)
        self.extra = n_C - n_C_prev
        self.stride = stride

    def forward(self, x: Any) -> Any:
        F = torch.nn.functional
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride != 1 or self.extra:  # the channels' zeros: shape arithmetic in ONNX
            half = self.extra // 2
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra - half))
        return F.relu(y + x)


class _CifarResNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))
        self.blocks = nn.Sequential(_OptionA(16, 16, 1), _OptionA(16, 32, 2), _OptionA(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x: Any) -> Any:
        x = self.blocks(torch.nn.functional.relu(self.stem(x)))
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))  # Shape, Gather, Unsqueeze, Concat, Reshape


@pytest.mark.parametrize("opset", [17, 18])
def test_a_cifar_resnet_with_option_a_shortcuts_imports_and_agrees(opset: int) -> None:
    torch.manual_seed(3)
    model = _CifarResNet().eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = exported(model, 32, opset)
    proto = parse_model(data, "cifar")
    kinds = {node.op_type for node in proto.graph.node}
    assert {"ConstantOfShape", "Shape", "Gather", "Unsqueeze", "Concat"} <= kinds
    imported = from_onnx(proto, "cifar").model.eval()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = model(x).numpy()
    got = forward(imported, x.numpy().transpose(0, 2, 3, 1).copy())
    assert np.abs(got - want).max() / np.abs(want).max() < RELATIVE_ERROR


# ---------------------------------------------------------------- ConvNeXt's pieces, small
@pytest.mark.parametrize("opset", [17, 18])
def test_convnext_blocks_import_layer_norm_gelu_per_position_linears_and_layer_scale(
    opset: int,
) -> None:
    convnext = torchvision_models().convnext
    nn = torch.nn
    torch.manual_seed(opset)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 2, 2),
        convnext.LayerNorm2d(8),  # Transpose, LayerNormalization, Transpose
        convnext.CNBlock(8, layer_scale=0.5, stochastic_depth_prob=0.0),  # MatMul, GELU, Mul
        convnext.CNBlock(8, layer_scale=2.0, stochastic_depth_prob=0.0),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(8, 5),
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = exported(model, 12, opset)
    kinds = {node.op_type for node in parse_model(data, "blocks").graph.node}
    assert {"LayerNormalization", "MatMul", "Erf", "Div", "Mul"} <= kinds
    imported = from_onnx(parse_model(data, "blocks"), "blocks").model.eval()
    layers = {type(module).__name__ for _, module in imported.named_modules()}
    assert {"LayerNorm", "GELU", "LayerScale", "Conv2D"} <= layers
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x).numpy()
    got = forward(imported, x.numpy().transpose(0, 2, 3, 1).copy())
    assert np.abs(got - want).max() / np.abs(want).max() < RELATIVE_ERROR


def test_a_div_that_is_not_a_gelu_is_refused_naming_it() -> None:
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Div", ["x", "two"], ["y"], name="half")],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two")],
    )
    with pytest.raises(InteropError, match=r"node 'half' \(Div\) divides; convmath reads a Div"
                       r" only as the start of PyTorch's exact GELU"):  # fmt: skip
        from_onnx(helper.make_model(graph))


# ---------------------------------------------------------------- what a model file stores
@pytest.mark.parametrize(
    "key",
    [
        "googlenet",
        pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow),
        pytest.param("mobilenet_v3_small", marks=pytest.mark.slow),
    ],
)
def test_an_imported_zoo_model_is_rebuilt_from_its_description(key: str) -> None:
    """Every layer the import makes records the arguments it computes with (convmath.save)."""
    from convmath.nn.architecture import describe, rebuild

    case = ZOO[key]
    imported = from_onnx(parse_model(_export(case, 17), key), key).model.eval()
    again = rebuild(describe(imported))
    again.load_state_dict(imported.state_dict())
    x = np.random.default_rng(0).normal(size=(2, case.side, case.side, 3)).astype(np.float32)
    np.testing.assert_array_equal(forward(again.eval(), x), forward(imported, x))


def test_convnext_blocks_are_rebuilt_from_their_description() -> None:
    from convmath.nn.architecture import describe, rebuild

    convnext = torchvision_models().convnext
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 2, 2), convnext.CNBlock(8, 0.5, 0.0)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = exported(model, 8, 17)
    imported = from_onnx(parse_model(data, "blocks"), "blocks").model.eval()
    again = rebuild(describe(imported))
    again.load_state_dict(imported.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(forward(again.eval(), x), forward(imported, x))
