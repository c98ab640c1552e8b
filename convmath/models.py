"""Named architectures, buildable by name: ``build("lenet5", (28, 28, 1), 10, rng=rng)``.

A model of one's own is built the same way from the import path of its
builder, ``build("mypackage.nets:tiny", ...)``. The model's ``config``
records how to rebuild it (name, input shape, classes, options), so a
checkpoint can recreate it. Building checks every layer's shapes against the input
shape and fails there, naming the layer.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import InvalidArgumentError, ShapeError, did_you_mean
from convmath.nn import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    InceptionModule,
    MaxPool2D,
    Module,
    ReLU,
    ResidualBlock,
    Sequential,
)
from convmath.schema import Integer, Spec, Text, shown
from convmath.shapes import ImageShape as Shape

Builder = Callable[..., Module]


def lenet5(input_shape: Shape, num_classes: int, *, rng: np.random.Generator) -> Sequential:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as in PyTorch's tutorial.

    conv 6@5x5 pad 2, pool, conv 16@5x5, pool, FC 120, 84, num_classes:
    61,706 parameters on 28x28x1. Weights as PyTorch's defaults.
    """
    n_C = input_shape[2]
    init = "torch_default"
    features: dict[str, Module] = {
        "conv1": Conv2D(n_C, 6, 5, padding=2, rng=rng, init=init),
        "relu1": ReLU(),
        "pool1": MaxPool2D(2),
        "conv2": Conv2D(6, 16, 5, rng=rng, init=init),
        "relu2": ReLU(),
        "pool2": MaxPool2D(2),
    }
    flat = _flat_size(features, input_shape)  # 400 on 28x28
    return Sequential(
        features
        | {
            "flatten": Flatten(),
            "fc1": Dense(flat, 120, rng=rng, init=init),
            "relu3": ReLU(),
            "fc2": Dense(120, 84, rng=rng, init=init),
            "relu4": ReLU(),
            "fc3": Dense(84, num_classes, rng=rng, init=init),
        }
    )


def digits_cnn(
    input_shape: Shape, num_classes: int, *, rng: np.random.Generator, width: int = 16
) -> Sequential:
    """The small, fast default CNN for the embedded 8x8 digits.

    conv width@3x3 "same", BN, ReLU, conv 2*width@3x3 "same", BN, ReLU, max pool 2,
    flatten, FC 64, ReLU, FC num_classes.
    """
    width = _positive(width, "width")
    features: dict[str, Module] = {
        "conv1": Conv2D(input_shape[2], width, 3, padding="same", bias=False, rng=rng),
        "bn1": BatchNorm2D(width),
        "relu1": ReLU(),
        "conv2": Conv2D(width, 2 * width, 3, padding="same", bias=False, rng=rng),
        "bn2": BatchNorm2D(2 * width),
        "relu2": ReLU(),
        "pool": MaxPool2D(2),
    }
    flat = _flat_size(features, input_shape)
    return Sequential(
        features
        | {
            "flatten": Flatten(),
            "fc1": Dense(flat, 64, rng=rng),
            "relu3": ReLU(),
            "fc2": Dense(64, num_classes, rng=rng, init="glorot_uniform"),
        }
    )


def mnist_cnn(
    input_shape: Shape, num_classes: int, *, rng: np.random.Generator, dropout: float = 0.0
) -> Sequential:
    """The classic two-conv MNIST CNN (the Keras example; workload W2 without dropout).

    conv 32@3x3, ReLU, conv 64@3x3, ReLU, max pool 2, [dropout], flatten,
    FC 128, ReLU, [dropout], FC num_classes: 1,199,882 parameters on 28x28x1.
    """
    init = "torch_default"
    layers: dict[str, Module] = {
        "conv1": Conv2D(input_shape[2], 32, 3, rng=rng, init=init),
        "relu1": ReLU(),
        "conv2": Conv2D(32, 64, 3, rng=rng, init=init),
        "relu2": ReLU(),
        "pool": MaxPool2D(2),
    }
    flat = _flat_size(layers, input_shape)
    if dropout:
        layers["drop1"] = Dropout(dropout / 2, rng=rng)
    layers |= {
        "flatten": Flatten(),
        "fc1": Dense(flat, 128, rng=rng, init=init),
        "relu3": ReLU(),
    }
    if dropout:
        layers["drop2"] = Dropout(dropout, rng=rng)
    layers["fc2"] = Dense(128, num_classes, rng=rng, init=init)
    return Sequential(layers)


