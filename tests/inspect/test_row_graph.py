"""The rows of explain as a graph: which rows each row reads (the page's overview draws it)."""

import itertools

import numpy as np
import pytest

from convmath import models
from convmath.inspect import explain
from convmath.inspect.row_graph import INPUT, row_inputs
from convmath.inspect.trace import trace
from convmath.nn import (
    Conv2D,
    Dense,
    Flatten,
    InvertedResidual,
    ReLU,
    Sequential,
    SqueezeExcitation,
)
from convmath.nn.graph import Add, Graph, Node


def inputs_of(model, shape):
    rows = explain(model, shape).rows
    found = row_inputs(trace(model, np.zeros(shape, np.float32)), rows)
    assert list(found) == [row.name for row in rows if not row.is_heading]
    return found


def test_a_chain_reads_the_row_before():
    model = models.build("lenet5", (28, 28, 1), 10, rng=np.random.default_rng(0))
    found = inputs_of(model, (28, 28, 1))
    names = list(found)
    assert found["conv1"] == [INPUT]
    for before, row in itertools.pairwise(names):
        assert found[row] == [before]


def test_an_inception_module_fans_out_and_its_concat_reads_each_branch_end():
    model = models.build("googlenet_small", (28, 28, 1), 10, rng=np.random.default_rng(0))
    found = inputs_of(model, (28, 28, 1))
    starts = ["inception1.1x1.conv", "inception1.3x3.reduce", "inception1.5x5.reduce"]
    for row in [*starts, "inception1.pool.pool"]:
        assert found[row] == ["stem_relu"]
    assert found["inception1.concat"] == [
        "inception1.1x1.relu",
        "inception1.3x3.relu",
        "inception1.5x5.relu",
        "inception1.pool.proj_relu",
    ]
    assert found["inception2.1x1.conv"] == ["inception1.concat"]


@pytest.mark.parametrize("shortcut", ["pad", "projection"])
def test_a_residual_add_reads_its_main_path_and_its_shortcut(shortcut):
    model = models.build(
        "resnet", (32, 32, 3), 10, rng=np.random.default_rng(0), depth=8, shortcut=shortcut
    )
    found = inputs_of(model, (32, 32, 3))
    # an identity shortcut: the add reads the block's input, the row before the block
    assert found["stage1_0.add"] == ["stage1_0.main.bn2", "stem_relu"]
    assert found["stage2_0.main.conv1"] == ["stage1_0.add"]
    if shortcut == "projection":  # its 1x1 convolution and BN are rows, read by the add
        assert found["stage2_0.projection.conv"] == ["stage1_0.add"]
        assert found["stage2_0.add"] == ["stage2_0.main.bn2", "stage2_0.projection.bn"]
    else:  # option A has no rows: the add reads the block's input
        assert found["stage2_0.add"] == ["stage2_0.main.bn2", "stage1_0.add"]


def test_a_graph_says_what_each_node_reads():
    rng = np.random.default_rng(0)
    graph = Graph(
        [
            Node("conv", Conv2D(1, 2, 3, padding=1, rng=rng), ("x",), "a"),
            Node("relu", ReLU(), ("a",), "b"),
            Node("sum", Add(), ("a", "b"), "c"),
            Node("flat", Flatten(), ("c",), "d"),
            Node("fc", Dense(2 * 4 * 4, 3, rng=rng), ("d",), "y"),
        ],
        "x",
        "y",
    )
    found = inputs_of(graph, (4, 4, 1))
    conv, relu, add, flat, fc = found  # the rows, one per node, in the nodes' order
    assert found == {conv: [INPUT], relu: [conv], add: [conv, relu], flat: [add], fc: [flat]}


def test_squeeze_excitation_and_mobilenet_read_their_input_where_they_join():
    rng = np.random.default_rng(0)
    model = Sequential(
        {
            "conv": Conv2D(1, 8, 3, padding=1, rng=rng),
            "se": SqueezeExcitation(8, 2, rng=rng),
            "ir": InvertedResidual(8, 8, 1, rng=rng, se_squeeze=2),
            "flat": Flatten(),
            "fc": Dense(8 * 6 * 6, 3, rng=rng),
        }
    ).name_modules()
    found = inputs_of(model, (6, 6, 1))
    assert found["se.squeeze.pool"] == ["conv"]
    assert found["se.scale"] == ["se.squeeze.gate", "conv"]  # A_prev times its gates
    assert found["ir.main.expand"] == ["se.scale"]
    assert found["ir.main.se.scale"] == ["ir.main.se.squeeze.gate", "ir.main.act2"]
    assert found["ir.add"] == ["ir.main.bn3", "se.scale"]  # the input added back
    assert found["flat"] == ["ir.add"]
