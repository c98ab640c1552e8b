"""A model as data: the layers it is built of and their arguments, and back.

A model put together from convmath's own layers, in a script or a notebook,
is described by the arguments each module was built with (every module
records them, :class:`convmath.nn.module.Arguments`): a JSON tree that a
model file stores, so that every command can rebuild the model without
importing anyone's code. Only the public layers of ``convmath.nn`` are
rebuilt (its ``__all__``); random generators are stored as a mark, and one
fresh generator, shared by all of them, is given on rebuilding (the
weights are loaded afterwards; dropout layers draw different masks). A
:class:`~convmath.nn.graph.Graph` (an imported ONNX network) is stored the
same way, node by node, with the layers only graphs use (merges, layout
moves, a softmax inside the graph). A module of another
package, or one built from arrays, has no such description: it is saved
with a builder function instead (``models.build("package.module:function")``).

>>> import numpy as np
>>> from convmath import nn
>>> rng = np.random.default_rng(0)
>>> cnn = nn.Sequential(nn.Conv2D(1, 4, 3, rng=rng), nn.ReLU(), nn.Flatten())
>>> tree = describe(cnn)
>>> tree["layer"], tree["args"][0]["module"]["layer"], tree["args"][0]["module"]["args"]
('Sequential', 'Conv2D', [1, 4, 3])
>>> type(rebuild(tree)["0"]).__name__
'Conv2D'
"""

from __future__ import annotations

from typing import Any

import numpy as np

import convmath.nn as nn_package
from convmath.errors import ConvMathError, InvalidArgumentError
from convmath.nn import activation, graph, layout
from convmath.nn.graph import Merge, Node
from convmath.nn.layout import Reorder
from convmath.nn.module import Arguments, Module

# Modules of the layers that graphs use beside the public ones: every layer defined there
GRAPH_LAYER_MODULES = (graph, layout, activation)


def describe(module: Module) -> dict[str, Any]:
    """The JSON tree that rebuilds ``module``; raises InvalidArgumentError if it has none."""
    return _describe(module, "model")


def rebuild(tree: Any) -> Module:
    """The module ``tree`` describes (fresh weights: load its state_dict next).

    A tree from a file is hostile until proved otherwise: it names only the
    public layers, and whatever a constructor raises on its arguments comes
    back as :class:`InvalidArgumentError` naming the layer (the caller opens
    a parameter budget, so no weight larger than the file is allocated; the
    JSON reader bounds the nesting).
    """
    return _rebuild(tree, np.random.default_rng(0))


def _rebuild(tree: Any, rng: np.random.Generator) -> Module:
    if not isinstance(tree, dict) or set(tree) != {"layer", "args", "kwargs"}:
        raise InvalidArgumentError("an architecture entry must be {layer, args, kwargs}")
    classes = layer_classes()
    name = tree["layer"]
    if name not in classes:
        raise InvalidArgumentError(
            f"the architecture names the layer {str(name)[:60]!r}, which is not one of"
            f" convmath.nn's ({', '.join(sorted(classes))})"
        )
    if not isinstance(tree["args"], list) or not isinstance(tree["kwargs"], dict):
        raise InvalidArgumentError(f"{name}: args must be a list and kwargs a mapping")
    args = [_decode(value, rng) for value in tree["args"]]
    kwargs = {str(key): _decode(value, rng) for key, value in tree["kwargs"].items()}
    try:
        return classes[name](*args, **kwargs)
    except ConvMathError:
        raise
    except Exception as error:  # hostile arguments: any constructor's complaint, in one line
        raise InvalidArgumentError(
            f"{name} cannot be built from the stored arguments: {type(error).__name__}: {error}"
        ) from None