def wide_cnn(
    input_shape: Shape,
    num_classes: int,
    *,
    rng: np.random.Generator,
    width: int = 32,
    dropout: float = 0.0,
) -> Sequential:
    """A VGG-style CNN with batch norm, for the best MNIST accuracy from these parts.

    [conv w@3x3 same, BN, ReLU] x2, max pool 2, [conv 2w@3x3 same, BN, ReLU] x2,
    max pool 2, [dropout/2], flatten, FC 128 (BN, ReLU), [dropout], FC num_classes.
    The dropout layers are there only when ``dropout`` > 0 (as in ``mnist_cnn``).
    """
    w = _positive(width, "width")

    def conv_bn_relu(name: str, c_in: int, c_out: int) -> dict[str, Module]:
        return {
            f"{name}": Conv2D(c_in, c_out, 3, padding="same", bias=False, rng=rng),
            f"{name}_bn": BatchNorm2D(c_out),
            f"{name}_relu": ReLU(),
        }

    features = (
        conv_bn_relu("conv1", input_shape[2], w)
        | conv_bn_relu("conv2", w, w)
        | {"pool1": MaxPool2D(2)}
        | conv_bn_relu("conv3", w, 2 * w)
        | conv_bn_relu("conv4", 2 * w, 2 * w)
        | {"pool2": MaxPool2D(2)}
    )
    flat = _flat_size(features, input_shape)
    if dropout:
        features["drop1"] = Dropout(dropout / 2, rng=rng)
    head: dict[str, Module] = {
        "flatten": Flatten(),
        "fc1": Dense(flat, 128, bias=False, rng=rng),
        "fc1_bn": BatchNorm2D(128),
        "fc1_relu": ReLU(),
    }
    if dropout:
        head["drop2"] = Dropout(dropout, rng=rng)
    head["fc2"] = Dense(128, num_classes, rng=rng, init="glorot_uniform")
    return Sequential(features | head)


def resnet(
    input_shape: Shape,
    num_classes: int,
    *,
    rng: np.random.Generator,
    depth: int = 20,
    widths: tuple[int, int, int] = (16, 32, 64),
    shortcut: str = "pad",
) -> Sequential:
    """ResNet for small images (He et al. 2015, section 4.2): depth = 6n + 2.

    conv 3x3 (16) + BN + ReLU, three stages of n basic residual blocks with
    16, 32, 64 channels (stride 2 at the start of stages 2 and 3), global
    average pooling, FC. ResNet-20 (n = 3) has 269,722 parameters on
    32x32x3 with the parameter-free "pad" shortcuts (option A).
    """
    if not isinstance(depth, int) or (depth - 2) % 6 or not 8 <= depth <= limits.MAX_RESNET_DEPTH:
        raise InvalidArgumentError(
            f"ResNet depth must be 6n + 2 with n >= 1 (8, 14, 20, 32...) and at most"
            f" {limits.MAX_RESNET_DEPTH}, got {depth}"
        )
    if not isinstance(widths, list | tuple) or len(widths) != 3:
        raise InvalidArgumentError(f"ResNet widths must be 3 channel counts, got {widths!r}")
    widths = tuple(_positive(w, "a ResNet width") for w in widths)
    n = (depth - 2) // 6
    init = "he_normal_fan_out"
    layers: dict[str, Module] = {
        "stem": Conv2D(input_shape[2], widths[0], 3, padding=1, bias=False, rng=rng, init=init),
        "stem_bn": BatchNorm2D(widths[0]),
        "stem_relu": ReLU(),
    }
    n_C_prev = widths[0]
    for stage, n_C in enumerate(widths, start=1):
        for k in range(n):
            stride = 2 if stage > 1 and k == 0 else 1
            layers[f"stage{stage}_{k}"] = ResidualBlock(
                n_C_prev, n_C, stride, rng=rng, shortcut=shortcut, init=init
            )
            n_C_prev = n_C
    layers["pool"] = GlobalAvgPool2D()
    layers["fc"] = Dense(n_C_prev, num_classes, rng=rng, init="torch_default")
    return Sequential(layers)


