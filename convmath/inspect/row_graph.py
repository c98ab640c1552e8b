"""Which rows of ``explain`` each row reads: the network as a graph, for the page's overview.

The rows of :func:`convmath.inspect.explain` list a model in order; this says
how they are wired. A row reads the output of one row (a chain), of several
(a block's joining row: the sum of a residual connection, the concatenation
of Inception branches), or the model's input, named :data:`INPUT`.

The edges come from one traced example, by identity of the volumes passed
from module to module: a row reads what another row produced. A block's
joining row reads the ends of the block's paths (the rows inside the block
whose output no other row of the block reads) and, where the block reads
its input again as it joins (a residual block's identity or option-A
shortcut, MobileNet's input added back, squeeze-and-excitation's input
scaled by its gates), the block's own input. The rows of a
:class:`convmath.nn.Graph` are its nodes, which name their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from convmath.inspect.trace import Trace
from convmath.nn.blocks import InvertedResidual, ResidualBlock, SqueezeExcitation
from convmath.nn.graph import Graph
from convmath.nn.module import LayerInfo, Module

INPUT = "input"  # the name of the model's input among a row's sources


def row_inputs(trace: Trace, rows: Sequence[LayerInfo]) -> dict[str, list[str]]:
    """For each row of ``rows`` that has values (not a block's heading), the rows it reads."""
    names = [row.name for row in rows if not row.is_heading]
    if isinstance(trace.model, Graph):
        return _graph_inputs(trace.model, names)
    producer: dict[int, str] = {id(trace.inputs[""]): INPUT}
    found: dict[str, list[str]] = {}
    previous = INPUT
    for name in names:
        path, module = trace.module_of(name)
        if path != name:  # a block's joining row: the block's paths end here
            sources = _path_ends(name, path, found)
            if _reads_its_input(module):
                sources.append(producer.get(id(trace.inputs[path]), INPUT))
        else:
            received = trace.inputs.get(path)
            tensors = received if isinstance(received, list | tuple) else [received]
            sources = [producer[id(t)] for t in tensors if id(t) in producer]
        found[name] = _unique(sources) or [previous]  # a volume made out of sight: the chain
        producer[id(trace.outputs[path])] = name
        previous = name
    return found


def _reads_its_input(block: Module) -> bool:
    """Whether a block's joining step reads the block's input itself, not through a row: a
    residual block's identity or option-A shortcut, MobileNet's input added back,
    squeeze-and-excitation's input scaled by its gates."""
    if isinstance(block, ResidualBlock):
        return block.projection is None
    if isinstance(block, InvertedResidual):
        return block.residual
    return isinstance(block, SqueezeExcitation)


def _path_ends(name: str, block: str, found: dict[str, list[str]]) -> list[str]:
    """The rows of ``block`` (found so far, in order) that no other row of it reads."""
    inside = [row for row in found if row.startswith(f"{block}.") and row != name]
    read = {source for row in inside for source in found[row]}
    return [row for row in inside if row not in read]


def _graph_inputs(graph: Graph, names: list[str]) -> dict[str, list[str]]:
    """A graph's rows are its nodes, in order: each reads the rows that wrote its inputs."""
    if len(names) != len(graph.nodes):  # rows that are not one per node: read as a chain
        return {name: [before] for before, name in zip([INPUT, *names], names, strict=False)}
    writer = {graph.input_name: INPUT}
    found: dict[str, list[str]] = {}
    for name, node in zip(names, graph.nodes, strict=True):
        found[name] = _unique([writer[value] for value in node.inputs])
        writer[node.output] = name
    return found


def _unique(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


__all__ = ["INPUT", "row_inputs"]