def layer_classes() -> dict[str, type[Module]]:
    """The layers an architecture may name, by name: convmath.nn's public layers, and the
    graph and layout layers an imported graph is made of (:data:`GRAPH_LAYER_MODULES`)."""
    exported = [getattr(nn_package, name) for name in nn_package.__all__]
    for module in GRAPH_LAYER_MODULES:
        exported += [
            v for v in vars(module).values() if getattr(v, "__module__", None) == module.__name__
        ]
    return {
        cls.__name__: cls
        for cls in exported
        if isinstance(cls, type) and issubclass(cls, Module) and cls not in (Module, Merge)
    }


def _arguments(module: Module) -> Arguments | None:
    """What ``module`` was built with; a Reorder built from an index array, as a list."""
    if module.arguments is None and isinstance(module, Reorder):
        return Arguments(([int(k) for k in module.indices],), {})
    return module.arguments


def _describe(module: Module, where: str) -> dict[str, Any]:
    cls = type(module)
    if layer_classes().get(cls.__name__) is not cls:
        raise InvalidArgumentError(
            f"{where} is a {cls.__module__}.{cls.__qualname__}, not a layer of convmath.nn: save"
            f" a model of your own classes with a builder function (build it with"
            f" convmath.models.build('package.module:function', ...))"
        )
    arguments = _arguments(module)
    if arguments is None:
        raise InvalidArgumentError(
            f"{where} ({cls.__name__}) was built from arrays or objects that a model file cannot"
            f" store; build it from numbers and layers, or with a builder function"
        )
    return {
        "layer": cls.__name__,
        "args": [_encode(value, f"{where}.{k}") for k, value in enumerate(arguments.args)],
        "kwargs": {
            key: _encode(value, f"{where}.{key}") for key, value in arguments.kwargs.items()
        },
    }


def _encode(value: Any, where: str) -> Any:
    if isinstance(value, Module):
        return {"module": _describe(value, where)}
    if isinstance(value, Node):
        return {
            "node": {
                "name": value.name,
                "module": _describe(value.module, f"{where}({value.name})"),
                "inputs": list(value.inputs),
                "output": value.output,
            }
        }
    if isinstance(value, np.random.Generator):
        return {"rng": None}
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()  # e.g. Dense(np.prod(shape), 10)
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, where) for item in value]}
    if isinstance(value, list):
        return [_encode(item, where) for item in value]
    if isinstance(value, dict):
        return {"dict": {str(key): _encode(item, f"{where}.{key}") for key, item in value.items()}}
    return value  # a number, a string, True, False or None


def _decode(value: Any, rng: np.random.Generator) -> Any:
    if isinstance(value, list):
        return [_decode(item, rng) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise InvalidArgumentError(f"an encoded argument has the keys {sorted(value)[:5]}")
    ((kind, content),) = value.items()
    if kind == "module":
        return _rebuild(content, rng)
    if kind == "rng":
        return rng  # the weights drawn are replaced by the file's
    if kind == "node":
        return _node(content, rng)
    if kind == "tuple" and isinstance(content, list):
        return tuple(_decode(item, rng) for item in content)
    if kind == "dict" and isinstance(content, dict):
        return {str(key): _decode(item, rng) for key, item in content.items()}
    raise InvalidArgumentError(f"an encoded argument of unknown kind {str(kind)[:40]!r}")


def _node(content: Any, rng: np.random.Generator) -> Node:
    """A graph's node from its stored entry {name, module, inputs, output}, checked."""
    if not isinstance(content, dict) or set(content) != {"name", "module", "inputs", "output"}:
        raise InvalidArgumentError("a graph node must be {name, module, inputs, output}")
    names = [
        content["name"],
        content["output"],
        *(content["inputs"] if isinstance(content["inputs"], list) else [None]),
    ]
    if not all(isinstance(name, str) for name in names):
        raise InvalidArgumentError(
            f"a graph node's name, inputs and output must be text; got {str(names)[:80]}"
        )
    module = _rebuild(content["module"], rng)
    module.path = content["name"]
    return Node(content["name"], module, tuple(content["inputs"]), content["output"])
