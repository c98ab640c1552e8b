"""Transfer learning: a classifier replaced, the layers before a named one frozen."""

import json

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath import data, models, nn
from convmath.inspect.summary import summary_table
from convmath.nn.architecture import describe, rebuild
from convmath.nn.graph import Add, Graph, Node
from convmath.nn.transfer import find_head, freeze_until, layer_names, replace_head, unfreeze

SHAPE = (8, 8, 1)


def digits_cnn(classes: int = 10) -> nn.Module:
    return models.build("digits_cnn", SHAPE, classes, rng=np.random.default_rng(0))


def a_graph(classes: int = 5) -> Graph:
    """A small imported-style graph: conv, BN, ReLU, a residual sum, pool, flatten, dense."""
    rng = np.random.default_rng(1)
    nodes = [
        Node("conv1", nn.Conv2D(1, 4, 3, padding=1, rng=rng), ("input",), "conv1"),
        Node("bn1", nn.BatchNorm2D(4), ("conv1",), "bn1"),
        Node("relu", nn.ReLU(), ("bn1",), "relu"),
        Node("conv2", nn.Conv2D(4, 4, 3, padding=1, rng=rng), ("relu",), "conv2"),
        Node("sum", Add(), ("relu", "conv2"), "sum"),
        Node("pool", nn.MaxPool2D(2), ("sum",), "pool"),
        Node("flat", nn.Flatten(), ("pool",), "flat"),
        Node("classifier.fc", nn.Dense(64, classes, rng=rng), ("flat",), "logits"),
    ]
    return Graph(nodes, "input", "logits").name_modules()


def test_layer_names_are_the_summarys():
    model = digits_cnn()
    names = layer_names(model, SHAPE)
    table = summary_table(model, SHAPE).splitlines()
    assert names[0] == "conv1"
    assert names[-1] == "fc2"
    for name, line in zip(names, table[3:], strict=False):
        assert line.split()[0] == name


@pytest.mark.parametrize("build", [digits_cnn, a_graph])
def test_replace_head_gives_a_fresh_classifier_and_keeps_every_other_weight(build):
    model = build()
    before = model.state_dict()
    head = find_head(model, SHAPE).module
    tuned, said = replace_head(model, SHAPE, 3, rng=np.random.default_rng(7))
    assert tuned.output_shape(SHAPE) == (3,)
    assert f"{head.label} {head.n_in} -> {head.n_out} replaced by a fresh Dense" in said
    after = tuned.state_dict()
    assert set(after) == set(before)
    for name, array in before.items():
        if name.startswith(head.path + "."):
            assert after[name].shape[-1] == 3
        else:
            np.testing.assert_array_equal(after[name], array, err_msg=name)
    new_head = find_head(tuned, SHAPE).module
    assert new_head is not head
    assert new_head.path == head.path
    np.testing.assert_array_equal(new_head.b.data, 0)  # biases zero, weights Glorot uniform
    limit = np.sqrt(6 / (head.n_in + 3))
    assert np.abs(new_head.W.data).max() <= limit
    assert new_head.W.data.std() > limit / 4
    again, _ = replace_head(build(), SHAPE, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(find_head(again, SHAPE).module.W.data, new_head.W.data)


def test_a_replaced_head_is_recorded_so_the_model_rebuilds():
    tuned, _ = replace_head(a_graph(), SHAPE, 3, rng=np.random.default_rng(0))
    again = rebuild(json.loads(json.dumps(describe(tuned)))).name_modules()
    again.load_state_dict(tuned.state_dict())
    tuned.eval(), again.eval()
    x = cm.Tensor(np.random.default_rng(2).random((2, *SHAPE), dtype=np.float32))
    np.testing.assert_array_equal(again(x).data, tuned(x).data)


def test_a_1x1_convolution_classifier_is_replaced_by_another():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        {
            "features": nn.Conv2D(1, 6, 3, padding=1, rng=rng),
            "relu": nn.ReLU(),
            "classifier": nn.Conv2D(6, 1000, 1, rng=rng),
            "gap": nn.GlobalAvgPool2D(),
        }
    ).name_modules()
    tuned, said = replace_head(model, SHAPE, 10, rng=rng)
    assert said == ("Conv2D 'classifier' 6 -> 1000 replaced by a fresh Conv2D 6 -> 10 (1x1)")
    assert tuned.output_shape(SHAPE) == (10,)
    assert tuned["classifier"].W.shape == (1, 1, 6, 10)


