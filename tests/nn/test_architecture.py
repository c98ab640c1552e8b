"""A model as data: modules record their arguments; convmath.nn's layers rebuild from them."""

import json
import re

import numpy as np
import pytest

import convmath as cm
from convmath import models, nn
from convmath.nn.architecture import describe, rebuild


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "resnet", "googlenet_small"])
def test_every_named_model_rebuilds_from_its_description(name):
    shape = {"digits_cnn": (8, 8, 1), "resnet": (32, 32, 3)}.get(name, (28, 28, 1))
    if name == "googlenet_small":
        shape = (32, 32, 3)
    model = models.build(name, shape, 10, rng=np.random.default_rng(0))
    tree = json.loads(json.dumps(describe(model)))  # what a file stores
    again = rebuild(tree).name_modules()
    again.load_state_dict(model.state_dict())
    model.eval(), again.eval()
    x = cm.Tensor(np.random.default_rng(1).random((2, *shape), dtype=np.float32))
    np.testing.assert_array_equal(again(x).data, model(x).data)


def test_a_module_built_from_arrays_has_no_description():
    class Fixed(nn.Module):
        def __init__(self, weights):
            super().__init__()
            self.weights = weights

    assert Fixed(np.zeros(3)).arguments is None
    assert nn.ReLU().arguments is not None  # a class without __init__ of its own records too


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"layer": "Conv2D", "args": [1, 2], "kwargs": {}}, "cannot be built"),
        ({"layer": "Conv2D", "args": {}, "kwargs": {}}, "args must be a list"),
        ({"layer": "ReLU", "args": [{"weird": 1}], "kwargs": {}}, "unknown kind"),
        ({"layer": "ReLU"}, "must be {layer, args, kwargs}"),
    ],
)
def test_a_malformed_description_is_refused_by_name(tree, message):
    with pytest.raises(cm.InvalidArgumentError, match=message):
        rebuild(tree)


def test_numpy_numbers_are_stored_as_plain_numbers():
    shape = (4, 4, 2)
    dense = nn.Dense(np.prod(shape), np.int64(3), rng=np.random.default_rng(0))
    tree = json.loads(json.dumps(describe(nn.Sequential(nn.Flatten(), dense))))
    assert tree["args"][1]["module"]["args"][:2] == [32, 3]
    assert rebuild(tree)["1"].W.shape == (32, 3)


def test_stored_generators_become_one_shared_generator():
    rng = np.random.default_rng(0)
    model = rebuild(describe(nn.Sequential(nn.Dropout(0.5, rng=rng), nn.Dropout(0.5, rng=rng))))
    x = cm.Tensor(np.ones((1, 64), np.float32))
    first, second = (layer(x).data for layer in model)
    assert not np.array_equal(first, second)  # not two generators of the same seed


@pytest.mark.parametrize(
    "tree",
    [
        {"layer": "Graph", "args": [[1], "x", "y"], "kwargs": {}},
        {"layer": "_Pool", "args": [2], "kwargs": {}},
        {"layer": "Module", "args": [], "kwargs": {}},
        {"layer": "Sequential", "args": ["x"], "kwargs": {}},
        {"layer": "Dense", "args": [{"dict": {}}, 3], "kwargs": {"rng": {"rng": None}}},
    ],
)
def test_only_public_layers_are_rebuilt_and_their_complaints_are_one_error(tree):
    with pytest.raises(cm.InvalidArgumentError):
        rebuild(tree)


def test_a_graph_of_merges_and_layout_layers_rebuilds_from_its_description():
    from convmath.nn.graph import Concatenate, Graph, Node
    from convmath.nn.layout import Reorder

    rng = np.random.default_rng(0)
    nodes = [
        Node("a", nn.Conv2D(2, 3, 1, rng=rng), ("input",), "a"),
        Node("b", nn.Conv2D(2, 2, 3, padding=1, rng=rng), ("input",), "b"),
        Node("cat", Concatenate(), ("a", "b"), "cat"),
        Node("flat", nn.Flatten(), ("cat",), "flat"),
        Node("order", Reorder(np.arange(4 * 4 * 5)[::-1]), ("flat",), "order"),  # an array
        Node("fc.out", nn.Dense(80, 3, rng=rng), ("order",), "y"),
    ]
    model = Graph(nodes, "input", "y").name_modules()
    again = rebuild(json.loads(json.dumps(describe(model)))).name_modules()
    assert [name for name, _ in again.named_modules()] == [n for n, _ in model.named_modules()]
    again.load_state_dict(model.state_dict())
    x = cm.Tensor(np.random.default_rng(1).random((2, 4, 4, 2), dtype=np.float32))
    np.testing.assert_array_equal(again(x).data, model(x).data)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"name": 1, "module": {"layer": "ReLU", "args": [], "kwargs": {}}, "inputs": ["x"],
          "output": "y"}, "must be text"),
        ({"name": "n", "module": {"layer": "ReLU", "args": [], "kwargs": {}}, "inputs": "x",
          "output": "y"}, "must be text"),
        ({"name": "n"}, "must be {name, module, inputs, output}"),
        ({"name": "n", "module": {"layer": "ReLU", "args": [], "kwargs": {}}, "inputs": ["z"],
          "output": "y"}, "reads"),
    ],
)  # fmt: skip
def test_a_malformed_graph_node_is_refused_by_name(node, message):
    tree = {"layer": "Graph", "args": [{"tuple": [{"node": node}]}, "x", "y"], "kwargs": {}}
    with pytest.raises(cm.ConvMathError, match=re.escape(message)):
        rebuild(tree)
