"""The documents stay true: their Python examples run and their console excerpts are real output.

The README's own commands and example are run by test_readme.py; this file covers the
pages they moved to: docs/LIBRARY.md (the library's examples), docs/COMMANDS.md (the
excerpts of `convmath edges` and `convmath explain`) and docs/TRAINING.md (a model of
your own code).
"""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

from convmath.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_library_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example saves its weights in the current folder
    functional, training = re.findall(r"```python\n(.*?)```", page("LIBRARY.md"), re.S)
    namespace: dict = {}
    exec(compile(functional, "LIBRARY.md", "exec"), namespace)
    assert namespace["A1"].shape == (64, 14, 14, 6)
    assert namespace["W1"].grad.shape == (5, 5, 1, 6)
    assert np.isfinite(namespace["J"].item())
    namespace = {}
    exec(compile(training, "LIBRARY.md", "exec"), namespace)
    history = namespace["result"].history
    assert len(history) == 5
    assert history[-1]["train_accuracy"] > history[0]["train_accuracy"]
    assert np.mean(namespace["classes"] == namespace["dev"][1]) > 0.85
    np.testing.assert_allclose(namespace["probabilities"].sum(axis=1), 1, rtol=1e-5)
    assert main(["evaluate", "cnn.safetensors"]) == 0  # the file every command reads


def test_the_edges_excerpt_matches_the_command(capsys):
    (block,) = re.findall(r"```console\n\$ convmath (.*?)\n(.*?)```", page("COMMANDS.md"), re.S)
    argv, shown = block[0].split(), block[1]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for line in shown.splitlines():
        if line != "...":
            assert line in out.splitlines(), line


def test_the_explain_excerpt_is_real_output(capsys):
    block = page("COMMANDS.md").split("`convmath explain lenet5` works out every layer")[1]
    excerpt = re.search(r"```text\n(.*?)```", block, re.S).group(1)
    assert main(["explain", "lenet5"]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in excerpt.splitlines():
        if line != "...":
            assert line in out, line


def test_the_own_model_example_runs(tmp_path, monkeypatch, capsys):
    (own_model,) = re.findall(r"```python\n(# mynets.py.*?)```", page("TRAINING.md"), re.S)
    (tmp_path / "mynets.py").write_text(own_model)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mynets", raising=False)
    assert main(["summary", "mynets:tiny", "--input-shape", "8,8,1"]) == 0
    assert "690 parameters" in capsys.readouterr().out
    assert main(["train", "--model", "mynets:tiny", "--width", "6", "--epochs", "1"]) == 0
    checkpoint = str(tmp_path / "runs" / "digits-mynets.tiny" / "best.safetensors")
    assert main(["evaluate", checkpoint]) == 2
    assert "pass --trust-code" in capsys.readouterr().err
    assert main(["evaluate", checkpoint, "--trust-code"]) == 0
    sys.modules.pop("mynets", None)


def test_the_lr_find_excerpt_is_real_output(tmp_path, monkeypatch, capsys):
    """TRAINING.md's `convmath lr-find` on the digits: the same table, rates and suggestion."""
    (excerpt,) = re.findall(r"```console\n\$ convmath lr-find\n(.*?)```", page("TRAINING.md"), re.S)
    monkeypatch.chdir(tmp_path)
    assert main(["lr-find"]) == 0
    out = capsys.readouterr().out
    shown = excerpt.splitlines()
    if importlib.util.find_spec("matplotlib") is None:  # the picture's line says so instead
        shown = shown[:-1]
    assert out.splitlines()[: len(shown)] == shown


def test_the_lr_find_python_example_runs():
    (example,) = re.findall(
        r"```python\n(from convmath.run import .*?)```", page("TRAINING.md"), re.S
    )
    namespace: dict = {}
    exec(compile(example, "TRAINING.md", "exec"), namespace)
    assert namespace["found"].finding.steps > namespace["finding"].steps / 2
    assert namespace["finding"].steps <= 200
    assert 1e-6 <= namespace["finding"].suggestion <= 1.0