def test_a_model_whose_last_weights_are_no_classifier_is_refused():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Flatten(), nn.Dense(64, 5, rng=rng), nn.BatchNorm2D(5))
    with pytest.raises(cm.InvalidArgumentError, match=r"BatchNorm2D '2'.*not a classifier"):
        replace_head(model.name_modules(), SHAPE, 3, rng=rng)


def test_frozen_layers_get_no_gradient_and_keep_their_running_statistics():
    model = a_graph()
    frozen = freeze_until(model, SHAPE, "conv2")
    assert frozen == 4 * 9 + 4 + 2 * 4  # conv1 (W, b) and bn1 (gamma, beta)
    model.train()
    assert not model.nodes[1].module.training  # the frozen batch norm stays in eval mode
    assert model.nodes[3].module.training
    bn = model.nodes[1].module
    statistics = bn.running_mean.copy(), bn.running_var.copy()
    x = cm.Tensor(np.random.default_rng(3).random((4, *SHAPE), dtype=np.float32))
    F.softmax_cross_entropy(model(x), np.array([0, 1, 2, 3])).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert grads["conv1.W"] is None  # no dW computed at all
    assert grads["bn1.gamma"] is None
    assert grads["conv2.W"] is not None
    assert grads["classifier.fc.W"] is not None
    np.testing.assert_array_equal(bn.running_mean, statistics[0])
    np.testing.assert_array_equal(bn.running_var, statistics[1])


def test_freezing_again_chooses_again_and_unfreeze_undoes_it():
    model = a_graph()
    everything = sum(p.size for p in model.parameters())
    freeze_until(model, SHAPE, "classifier.fc")
    assert freeze_until(model, SHAPE, "conv2") == 4 * 9 + 4 + 2 * 4  # not added to the first
    assert model.nodes[3].module.W.requires_grad  # conv2 trains again
    unfreeze(model.train())
    assert all(p.requires_grad for p in model.parameters())
    assert sum(p.size for p in model.parameters() if p.requires_grad) == everything
    assert all(m.training and not m.frozen for _, m in model.named_modules())


def test_an_unknown_layer_is_told_with_the_closest_name():
    with pytest.raises(cm.InvalidArgumentError, match=r"no layer named 'fc' .*did you mean 'fc\d'"):
        freeze_until(digits_cnn(), SHAPE, "fc")


def test_freezing_every_parameter_is_refused():
    with pytest.raises(cm.InvalidArgumentError, match="freezes every parameter"):
        freeze_until(nn.Sequential(nn.Flatten(), nn.Dense(64, 3, rng=np.random.default_rng(0)),
                                   nn.ReLU()).name_modules(), SHAPE, "2")  # fmt: skip


def test_fit_freezes_the_layers_before_the_one_named_and_leaves_them_bit_identical():
    X, y = data.load_digits()
    X = X[..., None]
    model = digits_cnn()
    before = model.state_dict()
    cm.fit(
        model, (X[:256], y[:256]), epochs=1, freeze_until="fc1", max_value=16, log=lambda _: None
    )
    after = model.state_dict()
    for name in ("conv1.W", "bn1.gamma", "bn1.running_mean", "bn2.running_var", "conv2.W"):
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert not np.array_equal(after["fc1.W"], before["fc1.W"])
    assert not np.array_equal(after["fc2.W"], before["fc2.W"])
