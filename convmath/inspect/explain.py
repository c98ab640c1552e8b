"""Explain a model layer by layer, with the article's formulas and the numbers substituted.

For a CONV layer: the input volume, f, p, s, the output size worked out
(n_H = floor((28 + 2*2 - 5)/1) + 1 = 28), the output volume, the parameter
count worked out ((f*f*n_C_prev + 1)*n_C) and the multiply-accumulates; for
POOL layers that they have none; for residual blocks the shortcut and its
shape; for Inception modules each branch, the concatenated channel count and
the cost with and without the 1x1 bottlenecks. A model that does not fit its
input is explained up to the layer where a size falls below 1.

The formulas are the layers' own (``Module.formulas``, one description per
layer that ``summary`` shows too), in the article's notation: each row
names its output (Z^[l] before the activation psi, A^[l] after it, Z~^[l]
after batch norm; :mod:`convmath.inspect.notation`) and its equations carry
the layer's number l. A user's own module is explained by the same mechanism.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from convmath.errors import ShapeError
from convmath.inspect.notation import Name, names, numbered
from convmath.nn.module import LayerInfo, Module
from convmath.schema import printable
from convmath.shapes import Shape

ExplainRow = LayerInfo  # the rows explain shows are the layers' own descriptions


@dataclass
class Explanation:
    rows: list[LayerInfo]
    error: str | None = None  # why the model does not fit its input, if it does not

    @property
    def parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @functools.cached_property
    def names(self) -> list[Name | None]:
        """What each row's output is called in the article (None for a block's heading)."""
        return names(self.rows)

    @property
    def output_shape(self) -> Shape | None:
        return None if self.error or not self.rows else self.rows[-1].output_shape

    def text(self, backward: bool = False) -> str:
        """The forward explanation, or with ``backward`` the back propagation, last layer first."""
        if backward:
            return self._backward_text()
        lines = []
        for row, name in zip(self.rows, self.names, strict=True):
            indent = "    " * row.depth
            shape = "" if name is None else f" -> {name.text} {row.output_shape}"
            lines.append(f"{indent}{printable(row.name)} ({row.kind}){shape}")
            lines += [f"{indent}    {_numbered(formula, name)}" for formula in row.formulas]
        if self.error:
            lines.append(f"does not fit: {printable(self.error)}")
        else:
            lines.append(
                f"total: {self.parameters:,} parameters, {self.macs:,} multiply-accumulates"
                f" per example ({2 * self.macs / 1e6:.2f} MFLOP forward)"
            )
        return "\n".join(lines)

    def _backward_text(self) -> str:
        if self.error:
            return f"does not fit: {printable(self.error)}"
        out, last = self.output_shape, self.names[-1]
        z = "Z" if last is None else last.text
        start = (
            f"J = softmax cross-entropy of the {out[0]} outputs {z} (the loss convmath trains"
            " with), averaged over the m examples:"
            f"\n    back propagation starts from d{z} = (softmax({z}) - Q)/m, {out} per example"
            " (Q: the one-hot labels, smoothed if label smoothing is on)"
            if out is not None and len(out) == 1
            else f"back propagation starts from dJ/d{z}, {out} per example"
        )
        lines = [start]
        for row, name in zip(reversed(self.rows), reversed(self.names), strict=True):
            if row.is_heading and not row.backward:  # a block's heading: its rows come first
                continue
            indent = "    " * row.depth
            arrow = "" if name is None else f" -> {name.text} {row.output_shape}"
            lines.append(f"{indent}{printable(row.name)} ({row.kind}){arrow}")
            lines += [f"{indent}    {_numbered(formula, name)}" for formula in row.backward]
        first = next((row.macs for row in self.rows if row.macs), 0)
        lines.append(
            f"total: about {2 * self.macs - first:,} multiply-accumulates per example: dW^[l] and"
            " dA^[l-1] of every CONV and FC layer, twice the forward's, less the first layer's"
            " dA^[0], which is skipped (the input is data: it needs no gradient)"
        )
        return "\n".join(lines)


def _numbered(formula: str, name: Name | None) -> str:
    return printable(formula if name is None else numbered(formula, name.l, name.after_tilde))


def explain(model: Module, input_shape: Shape) -> Explanation:
    """Explain ``model`` for examples of ``input_shape``: ``.rows`` and ``.text()``."""
    rows: list[LayerInfo] = []
    try:
        model.describe_into(rows, tuple(input_shape), 0)
    except ShapeError as error:
        return Explanation(rows, str(error))
    return Explanation(rows)
