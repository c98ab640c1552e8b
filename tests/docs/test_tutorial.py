"""docs/TUTORIAL.md runs: every snippet is executed in order and prints exactly what the page shows.

A ```python block is run in one namespace shared by the whole page; the
```text block right after it, if any, is its expected standard output.
After a change that moves a printed number, regenerate the outputs and read
the diff:  python tests/docs/test_tutorial.py --write
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "TUTORIAL.md"
BLOCK = re.compile(r"```(python|text)\n(.*?)```\n", re.DOTALL)


def snippets(text: str) -> list[tuple[str, str | None, re.Match | None]]:
    """(code, expected output or None, the output block's match) in page order."""
    blocks = list(BLOCK.finditer(text))
    found = []
    for k, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        adjacent = following is not None and text[block.end() : following.start()].strip() == ""
        if adjacent and following.group(1) == "text":
            found.append((block.group(2), following.group(2), following))
        else:
            found.append((block.group(2), None, None))
    return found


def run(code: str, namespace: dict, number: int) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<TUTORIAL.md snippet {number}>", "exec"), namespace)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + (
        "\n" if out.getvalue() else ""
    )


def test_every_snippet_prints_what_the_tutorial_shows():
    text = TUTORIAL.read_text(encoding="utf-8")
    assert "```py\n" not in text  # only ```python blocks run: no snippet may hide
    namespace: dict = {"__name__": "tutorial"}
    found = snippets(text)
    assert len(found) >= 15
    with np.printoptions():  # the page sets its own print options: keep them to the page
        for number, (code, expected, _) in enumerate(found, 1):
            printed = run(code, namespace, number)
            assert printed == (expected or ""), f"snippet {number}:\n{code}"


def write() -> None:
    """Fill every snippet's output block with what it prints now."""
    text = TUTORIAL.read_text(encoding="utf-8")
    namespace: dict = {"__name__": "tutorial"}
    pieces, position = [], 0
    with np.printoptions():
        for number, (code, _, match) in enumerate(snippets(text), 1):
            printed = run(code, namespace, number)
            if match is not None:
                pieces += [text[position : match.start()], f"```text\n{printed}```\n"]
                position = match.end()
            elif printed:
                raise SystemExit(f"a snippet prints but has no ```text block after it:\n{code}")
    TUTORIAL.write_text("".join(pieces) + text[position:], encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write()
