"""Module, Parameter and Sequential: the containers that layers and models are built from.

A :class:`Module` holds parameters (:class:`Parameter` tensors), buffers
(plain arrays such as batch norm's running statistics) and sub-modules as
ordinary attributes; they are found by walking the attributes, including
lists, tuples and dicts of modules. Modules contain no backward code and no
fusion code: their ``forward`` composes ops of ``convmath.functional`` and
the engine does the rest. Calling a module runs its ``forward``, unless the
kernels' planner (:mod:`convmath.kernels.fusion`) has a faster plan for it
that computes the same thing.

Every module also knows its shapes: ``output_shape(input_shape)`` maps the
shape of one example (n_H, n_W, n_C) or (n,) to the shape it produces and
raises :class:`ShapeError` naming the layer when the input does not fit, so
a model is checked when it is built, not at its first batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from convmath.dispatch import plan_for
from convmath.errors import ShapeError
from convmath.shapes import Shape
from convmath.tensor import Tensor


class Parameter(Tensor):
    """A tensor the optimizer updates: ``requires_grad`` is on by default."""

    __slots__ = ()

    def __init__(self, data: Any, *, requires_grad: bool = True, name: str | None = None) -> None:
        super().__init__(data, requires_grad=requires_grad, name=name)


@dataclass(frozen=True)
class LayerInfo:
    """One row of a model summary: what a layer does to the shape, and what it costs."""

    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    parameters: int
    macs: int  # multiply-accumulates per example
    details: str = ""


class Module:
    """Base class of layers, blocks and models."""

    _buffer_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.training = True
        self.path = ""  # dotted name inside the model, set by name_modules()

    # ------------------------------------------------------------ computing
    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        plan = plan_for(self)  # while kernels are on, a fused way to run this module, or None
        return self.forward(x) if plan is None else plan(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of one output example for one input example; checks that it fits."""
        raise NotImplementedError

    def describe(self, input_shape: Shape) -> list[LayerInfo]:
        """Summary rows for this module (containers list their children instead)."""
        own = sum(p.size for _, p in self.named_parameters())
        return [
            LayerInfo(
                self.path or type(self).__name__,
                type(self).__name__,
                tuple(input_shape),
                self.output_shape(input_shape),
                own,
                self.macs(input_shape),
                self.details(),
            )
        ]

    def joining_row(self, step: str, kind: str, input_shape: Shape, details: str) -> LayerInfo:
        """The summary row of the step that joins a block's paths (an addition, a concat)."""
        name = f"{self.path}.{step}" if self.path else step
        return LayerInfo(
            name, kind, tuple(input_shape), self.output_shape(input_shape), 0, 0, details
        )

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates per example (conv and dense layers; 0 for the rest)."""
        return 0

    def details(self) -> str:
        return ""

    @property
    def label(self) -> str:
        """How errors name this layer: ``Conv2D 'features.3'``."""
        kind = type(self).__name__
        return f"{kind} '{self.path}'" if self.path else kind

    def fail(self, message: str) -> ShapeError:
        return ShapeError(f"{self.label} {message}")

    # ------------------------------------------------------------ walking
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple):
                for k, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{k}", item
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, Module):
                        yield f"{name}.{key}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once, in definition order."""
        seen: set[int] = set()
        for path, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for path, module in self.named_modules():
            for name in module._buffer_names:
                yield (f"{path}.{name}" if path else name), getattr(module, name)

    def name_modules(self) -> Module:
        """Give every sub-module its dotted path (used in error messages and summaries)."""
        for path, module in self.named_modules():
            module.path = path
        return self

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (batch statistics, dropout on); ``eval()`` turns it off."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters and buffers, in place.

        Raises :class:`ShapeError` listing missing, unexpected and mis-shaped
        entries, before changing anything.
        """
        targets: dict[str, np.ndarray] = {n: p.data for n, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        mis_shaped = [
            f"{name}: expected {targets[name].shape}, got {np.shape(state[name])}"
            for name in sorted(set(targets) & set(state))
            if np.shape(state[name]) != targets[name].shape
        ]
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if unexpected:
            problems.append(f"unexpected {unexpected}")
        if mis_shaped:
            problems.append("wrong shapes: " + "; ".join(mis_shaped))
        if problems:
            raise ShapeError(f"state does not fit {type(self).__name__}: " + ", ".join(problems))
        for name, target in targets.items():
            target[...] = state[name]

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.details()})"
        inner = "\n".join(f"  ({n}): " + repr(c).replace("\n", "\n  ") for n, c in children)
        return f"{type(self).__name__}(\n{inner}\n)"


class Sequential(Module):
    """Layers applied one after another: A[l] = layer_l(A[l-1]).

    ``Sequential(conv, relu, pool)`` names the layers "0", "1", "2";
    ``Sequential({"conv1": conv, "relu1": relu})`` keeps the given names.
    """

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            self.layers = dict(layers[0])
        else:
            self.layers = {str(k): layer for k, layer in enumerate(layers)}
        for name, layer in self.layers.items():
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes modules; {name!r} is {type(layer).__name__}")

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self.layers.items()

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers.values())

    def __getitem__(self, key: int | str) -> Module:
        return list(self.layers.values())[key] if isinstance(key, int) else self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers.values():
            x = layer(x)
        return x

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers.values():
            shape = layer.output_shape(shape)
        return shape

    def describe(self, input_shape: Shape) -> list[LayerInfo]:
        rows: list[LayerInfo] = []
        shape = tuple(input_shape)
        for layer in self.layers.values():
            rows += layer.describe(shape)
            shape = layer.output_shape(shape)
        return rows