def googlenet_small(
    input_shape: Shape, num_classes: int, *, rng: np.random.Generator
) -> Sequential:
    """A small GoogLeNet-style network (Szegedy et al. 2014) of Inception modules.

    conv 32@3x3 + BN + ReLU, two Inception modules (with 1x1 reductions), max
    pool 2, one more Inception module, global average pooling, FC.
    """
    c = input_shape[2]
    return Sequential(
        {
            "stem": Conv2D(c, 32, 3, padding=1, bias=False, rng=rng),
            "stem_bn": BatchNorm2D(32),
            "stem_relu": ReLU(),
            "inception1": InceptionModule(32, 16, 16, 24, 4, 8, 8, rng=rng),
            "inception2": InceptionModule(56, 24, 24, 32, 8, 16, 8, rng=rng),
            "pool": MaxPool2D(2),
            "inception3": InceptionModule(80, 32, 32, 48, 8, 16, 16, rng=rng),
            "gap": GlobalAvgPool2D(),
            "fc": Dense(112, num_classes, rng=rng, init="glorot_uniform"),
        }
    )


def _positive(value: object, name: str, high: int = limits.MAX_CHANNELS) -> int:
    return Integer(1, high).check(value, name)


def _flat_size(features: dict[str, Module], input_shape: Shape) -> int:
    """n_H*n_W*n_C after ``features``; checks their shapes first, naming the layer at fault."""
    return int(np.prod(Sequential(features).name_modules().output_shape(input_shape)))


MODELS: dict[str, Builder] = {
    "digits_cnn": digits_cnn,
    "lenet5": lenet5,
    "mnist_cnn": mnist_cnn,
    "wide_cnn": wide_cnn,
    "resnet": resnet,
    "googlenet_small": googlenet_small,
}

# The images (n_H, n_W, n_C) each named model is made for: the commands' default input shape.
# Each takes any n_C; some fit other sizes too (resnet any, lenet5 at least 12x12).
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits_cnn": (8, 8, 1),
    "lenet5": (28, 28, 1),
    "mnist_cnn": (28, 28, 1),
    "wide_cnn": (28, 28, 1),
    "resnet": (32, 32, 3),
    "googlenet_small": (28, 28, 1),
}


# ``package.module:builder``, the convention of uvicorn and setuptools' entry points
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
MAX_IMPORT_PATH = 200


def is_import_path(name: str) -> bool:
    """Whether ``name`` names a builder of the user's own code, ``package.module:function``."""
    return len(name) <= MAX_IMPORT_PATH and IMPORT_PATH.fullmatch(name) is not None


def import_builder(path: str) -> Builder:
    """The builder that ``path`` (``package.module:function``) names, imported.

    Importing runs the module's code: only do it for a path the user gave (the
    commands ask for ``--trust-code`` before importing one a checkpoint names).
    The module is looked for in the current directory first, as ``python -m``
    would, then on ``sys.path``.
    """
    if not is_import_path(path):
        raise InvalidArgumentError(
            f"{shown(path)} is neither a model name {sorted(MODELS)} nor an import path"
            f" package.module:function{did_you_mean(path, MODELS)}"
        )
    module_name, _, attribute = path.partition(":")
    here = os.getcwd()
    search_here = "" not in sys.path and here not in sys.path  # for this import only
    if search_here:
        sys.path.insert(0, here)
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise InvalidArgumentError(
            f"model {path!r}: cannot import {module_name} ({error})"
        ) from None
    finally:
        if search_here:
            sys.path.remove(here)
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise InvalidArgumentError(f"model {path!r}: {module_name} has no {attribute}")
        found = getattr(found, part)
    if not callable(found):
        raise InvalidArgumentError(
            f"model {path!r}: {attribute} is a {type(found).__name__}, not a function that builds"
            f" a model"
        )
    return found


