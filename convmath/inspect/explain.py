"""Explain a model layer by layer, with the article's formulas and the numbers substituted.

For a CONV layer: the input volume, f, p, s, the output size worked out
(n_H = floor((28 + 2*2 - 5)/1) + 1 = 28), the output volume, the parameter
count worked out ((f*f*n_C_prev + 1)*n_C) and the multiply-accumulates; for
POOL layers that they have none; for residual blocks the shortcut and its
shape; for Inception modules each branch, the concatenated channel count and
the cost with and without the 1x1 bottlenecks. A model that does not fit its
input is explained up to the layer where a size falls below 1.

The formulas are the layers' own (``Module.formulas``, one description per
layer that ``summary`` shows too); a user's own module is explained by the
same mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass

from convmath.errors import ShapeError
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

    @property
    def output_shape(self) -> Shape | None:
        return None if self.error or not self.rows else self.rows[-1].output_shape

    def text(self, backward: bool = False) -> str:
        """The forward explanation, or with ``backward`` the back propagation, last layer first."""
        if backward:
            return self._backward_text()
        lines = []
        for row in self.rows:
            indent = "    " * row.depth
            shape = "" if row.output_shape is None else f" -> {row.output_shape}"
            lines.append(f"{indent}{printable(row.name)} ({row.kind}){shape}")
            lines += [f"{indent}    {formula}" for formula in row.formulas]
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
        out = self.output_shape
        start = (
            f"J = softmax cross-entropy of the {out[0]} outputs Z (the loss convmath trains"
            " with), averaged over the m examples:"
            f"\n    back propagation starts from dZ = (softmax(Z) - Q)/m, {out} per example"
            " (Q: the one-hot labels, smoothed if label smoothing is on)"
            if out is not None and len(out) == 1
            else f"back propagation starts from dJ/d(output), {out} per example"
        )
        lines = [start]
        for row in reversed(self.rows):
            if row.is_heading and not row.backward:  # a block's heading: its rows come first
                continue
            indent = "    " * row.depth
            arrow = "" if row.is_heading else f" -> {row.output_shape}"
            lines.append(f"{indent}{printable(row.name)} ({row.kind}){arrow}")
            lines += [f"{indent}    {formula}" for formula in row.backward]
        first = next((row.macs for row in self.rows if row.macs), 0)
        lines.append(
            f"total: about {2 * self.macs - first:,} multiply-accumulates per example: dW and"
            " dA_prev of every CONV and FC layer, twice the forward's, less the first layer's"
            " dA_prev, which is skipped (the input is data: it needs no gradient)"
        )
        return "\n".join(lines)


def explain(model: Module, input_shape: Shape) -> Explanation:
    """Explain ``model`` for examples of ``input_shape``: ``.rows`` and ``.text()``."""
    rows: list[LayerInfo] = []
    try:
        model.describe_into(rows, tuple(input_shape), 0)
    except ShapeError as error:
        return Explanation(rows, str(error))
    return Explanation(rows)
