"""PyTorch weights of the layers of today's CNNs: their state_dict names, the round trip,
and (with torch) the torch twin giving convmath's logits."""

from __future__ import annotations

import numpy as np
import pytest
from layer_cases import CASES, case, example
from onnx_cases import forward

from convmath import nn
from convmath.errors import InvalidArgumentError
from convmath.interop.torch import from_torch_state_dict, to_torch_state_dict
from convmath.nn.graph import Graph, Node

TORCH_CASES = CASES


def test_layer_norm_and_layer_scale_are_named_as_torch_names_them() -> None:
    model, shape = case("layer norm")
    assert sorted(to_torch_state_dict(model, shape)) == [
        "0.bias", "0.weight", "1.bias", "1.weight",
    ]  # fmt: skip
    model, shape = case("layer scale")
    state = to_torch_state_dict(model, shape)
    assert np.array_equal(state["1.weight"], model["1"].gamma.data)


def test_the_blocks_keep_their_children_names() -> None:
    model, shape = case("inverted residual, MobileNetV3, SE, stride 2")
    state = to_torch_state_dict(model, shape)
    assert "0.main.expand.weight" in state
    assert "0.main.se.squeeze.fc1.weight" in state
    assert "0.main.se.squeeze.fc2.bias" in state
    assert "0.main.bn3.num_batches_tracked" in state


def test_per_feature_vectors_after_a_flatten_go_to_torch_order() -> None:
    model, shape = case("layer scale after a flatten")  # conv -> (3, 2, 4) -> flatten
    gamma = model["2"].gamma.data
    expected = gamma.reshape(3, 2, 4).transpose(2, 0, 1).ravel()
    assert np.array_equal(to_torch_state_dict(model, shape)["2.weight"], expected)


@pytest.mark.parametrize("key", TORCH_CASES)
def test_the_state_dict_comes_back_unchanged(key: str) -> None:
    model, shape = case(key)
    state = to_torch_state_dict(model, shape)
    fresh, _ = case(key)
    for _, parameter in fresh.named_parameters():
        parameter.data[...] = 0
    from_torch_state_dict(fresh, state, shape)
    x = example(shape)
    np.testing.assert_array_equal(forward(fresh.eval(), x), forward(model, x))


# ---------------------------------------------------------------- with torch
@pytest.mark.parametrize("key", TORCH_CASES)
def test_the_torch_twin_gives_convmaths_logits(key: str) -> None:
    torch = pytest.importorskip("torch")
    from convmath.interop.torch_models import torch_module_for

    model, shape = case(key)
    twin = torch_module_for(model, shape)
    state = {k: torch.from_numpy(v) for k, v in to_torch_state_dict(model, shape).items()}
    twin.load_state_dict(state, strict=True)
    twin.eval()
    x = example(shape)
    with torch.no_grad():
        got = twin(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    if got.ndim == 4:
        got = got.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, forward(model, x), rtol=1e-5, atol=1e-5)


def test_the_torch_twin_uses_torchs_own_layers() -> None:
    torch = pytest.importorskip("torch")
    from convmath.interop.torch_models import torch_module_for

    kinds = set()
    for key in TORCH_CASES:
        model, shape = case(key)
        kinds |= {type(m) for m in torch_module_for(model, shape).modules()}
    tnn = torch.nn
    assert {
        tnn.ReLU6, tnn.Hardsigmoid, tnn.Hardswish, tnn.SiLU, tnn.GELU,
        tnn.AdaptiveAvgPool2d, tnn.ChannelShuffle, tnn.LayerNorm,
    } <= kinds  # fmt: skip


def test_a_graph_node_whose_name_cannot_be_a_torch_path_is_refused_by_name() -> None:
    pytest.importorskip("torch")
    from convmath.interop.torch_models import torch_module_for

    graph = Graph([Node("forward", nn.ReLU(), ("input",), "output")], "input", "output")
    with pytest.raises(InvalidArgumentError, match="graph node 'forward'"):
        torch_module_for(graph, (2, 2, 1))
