"""A model as a graph of named nodes: what an imported ONNX network becomes.

A :class:`Sequential` holds a chain; a :class:`Graph` holds any directed
acyclic graph of modules, each node reading named values and writing one:

    values["input"] = x;  values[node.output] = node.module(values[node.inputs[0]])

Most nodes are ordinary layers with one input; a :class:`Merge` (the sum of
a residual connection, the concatenation of Inception branches) reads
several. Nodes run in the order given, which must be topological. The
engine sums the gradients of a value read by several nodes, as in a block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.errors import ShapeError
from convmath.nn.module import Arguments, LayerInfo, Module, Shape
from convmath.tensor import Tensor


class Merge(Module):
    """A module of several inputs of one example's shape each, giving one output."""

    def merge(self, xs: Sequence[Tensor]) -> Tensor:
        raise NotImplementedError

    def merged_shape(self, shapes: Sequence[Shape]) -> Shape:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.merge([x])

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.merged_shape([input_shape])


class Add(Merge):
    """A = A_1 + A_2 + ... (same shapes): a residual connection's sum."""

    def merge(self, xs: Sequence[Tensor]) -> Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    def merged_shape(self, shapes: Sequence[Shape]) -> Shape:
        if len({tuple(s) for s in shapes}) != 1:
            raise self.fail(f"the inputs to add must have one shape; got {list(shapes)}")
        return tuple(shapes[0])

    def formulas(self, input_shape: Shape) -> list[str]:
        return ["A = the sum of the inputs, element by element"]


class Multiply(Merge):
    """A = A_1 * A_2 * ..., broadcasting: a gate (m, 1, 1, n_C) scales a map (m, n_H, n_W, n_C).

    The product of a squeeze-and-excitation block: each channel of the map
    times its own number. The gradients unbroadcast: dA_1 = dA * A_2, and the
    gate's dA_2 = sum over n_H, n_W of dA * A_1.
    """

    def merge(self, xs: Sequence[Tensor]) -> Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total * x
        return total

    def merged_shape(self, shapes: Sequence[Shape]) -> Shape:
        try:
            return tuple(int(n) for n in np.broadcast_shapes(*(tuple(s) for s in shapes)))
        except ValueError:
            raise self.fail(
                f"the inputs to multiply must broadcast (sizes equal or 1); got {list(shapes)}"
            ) from None

    def formulas(self, input_shape: Shape) -> list[str]:
        return ["A = the product of the inputs, element by element (sizes of 1 broadcast)"]