class ModelName(Spec):
    """A model's name as a setting: one of :data:`MODELS`, or an import path of one's own."""

    def describe(self) -> str:
        return f"one of {sorted(MODELS)} or an import path package.module:function"

    def hint(self, value: Any) -> str:
        return did_you_mean(value, MODELS)

    def _check(self, value: Any) -> str:
        if not isinstance(value, str) or not (value in MODELS or is_import_path(value)):
            raise self._refuse(value)
        return value


MODEL_NAME = ModelName()


def build(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int = 10,
    *,
    rng: np.random.Generator,
    max_parameters: int | None = None,
    **options: Any,
) -> Module:
    """Build a named model for examples of ``input_shape`` (n_H, n_W, n_C).

    ``name`` is one of :data:`MODELS` or the import path of a builder of your
    own, ``package.module:function``, called as the named ones are:
    ``function(input_shape, num_classes, rng=rng, **options)``, returning a
    :class:`Module` that maps each example to ``num_classes`` logits.
    Checks every layer's shapes now and raises :class:`ShapeError` naming the
    layer that does not fit. The model's ``config`` holds what rebuilds it.
    A model of more than ``max_parameters`` (at most the limit of
    :func:`convmath.limits.max_parameters`) is refused at the first weight
    that passes it, before that weight is allocated.
    """
    if name in MODELS:
        builder = MODELS[name]
    elif is_import_path(name):
        builder = import_builder(name)
    else:
        raise InvalidArgumentError(
            f"unknown model {shown(name)}; expected one of {sorted(MODELS)} or an import path"
            f" package.module:function{did_you_mean(name, MODELS)}"
        )
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1 or max(input_shape) > limits.MAX_SIDE:
        raise ShapeError(
            f"input_shape must be (n_H, n_W, n_C) of sizes from 1 to {limits.MAX_SIDE},"
            f" got {input_shape}"
        )
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError("build needs rng=np.random.default_rng(seed)")
    _positive(num_classes, "the number of classes", limits.MAX_CLASSES)
    try:
        inspect.signature(builder).bind(input_shape, num_classes, rng=rng, **options)
    except TypeError as error:
        raise InvalidArgumentError(
            f"model {name!r} does not take the options {options}: {error}"
        ) from None
    except ValueError:  # a callable without a signature: the call itself will tell
        pass
    try:
        with limits.parameter_budget(f"model {name!r} on {input_shape}", max_parameters):
            model = builder(input_shape, num_classes, rng=rng, **options)
    except TypeError as error:
        if name not in MODELS:
            raise  # a bug in the user's builder: its own traceback says where
        raise InvalidArgumentError(
            f"model {name!r} cannot be built with the options {options}: {error}"
        ) from None
    if not isinstance(model, Module):
        raise InvalidArgumentError(
            f"model {name!r} returned a {type(model).__name__}, expected a convmath.nn Module"
        )
    model.name_modules()
    produced = model.output_shape(input_shape)
    if produced != (num_classes,):
        raise ShapeError(
            f"model {name!r} produces {produced} per example, expected ({num_classes},)"
        )
    model.config = {
        "name": name,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "options": options,
    }
    return model


BUILD_ARGUMENTS = tuple(
    sorted(p.name for p in inspect.signature(build).parameters.values() if p.kind != p.VAR_KEYWORD)
)
"""The names :func:`build` takes itself, which a model's options can therefore never be."""


class OptionName(Spec):
    """The name of a model option: text, and none of :data:`BUILD_ARGUMENTS` (``rng``...),
    which would reach ``build`` twice."""

    def describe(self) -> str:
        return f"a name of 1 to 256 characters other than {list(BUILD_ARGUMENTS)}"

    def _check(self, value: Any) -> str:
        if Text(256, min_length=1)._check(value) in BUILD_ARGUMENTS:
            raise self._refuse(value)
        return value


OPTION_NAME = OptionName()
