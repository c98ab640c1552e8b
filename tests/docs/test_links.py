"""The documents hold together: every link resolves, every picture is there and small, and
they speak of the project only (no work tickets, no sessions, no paths outside it)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("benchmarks/*.md"),
    ]
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# The architecture notes are kept by their own owner; the word check leaves them out.
OWN_WORDS = [path for path in DOCUMENTS if path.name != "ARCHITECTURE.md"]
FOREIGN = re.compile(r"\bissues?\b|\bsessions?\b|shared/|\.\./shared", re.IGNORECASE)


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("document", DOCUMENTS, ids=name)
def test_every_relative_link_resolves(document):
    text = document.read_text(encoding="utf-8")
    targets = [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]
    for target in targets:
        path = target.split("#", 1)[0]
        if path:
            assert (document.parent / path).exists(), f"{name(document)} links to {target}"


def test_the_readme_links_every_document_and_a_small_picture():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = set(LINK.findall(readme))
    for document in ROOT.glob("docs/*.md"):
        assert f"docs/{document.name}" in links, f"the README does not link {document.name}"
    pictures = [target for target in links if target.endswith(".png")]
    assert pictures
    for picture in pictures:
        assert (ROOT / picture).stat().st_size < 150_000, picture


@pytest.mark.parametrize("document", OWN_WORDS, ids=name)
def test_documents_speak_of_the_project_only(document):
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
        assert not FOREIGN.search(line), f"{name(document)}:{number}: {line}"