class Concatenate(Merge):
    """A = [A_1, A_2, ...] joined along one axis of the example (channels by default)."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def merge(self, xs: Sequence[Tensor]) -> Tensor:
        axis = self.axis if self.axis < 0 else self.axis + 1  # past the batch axis
        return F.concat(list(xs), axis=axis)

    def merged_shape(self, shapes: Sequence[Shape]) -> Shape:
        rank = len(shapes[0])
        axis = self.axis % rank
        rest = {tuple(s[:axis]) + tuple(s[axis + 1 :]) for s in shapes}
        if len(rest) != 1 or any(len(s) != rank for s in shapes):
            raise self.fail(
                f"the inputs to concatenate must agree except along axis {self.axis};"
                f" got {list(shapes)}"
            )
        joined = list(shapes[0])
        joined[axis] = sum(s[axis] for s in shapes)
        return tuple(joined)

    def details(self) -> str:
        return f"axis {self.axis}"


@dataclass(frozen=True)
class Node:
    """One step of a :class:`Graph`: ``output = module(*inputs)``, named ``name``."""

    name: str
    module: Module
    inputs: tuple[str, ...]
    output: str


class Graph(Module):
    """Modules wired as a directed acyclic graph from ``input_name`` to ``output_name``.

    Parameters are named after their node: a node "conv1" holding a Conv2D
    gives "conv1.W" and "conv1.b".
    """

    def __init__(self, nodes: Sequence[Node], input_name: str, output_name: str) -> None:
        super().__init__()
        self.nodes = list(nodes)
        self.input_name, self.output_name = input_name, output_name
        # its nodes are its arguments (a Node is plain data: a name, a layer, value names)
        self.arguments = Arguments((tuple(self.nodes), input_name, output_name), {})
        known = {input_name}
        names: set[str] = set()
        for node in self.nodes:
            if node.name in names:
                raise ShapeError(f"graph: two nodes are named {node.name!r}")
            names.add(node.name)
            missing = [name for name in node.inputs if name not in known]
            if missing:
                raise ShapeError(
                    f"graph node {node.name!r} reads {missing}, which no earlier node writes"
                )
            if not isinstance(node.module, Merge) and len(node.inputs) != 1:
                raise ShapeError(
                    f"graph node {node.name!r} ({type(node.module).__name__}) takes one input,"
                    f" got {len(node.inputs)}"
                )
            if node.output in known:
                raise ShapeError(
                    f"graph node {node.name!r} writes {node.output!r}, which is already a value"
                )
            known.add(node.output)
        if output_name not in known:
            raise ShapeError(f"graph: no node writes the output {output_name!r}")
        self._last_use = self._last_uses()

    def _last_uses(self) -> dict[str, int]:
        """For each value, the index of the last node that reads it (it can be freed after)."""
        last = {}
        for k, node in enumerate(self.nodes):
            for name in node.inputs:
                last[name] = k
        return last

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for node in self.nodes:
            yield node.name, node.module

    def forward(self, x: Tensor) -> Tensor:
        values = {self.input_name: x}
        for k, node in enumerate(self.nodes):
            inputs = [values[name] for name in node.inputs]
            if isinstance(node.module, Merge):
                values[node.output] = node.module.merge(inputs)
            else:
                values[node.output] = node.module(inputs[0])
            for name in dict.fromkeys(node.inputs):  # a value read twice is freed once
                if self._last_use[name] == k and name != self.output_name:
                    del values[name]
        return values[self.output_name]

    def shapes(self, input_shape: Shape) -> dict[str, Shape]:
        """The shape of one example of every value, for examples of ``input_shape``."""
        shapes = {self.input_name: tuple(input_shape)}
        for node in self.nodes:
            shapes[node.output] = self._node_shape(node, shapes)
        return shapes

    def _node_shape(self, node: Node, shapes: dict[str, Shape]) -> Shape:
        inputs = [shapes[name] for name in node.inputs]
        if isinstance(node.module, Merge):
            return node.module.merged_shape(inputs)
        return node.module.output_shape(inputs[0])

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.shapes(input_shape)[self.output_name]

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        shapes = {self.input_name: tuple(input_shape)}
        for node in self.nodes:
            inputs = [shapes[name] for name in node.inputs]
            if isinstance(node.module, Merge):
                out = node.module.merged_shape(inputs)
                formulas = [
                    *node.module.formulas(inputs[0]),
                    f"{' and '.join(node.inputs)}: {' + '.join(str(s) for s in inputs)} -> {out}",
                ]
                backward = [f"each input receives dA {out}, split back along the join if any"]
                kind = type(node.module).__name__
                rows.append(
                    self.joining_row(node.name, kind, inputs[0], out, formulas, depth, backward)
                )
            else:
                out = node.module.describe_into(rows, inputs[0], depth)
            shapes[node.output] = out
        return shapes[self.output_name]

    def details(self) -> str:
        return f"{len(self.nodes)} nodes"


def unique(hint: str, taken: set[str], counts: dict[str, int]) -> str:
    """``hint``, or ``hint_2``, ``hint_3``... : the first not in ``taken`` (which it joins).

    ``counts`` remembers where each hint's numbering stands, so that n names
    made from one hint cost n steps, not n squared.
    """
    name, k = hint, counts.get(hint, 1)
    if name in taken:
        k += 1
        name = f"{hint}_{k}"
        while name in taken:
            k += 1
            name = f"{hint}_{k}"
    counts[hint] = k
    taken.add(name)
    return name
