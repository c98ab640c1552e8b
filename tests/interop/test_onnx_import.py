"""ONNX import: convmath's own exports come back whole, PyTorch's exports compute as in PyTorch."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx_cases import GEOMETRIES, NAMED, forward, geometry, named_model  # noqa: E402

from convmath.errors import InteropError  # noqa: E402
from convmath.interop.onnx import from_onnx, load, to_onnx  # noqa: E402
from convmath.nn import Conv2D, Dense, MaxPool2D  # noqa: E402
from convmath.nn.graph import Graph  # noqa: E402

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("key", list(NAMED))
@pytest.mark.parametrize("nchw_input", [False, True], ids=["nhwc", "nchw"])
def test_a_named_model_exported_and_imported_computes_the_same(key: str, nchw_input: bool) -> None:
    model, shape = named_model(key)
    imported = from_onnx(to_onnx(model, shape, nchw_input=nchw_input))
    assert imported.input_shape == shape
    assert isinstance(imported.model, Graph)
    state, back = model.state_dict(), imported.model.state_dict()
    assert sorted(back) == sorted(state)  # the same names: weights can go straight back
    for name, array in state.items():
        np.testing.assert_array_equal(back[name], array, err_msg=name)
    x = np.random.default_rng(2).normal(size=(3, *shape)).astype(np.float32)
    np.testing.assert_allclose(forward(imported.model.eval(), x), forward(model, x), **TOLERANCE)


@pytest.mark.parametrize("key", GEOMETRIES)
def test_every_layer_geometry_comes_back(key: str) -> None:
    model, shape = geometry(key)
    imported = from_onnx(to_onnx(model, shape)).model.eval()
    x = np.random.default_rng(4).normal(size=(2, *shape)).astype(np.float32)
    np.testing.assert_allclose(forward(imported, x), forward(model, x), **TOLERANCE)


def test_an_imported_model_trains_its_weights_get_gradients() -> None:
    import convmath as cm

    model, shape = named_model("digits_cnn")
    graph = from_onnx(to_onnx(model, shape)).model.train()
    x = cm.Tensor(np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32))
    loss = cm.functional.softmax_cross_entropy(graph(x), np.array([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None and np.abs(p.grad).sum() > 0 for p in graph.parameters())


# ---------------------------------------------------------------- from PyTorch
def _torch_models():
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.proj = None
            if stride != 1 or c_in != c_out:
                self.proj = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (x if self.proj is None else self.proj(x)))

    lenet = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    resnet = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        Block(8, 8, 1), Block(8, 16, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10), nn.Softmax(dim=1),
    )  # fmt: skip
    for module in resnet.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return torch, {"lenet5": (lenet, (1, 28, 28)), "resnet": (resnet, (3, 16, 16))}


def _torch_onnx(torch, model, shape, **options) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model.eval(), (torch.randn(2, *shape),), buffer, input_names=["x"], dynamo=False,
            opset_version=17, dynamic_axes={"x": {0: "N"}}, **options,
        )  # fmt: skip
    return onnx.load_from_string(buffer.getvalue())


@pytest.mark.parametrize("key", ["lenet5", "resnet"])
@pytest.mark.parametrize("folded", [True, False], ids=["bn-folded", "bn-kept"])
def test_a_pytorch_export_imports_and_matches_pytorch(key: str, folded: bool) -> None:
    torch, models = _torch_models()
    model, shape = models[key]
    options = {} if folded else {"training": torch.onnx.TrainingMode.PRESERVE}
    proto = _torch_onnx(torch, model, shape, do_constant_folding=folded, **options)
    imported = from_onnx(proto, "torch.onnx")
    x = torch.randn(5, *shape)
    with torch.no_grad():
        want = model(x).numpy()
    got = forward(imported.model.eval(), x.numpy().transpose(0, 2, 3, 1))
    if key == "resnet":  # its final Softmax is left out: convmath models give logits
        assert imported.notes
        assert "final Softmax" in imported.notes[0]
        got = np.exp(got - got.max(axis=1, keepdims=True))
        got /= got.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, **TOLERANCE)
    kinds = {type(m).__name__ for _, m in imported.model.named_modules()}
    assert {"Conv2D", "Dense"} <= kinds


def test_pytorch_lenet_weights_land_in_convmath_layers_by_their_names() -> None:
    torch, models = _torch_models()
    model, shape = models["lenet5"]
    graph = from_onnx(_torch_onnx(torch, model, shape)).model
    layers = dict(graph.named_children())
    assert isinstance(layers["0"], Conv2D)
    assert isinstance(layers["2"], MaxPool2D)
    np.testing.assert_array_equal(
        layers["0"].W.data, model[0].weight.detach().numpy().transpose(2, 3, 1, 0)
    )
    assert isinstance(layers["11"], Dense)
    assert layers["11"].W.shape == (84, 10)


def test_initializers_listed_as_graph_inputs_are_weights(tmp_path) -> None:
    model, shape = named_model("lenet5")
    proto = to_onnx(model, shape, nchw_input=True)
    for tensor in proto.graph.initializer:  # as exporters before IR 4 wrote them
        proto.graph.input.append(
            onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims)
        )
    onnx.save(proto, tmp_path / "old.onnx")
    graph = load(tmp_path / "old.onnx")
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    np.testing.assert_allclose(forward(graph, x), forward(model, x), **TOLERANCE)


def test_matmul_then_add_is_a_dense_layer_with_its_bias() -> None:
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "fc.W"], ["y"]),
            helper.make_node("Add", ["y", "fc.b"], ["z"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(W, "fc.W"), numpy_helper.from_array(b, "fc.b")],
    )
    imported = from_onnx(helper.make_model(graph))
    ((name, layer),) = imported.model.named_children()
    assert name == "fc"
    assert isinstance(layer, Dense)
    assert layer.b is not None
    x = rng.normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_allclose(forward(imported.model, x), x @ W + b, **TOLERANCE)


def test_an_unsupported_operator_is_refused_naming_the_node_and_what_is_supported() -> None:
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="ok"),
         helper.make_node("Erf", ["r"], ["y"], name="strange")],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4])],
    )  # fmt: skip
    with pytest.raises(InteropError, match=r"node 'strange' \(Erf\) is not supported; convmath"
                       r" imports .*Conv.*Relu"):  # fmt: skip
        from_onnx(helper.make_model(graph), "g.onnx")


def _ceil_pool(side: int, op: str = "MaxPool", pads: int = 0, width: int = 0) -> onnx.ModelProto:
    helper = onnx.helper
    node = helper.make_node(
        op, ["x"], ["y"], name="p", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
        pads=[pads] * 4,
    )  # fmt: skip
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(
                "x", onnx.TensorProto.FLOAT, ["N", 2, side, width or side + 1]
            )
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("side", "pads"), [(6, 0), (7, 0), (8, 1), (9, 1), (4, 1)])
def test_a_max_pool_in_ceil_mode_gives_onnxruntimes_partial_windows(side: int, pads: int) -> None:
    ort = pytest.importorskip("onnxruntime")
    proto = _ceil_pool(side, pads=pads)
    x = -np.random.default_rng(side).uniform(1, 2, size=(2, 2, side, side + 1)).astype(np.float32)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})[0]  # all values negative: a zero pad would show
    got = forward(from_onnx(proto).model.eval(), x.transpose(0, 2, 3, 1).copy())
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), want)


def test_an_average_pool_in_ceil_mode_with_partial_windows_is_refused() -> None:
    with pytest.raises(
        InteropError, match=r"node 'p' \(AveragePool\) has ceil_mode=1, which adds a partial"
        r" window along n_H \(6 values, f=3, s=2, p=0: 3 windows instead of 2\); convmath"
        r" computes it for a max pool only"
    ):  # fmt: skip
        from_onnx(_ceil_pool(6, "AveragePool"))


def test_an_average_pool_in_ceil_mode_with_whole_windows_is_imported() -> None:
    model = from_onnx(_ceil_pool(7, "AveragePool", width=7)).model
    assert model.output_shape((7, 7, 2)) == (3, 3, 2)


def test_an_unsupported_attribute_is_refused_naming_it() -> None:
    helper = onnx.helper
    node = helper.make_node("MaxPool", ["x"], ["y"], "p", kernel_shape=[2, 2], dilations=[2, 1])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 1, 5, 5])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 1, 3, 3])],
    )
    with pytest.raises(InteropError, match=r"node 'p' \(MaxPool\) has dilations=\[2, 1\]; conv"):
        from_onnx(helper.make_model(graph))


def _two_step(second: str, first_name: str = "relu", **attributes) -> onnx.ModelProto:
    helper = onnx.helper
    inputs = ["r", "r"] if second in ("Add", "Concat") else ["r"]
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"], name=first_name),
            helper.make_node(second, inputs, ["y"], name="second", **attributes),
        ],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 3, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph)


def test_a_node_that_reads_one_value_twice_runs() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 2)).astype(np.float32)
    added = forward(from_onnx(_two_step("Add")).model, x)
    np.testing.assert_array_equal(added, 2 * np.maximum(x, 0))
    joined = forward(from_onnx(_two_step("Concat", axis=1)).model, x)
    np.testing.assert_array_equal(joined, np.concatenate([np.maximum(x, 0)] * 2, axis=-1))


def test_a_node_named_input_does_not_overwrite_the_input() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 2)).astype(np.float32)
    graph = from_onnx(_two_step("Add", first_name="input")).model
    np.testing.assert_array_equal(forward(graph, x), 2 * np.maximum(x, 0))


def test_a_gather_along_the_batch_axis_is_refused() -> None:
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Gather", ["x", "i"], ["y"], name="g")],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])],
        [onnx.numpy_helper.from_array(np.array([2, 0, 1], dtype=np.int64), "i")],
    )
    with pytest.raises(InteropError, match=r"node 'g' \(Gather\) gathers along axis 0"):
        from_onnx(helper.make_model(graph))
