"""Model summaries: each layer's output shape, parameter count and multiply-accumulates."""

from __future__ import annotations

from convmath.nn.module import LayerInfo, Module
from convmath.schema import printable


def summary_rows(model: Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """One row per layer (blocks expand into their layers), checked against ``input_shape``.

    The rows are the layers' own descriptions (``Module.describe``), which
    ``explain`` shows with their formulas; the blocks' headings are left out.
    """
    return [row for row in model.describe(tuple(input_shape)) if not row.is_heading]


def summary_table(model: Module, input_shape: tuple[int, ...], title: str = "") -> str:
    """A fixed-width table with totals; parameters counted once even if shared."""
    rows = summary_rows(model, input_shape)
    names = [printable(row.name) for row in rows]  # a stored model's names, control characters
    # in full: as wide as the longest (24 at least, the width of the shorter models')
    n = max([24, *(len(name) + 1 for name in names)])
    k = min(40, max([16, *(len(row.kind) for row in rows)]))  # AdaptiveAvgPool2D, ...
    header = f"{'layer':<{n}} {'type':<{k}} {'output shape':<16} {'parameters':>12} {'MACs':>14}"
    lines = [printable(title)] if title else []
    lines += [header, "-" * len(header)]
    lines.append(f"{'input':<{n}} {'':<{k}} {tuple(input_shape)!s:<16} {'':>12} {'':>14}")
    for name, row in zip(names, rows, strict=True):
        lines.append(
            f"{name:<{n}} {printable(row.kind)[:40]:<{k}} {row.output_shape!s:<16}"
            f" {row.parameters:>12,} {row.macs:>14,}"
        )
    total_macs = sum(r.macs for r in rows)
    lines.append("-" * len(header))
    total = model.num_parameters()
    lines.append(f"{'total':<{n}} {'':<{k}} {'':<16} {total:>12,} {total_macs:>14,}")
    lines.append(
        f"{model.num_parameters():,} parameters; {total_macs:,} multiply-accumulates"
        f" ({2 * total_macs / 1e6:.2f} MFLOP) per example forward"
    )
    return "\n".join(line.rstrip() for line in lines)
