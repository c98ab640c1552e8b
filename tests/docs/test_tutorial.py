"""docs/TUTORIAL.md and its Chinese translation run: each snippet prints exactly what they show.

A ```python block is run in one namespace shared by the whole page; the
```text block right after it, if any, is its expected standard output.
After a change that moves a printed number, regenerate the outputs and read
the diff:  python tests/docs/test_tutorial.py --write

docs/TUTORIAL.zh.md is the same tutorial in Simplified Chinese: the same
code and outputs, the prose translated; a test keeps their code the same.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
TUTORIAL = DOCS / "TUTORIAL.md"
TUTORIALS = [TUTORIAL, DOCS / "TUTORIAL.zh.md"]
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


def run(code: str, namespace: dict, number: int, name: str = "TUTORIAL.md") -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<{name} snippet {number}>", "exec"), namespace)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + (
        "\n" if out.getvalue() else ""
    )


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda path: path.name)
def test_every_snippet_prints_what_the_tutorial_shows(tutorial):
    text = tutorial.read_text(encoding="utf-8")
    assert "```py\n" not in text  # only ```python blocks run: no snippet may hide
    namespace: dict = {"__name__": "tutorial"}
    found = snippets(text)
    assert len(found) >= 15
    with np.printoptions():  # the page sets its own print options: keep them to the page
        for number, (code, expected, _) in enumerate(found, 1):
            printed = run(code, namespace, number, tutorial.name)
            assert printed == (expected or ""), f"{tutorial.name} snippet {number}:\n{code}"


def test_the_chinese_tutorial_runs_the_same_code_and_translates_the_prose():
    english, chinese = (path.read_text(encoding="utf-8") for path in TUTORIALS)
    assert [code for code, _, _ in snippets(chinese)] == [code for code, _, _ in snippets(english)]
    prose = BLOCK.sub("", chinese)
    # Chinese prose, in the terms of the article's Chinese translation.
    for term in ("卷积", "池化", "填充", "步幅", "反向传播", "梯度下降", "数据增强", "全连接层"):
        assert term in prose, term
    assert "TUTORIAL.md" in chinese  # each links the other
    assert "TUTORIAL.zh.md" in english


def write() -> None:
    """Fill every snippet's output block with what it prints now."""
    for tutorial in TUTORIALS:
        if tutorial.exists():
            _write(tutorial)


def _write(tutorial: Path) -> None:
    text = tutorial.read_text(encoding="utf-8")
    namespace: dict = {"__name__": "tutorial"}
    pieces, position = [], 0
    with np.printoptions():
        for number, (code, _, match) in enumerate(snippets(text), 1):
            printed = run(code, namespace, number, tutorial.name)
            if match is not None:
                pieces += [text[position : match.start()], f"```text\n{printed}```\n"]
                position = match.end()
            elif printed:
                raise SystemExit(f"a snippet prints but has no ```text block after it:\n{code}")
    tutorial.write_text("".join(pieces) + text[position:], encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write()
