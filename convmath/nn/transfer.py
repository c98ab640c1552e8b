"""Transfer learning: a trained model's classifier replaced, and its first layers frozen.

A network trained on one dataset is a good start on another (fine-tuning):
its first layers detect edges and textures that most images share. Two
changes make it fit the new task:

- :func:`replace_head`: the last layer with parameters, the classifier (a
  Dense layer, or a 1x1 convolution followed only by pooling and flattening),
  is replaced by a fresh one with as many outputs as the new dataset has
  classes. Its weights are drawn from ``rng`` (Glorot uniform, as the last
  layer of convmath's own models; biases zero). The model's container is
  rebuilt around it (a new :class:`Sequential` or :class:`Graph` holding the
  same layers), so the model still records the arguments that rebuild it
  (:mod:`convmath.nn.architecture`).
- :func:`freeze_until`: every layer before the one named is frozen: its
  parameters get ``requires_grad=False`` (so back propagation computes no
  dW, db or dgamma for them, nor any dA_prev before the first layer that
  trains) and it stays in eval mode (``Module.frozen``): a frozen batch norm
  normalises with its running statistics and leaves them as they are, the
  choice that keeps a frozen feature extractor computing exactly what it
  computed when it was trained.

The layers are named as ``convmath summary`` shows them (:func:`layer_names`).

>>> import numpy as np
>>> from convmath import nn
>>> rng = np.random.default_rng(0)
>>> cnn = nn.Sequential({"conv": nn.Conv2D(1, 4, 3, rng=rng), "relu": nn.ReLU(),
...                      "flat": nn.Flatten(), "fc": nn.Dense(36, 5, rng=rng)}).name_modules()
>>> layer_names(cnn, (5, 5, 1))
['conv', 'relu', 'flat', 'fc']
>>> tuned, said = replace_head(cnn, (5, 5, 1), 3, rng=rng)
>>> said, tuned.output_shape((5, 5, 1))
("Dense 'fc' 36 -> 5 replaced by a fresh Dense 36 -> 3", (3,))
>>> freeze_until(tuned, (5, 5, 1), "fc")  # the parameters frozen
40
>>> tuned["conv"].W.requires_grad, tuned["fc"].W.requires_grad
(False, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from convmath.errors import InvalidArgumentError, did_you_mean
from convmath.nn.conv import Conv2D
from convmath.nn.graph import Graph, Node
from convmath.nn.linear import Dense
from convmath.nn.module import LayerInfo, Module, Parameter, Sequential, Shape

HEAD_INIT = "glorot_uniform"  # the last layer of convmath's own models: no ReLU follows it


def layer_names(model: Module, input_shape: Shape) -> list[str]:
    """The layers of ``model`` in order, named as ``convmath summary`` shows them."""
    return [row.name for row in model.name_modules().describe(input_shape)]


def find_head(model: Module, input_shape: Shape) -> LayerInfo:
    """The summary row of the classifier: the last layer with parameters.

    It must be a Dense layer or a 1x1 convolution (one group) whose outputs
    are the model's: an InvalidArgumentError says otherwise.
    """
    described = model.name_modules().describe(input_shape)
    rows = [row for row in described if row.parameters and row.module]
    if not rows:
        raise InvalidArgumentError(f"{type(model).__name__} has no layer with parameters")
    head = rows[-1]
    module = head.module
    is_1x1 = isinstance(module, Conv2D) and module.f == (1, 1) and module.groups == 1
    if not isinstance(module, Dense) and not is_1x1:
        raise InvalidArgumentError(
            f"the last layer with parameters, {module.label}, is not a classifier convmath can"
            f" replace (a Dense layer or a 1x1 convolution)"
        )
    outputs = model.output_shape(input_shape)
    if outputs != (_outputs(module),):
        raise InvalidArgumentError(
            f"the model gives {outputs} per example, not the {_outputs(module)} outputs of its"
            f" last layer with parameters, {module.label}: its head cannot be replaced"
        )
    return head


def _outputs(module: Module) -> int:
    return module.n_out if isinstance(module, Dense) else module.n_C


def replace_head(
    model: Module, input_shape: Shape, num_classes: int, *, rng: np.random.Generator
) -> tuple[Module, str]:
    """``model`` with a fresh classifier of ``num_classes`` outputs; and what was done, in words.

    The other layers are the same objects (their weights are kept); the
    container that held the head is a new one. The result's modules are named
    (``name_modules``) and in training mode.
    """
    head = find_head(model, input_shape).module
    if isinstance(head, Dense):
        fresh: Module = Dense(head.n_in, num_classes, head.b is not None, rng=rng, init=HEAD_INIT)
        sizes = f"{head.n_in} -> {head.n_out}", f"{head.n_in} -> {num_classes}"
    else:
        assert isinstance(head, Conv2D)
        fresh = Conv2D(
            head.n_C_prev,
            num_classes,
            head.f,
            head.stride,
            head.padding,
            head.dilation,
            1,
            head.b is not None,
            rng=rng,
            init=HEAD_INIT,
        )
        sizes = f"{head.n_C_prev} -> {head.n_C}", f"{head.n_C_prev} -> {num_classes} (1x1)"
    tuned = _swap(model, head.path, fresh).name_modules()
    tuned.train()
    if tuned.output_shape(input_shape) != (num_classes,):  # a head that find_head accepted
        raise InvalidArgumentError(
            f"replacing {head.label} does not give {num_classes} outputs per example"
        )
    kind = type(head).__name__
    return tuned, f"{head.label} {sizes[0]} replaced by a fresh {kind} {sizes[1]}"


def _swap(module: Module, path: str, new: Module) -> Module:
    """``module`` with its sub-module at ``path`` replaced by ``new`` (containers rebuilt)."""
    if path == "":
        return new
    if isinstance(module, Sequential):
        layers = dict(module.named_children())
        name = _child(layers, path, module)
        layers[name] = _swap(layers[name], _rest(path, name), new)
        return Sequential(layers)
    if isinstance(module, Graph):
        nodes = {node.name: node for node in module.nodes}
        name = _child(nodes, path, module)
        old = nodes[name]
        nodes[name] = Node(name, _swap(old.module, _rest(path, name), new), old.inputs, old.output)
        return Graph(list(nodes.values()), module.input_name, module.output_name)
    raise InvalidArgumentError(
        f"the layer {path!r} is inside {module.label}, which cannot be rebuilt around a new"
        f" layer (only a Sequential or a Graph can)"
    )


def _child(children: dict[str, object], path: str, module: Module) -> str:
    """The child whose name is ``path`` or starts it (graph node names may hold dots)."""
    for name in sorted(children, key=len, reverse=True):
        if path == name or path.startswith(name + "."):
            return name
    raise InvalidArgumentError(f"{module.label} holds no layer {path!r}")


def _rest(path: str, name: str) -> str:
    return path[len(name) + 1 :]


def freeze_until(model: Module, input_shape: Shape, layer: str) -> int:
    """Freeze every layer before ``layer`` (a name from :func:`layer_names`); returns the
    number of parameters frozen.

    Frozen layers keep their weights (no gradient is computed for them, so
    no optimizer moves them) and run in eval mode (see the module's notes).
    Freezing every parameter is refused: nothing would train.
    """
    unfreeze(model)  # a second call chooses again, it does not add to the first
    rows = model.name_modules().describe(input_shape)
    names = [row.name for row in rows]
    if layer not in names:
        raise InvalidArgumentError(
            f"no layer named {layer!r} to freeze until (the layers, as convmath summary names"
            f" them: {_listed(names)}){did_you_mean(layer, names)}"
        )
    before = rows[: names.index(layer)]
    frozen = [row.module for row in before if row.module is not None]
    parameters = {id(p): p for m in frozen for p in vars(m).values() if isinstance(p, Parameter)}
    if len(parameters) == len(model.parameters()):
        raise InvalidArgumentError(
            f"freezing the layers before {layer!r} freezes every parameter: nothing would train;"
            f" name a layer at or before the last one with parameters"
        )
    for module in frozen:
        module.frozen = True
        module.training = False
    for p in parameters.values():
        p.requires_grad = False
        p.grad = None
    return sum(p.size for p in parameters.values())


def unfreeze(model: Module) -> None:
    """Undo :func:`freeze_until`: every layer trains again, in the model's own mode."""
    for _, module in model.named_modules():
        if module.frozen:
            module.frozen = False
            module.training = model.training
    for p in model.parameters():
        p.requires_grad = True


def trainable(parameters: Sequence[Parameter]) -> list[Parameter]:
    """The parameters that train: those not frozen."""
    return [p for p in parameters if p.requires_grad]


def _listed(names: list[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")
