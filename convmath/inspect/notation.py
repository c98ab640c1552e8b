"""The article's names of what each row computes: Z^[l], A^[l], Z~^[l], with l counted.

The article numbers its layers: the image is A^[0], and layer l (a CONV, a
POOL or an FC layer) turns A^[l-1] into its output. A CONV or FC layer
gives Z^[l] (before the activation), the activation psi gives
A^[l] = psi(Z^[l]) within the same l, and a POOL layer gives A^[l]. Batch
normalisation, between a convolution and its activation, takes Z^[l] and
gives Z~^[l] ("Z tilde"; psi then gives A^[l] = psi(Z~^[l])). Reshapes and
dropout keep their input's name. Each layer declares its own part
(``Module.output_symbol``, ``Module.starts_layer``); this module counts l
along the rows of ``explain`` (inside blocks too, in the order the rows are
listed) and fills it into the layers' equations, written with ``[l]``.

>>> from convmath import models
>>> import numpy as np
>>> from convmath.inspect import explain
>>> rows = explain(models.build("lenet5", (28, 28, 1), 10, rng=np.random.default_rng(0)),
...                (28, 28, 1)).rows
>>> [(row.name, name.text) for row, name in zip(rows, names(rows))][:4]
[('conv1', 'Z^[1]'), ('relu1', 'A^[1]'), ('pool1', 'A^[2]'), ('conv2', 'Z^[3]')]
>>> numbered("dA^[l-1] = dZ^[l] W^T; a[l] untouched", 3)
'dA^[2] = dZ^[3] W^T; a[l] untouched'
>>> numbered("A^[l] = psi(Z^[l])", 3, after_tilde=True)
'A^[3] = psi(Z~^[3])'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from convmath.nn.module import LayerInfo

TILDE = "~"
_LAYER_INDEX = re.compile(r"(\^\{?)\[l(-1)?\]")  # ^[l], ^[l-1], ^{[l]}, ^{[l-1]}


@dataclass(frozen=True)
class Name:
    """What one row's output is called: ``letter`` ("Z", "A", "Z~") of layer ``l``."""

    letter: str
    l: int  # noqa: E741 (the article's name)
    # An activation after batch norm: the Z of its equations is Z~ (A^[l] = psi(Z~^[l])).
    after_tilde: bool = False

    @property
    def text(self) -> str:
        """Plain text: ``Z^[1]``, ``Z~^[3]``."""
        return f"{self.letter}^[{self.l}]"

    @property
    def tex(self) -> str:
        r"""TeX: ``Z^{[1]}``, ``\tilde{Z}^{[3]}``."""
        base = self.letter.rstrip(TILDE)
        if self.letter.endswith(TILDE):
            base = f"\\tilde{{{base}}}"
        return f"{base}^{{[{self.l}]}}"


def names(rows: Sequence[LayerInfo]) -> list[Name | None]:
    """The name of each row's output (None for a block's heading, which has none)."""
    found: list[Name | None] = []
    l, letter = 0, "A"  # noqa: E741 (the article's name): the input is A^[0]
    for row in rows:
        if row.is_heading:
            found.append(None)
            continue
        if row.starts_layer:
            l += 1  # noqa: E741
        after_tilde = letter == "Z" + TILDE and row.symbol == "A" and not row.starts_layer
        if row.symbol == TILDE:
            letter = letter.rstrip(TILDE) + TILDE
        elif row.symbol is not None:
            letter = row.symbol
        found.append(Name(letter, l, after_tilde))
    return found


def numbered(text: str, l: int, after_tilde: bool = False) -> str:  # noqa: E741
    """``text`` (plain or TeX) with the article's ``[l]`` and ``[l-1]`` made numbers.

    ``after_tilde``: the row is an activation whose input is batch norm's Z~^[l],
    which its equations call Z^[l].
    """
    if "[l" not in text:  # most lines: no regex needed
        return text
    if after_tilde:
        text = text.replace("Z^[l]", "Z~^[l]").replace("Z^{[l]}", "\\tilde{Z}^{[l]}")
    return _LAYER_INDEX.sub(lambda m: f"{m.group(1)}[{l - 1 if m.group(2) else l}]", text)


def in_notation(lines: Sequence[str], name: Name | None) -> list[str]:
    """A row's equations with its layer number filled in (as they are for a heading)."""
    if name is None:
        return list(lines)
    return [numbered(line, name.l, name.after_tilde) for line in lines]


__all__ = ["Name", "in_notation", "names", "numbered"]
