"""The README is a front door a newcomer walks straight through.

Its set-up is what CI runs (.ci/run reads the two commands from the README), and every
example command of its ```sh blocks runs, in order, in one fresh folder, as a newcomer
pasting them would: each must succeed after the ones before it, without colliding with
their files. Cheap variants keep the run short: the set-up's ``convmath train`` runs as
written; a later ``--epochs N`` becomes N // 10 (at least 1), a later ``train`` without
``--epochs`` trains 3 epochs, and MNIST runs on its first 1,000 training images.
The Python example runs in its place among them. Commands that need what is not here (an
extra, ``mpiexec``, MNIST on disk) are left out and listed in the skip reason when nothing
else fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from loopback import open_local

import convmath as cm
from convmath.cli import main
from convmath.data.datasets import default_data_dir

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP_MARK = "<!-- set-up"


def setup_commands() -> list[str]:
    """The lines of the first ```sh block after the set-up mark, as .ci/run's awk reads them."""
    after = README.split("\n" + SETUP_MARK, 1)[1]
    block = re.search(r"^```sh\n(.*?)^```", after, re.S | re.M).group(1)
    return [line for line in block.splitlines() if line.strip()]


def readme_steps() -> list[list[str] | str]:
    """The README's examples in order: each ```sh command as its words (``a && b`` as two),
    each ```python block as its code."""
    steps: list[list[str] | str] = []
    for language, block in re.findall(r"^```(sh|python)\n(.*?)^```", README, re.S | re.M):
        if language == "python":
            steps.append(block)
            continue
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                steps.append(words[:cut])
                words = words[cut + 1 :]
    return steps


def test_the_setup_is_two_commands_that_ci_reads_from_here():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    first, second = setup_commands()
    assert first.startswith('python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && ')
    assert first.endswith(" && .venv/bin/convmath train")
    assert second == ".venv/bin/python -m pytest"
    assert SETUP_MARK in ci  # .ci/run extracts the block ...
    assert first not in ci  # ... and does not repeat it, so the two cannot drift
    assert "git clone" in ci


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # it saves its weights in the current folder
    (example,) = re.findall(r"```python\n(.*?)```", README, re.S)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    history = namespace["result"].history
    assert len(history) == 5
    assert history[-1]["train_accuracy"] > history[0]["train_accuracy"]
    assert np.mean(namespace["classes"] == namespace["dev"][1]) > 0.85
    assert "dev accuracy 0." in capsys.readouterr().out
    _, _, config = cm.load("cnn.safetensors")
    assert config["dataset"] == "digits"


def cheap(argv: list[str], first_train: bool) -> list[str]:
    """A command as the README gives it, made quick (see the module's docstring)."""
    argv = list(argv)
    if argv[:1] != ["train"] or first_train:
        return argv
    if "--epochs" in argv:
        k = argv.index("--epochs") + 1
        argv[k] = str(max(1, int(argv[k]) // 10))
    elif "--resume" not in argv:
        argv += ["--epochs", "3"]
    if "mnist" in argv:
        argv += ["--train-limit", "1000"]
    return argv


def missing(argv: list[str]) -> str | None:
    """What a convmath command needs that is not here, or None."""
    needs_onnx = any(word.endswith(".onnx") for word in argv) or (
        argv[:1] == ["export"] and "torch" not in argv
    )
    if needs_onnx and importlib.util.find_spec("onnx") is None:
        return "the onnx extra"
    if "mnist" in argv and not list(default_data_dir().glob("mnist/train-images-idx3-ubyte*")):
        return "MNIST on disk"  # no test downloads anything
    return None


def copy_repository_files(argv: list[str], folder: Path) -> None:
    """Files of the repository a command names (an example image) are there in a clone."""
    for word in argv:
        source = ROOT / word
        if word.startswith("runs/") or (folder / word).exists():
            continue  # a run's files are the commands' own, never this checkout's
        if "/" in word and source.is_file():
            (folder / word).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / word)


def serve_until_it_answers(argv: list[str], folder: Path) -> None:
    """``convmath serve`` runs until stopped: start it, ask its API, stop it as Ctrl-C would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "convmath.cli", *argv]  # on a free port by default
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url, printed = None, []
        for line in server.stdout:
            printed.append(line)
            found = re.search(r"open (http://127\.0\.0\.1:\d+)/", line)
            if found:
                url = found.group(1)
                break
        assert url, "".join(printed)
        with open_local(url + "/api/model", timeout=30) as answer:
            assert answer.status == 200
            assert b'"layers"' in answer.read()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


@pytest.mark.slow
def test_the_readme_commands_run_in_order_in_a_fresh_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
    has_mpi = mpiexec is not None and importlib.util.find_spec("mpi4py") is not None
    left_out, ran, first_train = [], [], True
    for words in readme_steps():
        if isinstance(words, str):  # the Python example, run where the commands run
            exec(compile(words, "README.md", "exec"), {})
            capsys.readouterr()
            ran.append("the Python example")
            continue
        shown = shlex.join(words)
        if words[0] in ("python3", ".venv/bin/python", "python") or words[0].endswith("pip"):
            continue  # making the environment and running this suite: done by whoever runs it
        if words[0] == "mpiexec":
            if not has_mpi:
                left_out.append(f"{shown} (needs the mpi extra)")
                continue
            (position,) = [k for k, word in enumerate(words) if word.endswith("convmath")]
            argv = cheap(words[position + 1 :], first_train=False)
            command = [mpiexec, *words[1:position], sys.executable, "-m", "convmath.cli", *argv]
            done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
            assert done.returncode == 0, f"{shown}\n{done.stdout}\n{done.stderr}"
            ran.append(shown)
            continue
        assert words[0].endswith("convmath"), f"the README test cannot run: {shown}"
        argv = cheap(words[1:], first_train)
        first_train = first_train and argv[:1] != ["train"]
        lacking = missing(argv)
        if lacking:
            left_out.append(f"{shown} (needs {lacking})")
            continue
        copy_repository_files(argv, tmp_path)
        started = time.perf_counter()
        if argv[:1] == ["serve"]:
            serve_until_it_answers(argv, tmp_path)
        else:
            status = main(argv)
            assert status == 0, f"{shown}\n{capsys.readouterr().err}"
        capsys.readouterr()
        ran.append(f"{shown} ({time.perf_counter() - started:.1f} s)")
    assert not first_train, "the README's commands train nothing"
    assert (tmp_path / "runs" / "digits-digits_cnn" / "best.safetensors").is_file()
    if left_out:
        pytest.skip("ran " + "; ".join(ran) + "; left out: " + "; ".join(left_out))
