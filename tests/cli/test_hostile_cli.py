"""Every hostile or careless input gets one clear line and status 2, fast and in bounded memory.

The corpus (tests/hostile_corpus.py) is generated at test time: damaged and
hostile checkpoints for every command that reads one, out-of-range and
non-finite option values, decompression bombs, lying headers and sparse
multi-gigabyte files. Each runs in this process (for the count) and a sample
runs as a real ``convmath`` process, whose exit status, standard error and
peak memory (from the kernel) are checked too.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hostile_corpus import (
    CHECKPOINT_CASES,
    CHECKPOINT_REFUSALS,
    DATA_CASES,
    DATA_REFUSALS,
    NON_FINITE_AND_OUT_OF_RANGE,
    OPTION_CASES,
    OUTPUT_CASES,
    OUTPUT_REFUSALS,
    TRAIN_NUMERIC_OPTIONS,
    Original,
    _set,
    checkpoint_commands,
    run_measured,
)

import convmath
from convmath import nn
from convmath.cli import main
from convmath.run import TrainConfig, run_training

Image = pytest.importorskip("PIL.Image")

MAX_SECONDS = 2.0
MAX_BYTES = 500 << 20


def assert_refused(argv: list[str], command: str) -> str:
    status, lines, seconds, peak = run_measured(argv)
    assert status == 2, (argv, lines)
    assert len(lines) == 1, lines
    prefix = f"convmath {command}: error: " if command else "convmath: error: "
    assert lines[0].startswith(prefix), lines
    assert "Traceback" not in lines[0]
    assert seconds < MAX_SECONDS, (argv, seconds)
    assert peak < MAX_BYTES, (argv, peak)
    return lines[0]


@pytest.fixture(scope="module")
def workshop(tmp_path_factory) -> Path:
    """A valid checkpoint of the default digits model, and an 8x8 PNG to predict."""
    root = tmp_path_factory.mktemp("hostile")
    run_training(TrainConfig(epochs=1, train_limit=200), root / "run", log=lambda _: None)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "digit.png")
    return root


@pytest.fixture(scope="module")
def original(workshop) -> Original:
    return Original(workshop / "run" / "last.safetensors")


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_hostile_checkpoint_is_refused_by_every_command(workshop, original, tmp_path, case):
    checkpoint = CHECKPOINT_CASES[case](original, tmp_path / f"{case}.safetensors")
    for command, argv in checkpoint_commands(checkpoint, workshop / "digit.png", tmp_path).items():
        line = assert_refused(argv, argv[0])
        assert checkpoint.name in line, (command, line)
        assert CHECKPOINT_REFUSALS[case] in line, (command, line)
    assert not (tmp_path / "resumed" / "last.safetensors").exists()
    assert not (tmp_path / "exported.onnx").exists()


def test_every_checkpoint_case_says_why_it_is_refused():
    assert set(CHECKPOINT_REFUSALS) == set(CHECKPOINT_CASES)


def test_a_device_file_is_refused_without_reading_it(workshop, tmp_path):
    for argv in checkpoint_commands(Path("/dev/zero"), workshop / "digit.png", tmp_path).values():
        assert "/dev/zero: not a regular file" in assert_refused(argv, argv[0])


def _contents(folder: Path) -> dict[str, bytes | str]:
    """Every name under ``folder``: a file's bytes, a link's target, "folder" for a folder."""
    return {
        str(p.relative_to(folder)): (
            str(p.readlink()) if p.is_symlink() else "folder" if p.is_dir() else p.read_bytes()
        )
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_an_output_never_destroys_an_input(workshop, tmp_path, case):
    run = tmp_path / "run"
    shutil.copytree(workshop / "run", run)
    (tmp_path / "elsewhere").mkdir()
    argv = OUTPUT_CASES[case](run, tmp_path / "elsewhere")
    before = _contents(tmp_path)
    assert OUTPUT_REFUSALS[case] in assert_refused(argv, argv[0])
    assert _contents(tmp_path) == before  # nothing replaced, nothing added (no temporary file)


def test_every_output_case_says_why_it_is_refused():
    assert set(OUTPUT_REFUSALS) == set(OUTPUT_CASES)


# Names a file may carry: terminal sequences (set the window title, clear the screen, the
# one-byte CSI), a bell, line breaks, a NUL, a bidirectional override, and one plain name.
HOSTILE_NAMES = [
    "\x1b]0;owned\x07",
    "\x1b[2J\x1b[H",
    "\x9b31mred",
    "two\nlines",
    "back\rspace",
    "bell\x07",
    "nul\x00",
    "tab\there",
    "\u202eexe.txt",
    "chat",
]


def run_captured(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_printable(text: str) -> None:
    """Nothing but printable characters and line breaks between lines."""
    bad = sorted({c for c in text if not c.isprintable() and c != "\n"})
    assert not bad, (bad, text)


def test_class_names_from_a_file_reach_the_terminal_escaped(workshop, original, tmp_path):
    checkpoint = original.with_config(
        tmp_path / "names.safetensors", _set("preprocessing", "classes", HOSTILE_NAMES)
    )
    status, evaluated, err = run_captured(["evaluate", str(checkpoint)])
    assert status == 0, err
    assert_printable(evaluated)
    assert "\n\\x1b]0;owned\\x07 " in evaluated  # the per-class table's first row
    assert "\ntwo\\nlines " in evaluated
    status, predicted, err = run_captured(
        ["predict", str(checkpoint), str(workshop / "digit.png"), "--top", "10"]
    )
    assert status == 0, err
    assert_printable(predicted)
    assert len(predicted.splitlines()) == 1
    assert "\\u202eexe.txt 0." in predicted


def test_layer_names_from_a_file_reach_the_terminal_escaped(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Sequential({"\x1b[2Jflat": nn.Flatten(), "dense\n\rx": nn.Dense(64, 10, rng=rng)})
    path = convmath.save(model, tmp_path / "m.safetensors", input_shape=(8, 8, 1))
    for command in (
        ["summary", str(path)],
        ["explain", str(path)],
        ["explain", str(path), "--backward"],
    ):
        status, printed, err = run_captured(command)
        assert status == 0, err
        assert_printable(printed)
        assert "\\x1b[2Jflat" in printed
        assert "dense\\n\\rx" in printed


def test_an_error_quoting_a_hostile_name_is_one_escaped_line(tmp_path):
    missing = tmp_path / "gone\x1b[2J\nsecond line.safetensors"
    line = assert_refused(["summary", str(missing)], "summary")
    assert_printable(line)
    assert "gone\\x1b[2J second line.safetensors" in line  # the line break: a space


def test_threads_the_system_refuses_are_one_line_before_any_work(workshop, tmp_path, monkeypatch):
    """Where the system starts no more threads (a container's process limit), --threads 1000
    fails at once, the threads it did start stopped, nothing written."""
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("convmath-chunk-") and len(started) >= 7:
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    refusal = "cannot start 1000 worker threads: the system refused one after 7"
    checkpoint = str(workshop / "run" / "last.safetensors")
    for argv in (
        ["train", "--threads", "1000", "--epochs", "1", "--out", str(tmp_path / "run")],
        ["evaluate", checkpoint, "--threads", "1000"],
        ["predict", checkpoint, str(workshop / "digit.png"), "--threads", "1000"],
    ):
        started.clear()
        line = assert_refused(argv, argv[0])
        assert refusal in line
        assert "(can't start new thread); ask for fewer" in line
        for thread in started:
            thread.join(timeout=5)
            assert not thread.is_alive()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option", TRAIN_NUMERIC_OPTIONS)
@pytest.mark.parametrize("value", NON_FINITE_AND_OUT_OF_RANGE)
def test_non_finite_and_out_of_range_numbers_are_refused(tmp_path, option, value):
    line = assert_refused(["train", option, value, "--out", str(tmp_path / "run")], "train")
    assert f"argument {option}: expected" in line


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_hostile_option_is_refused(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    argv = OPTION_CASES[case]
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run")]
    unknown = case == "unknown-command"  # reported by the top-level parser
    assert_refused(argv, "" if unknown else argv[0])


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_hostile_data_is_refused(tmp_path, case):
    argv = DATA_CASES[case](tmp_path)
    assert DATA_REFUSALS[case] in assert_refused(argv, argv[0])


def test_every_data_case_says_why_it_is_refused():
    assert set(DATA_REFUSALS) == set(DATA_CASES)


# One case of each class as a real process: its exit status, its standard error, its wall time
# and its peak resident memory as the kernel counted it.
PROCESS_SAMPLE = {
    "checkpoint": [
        ("deep-json-config", "evaluate"),
        ("5000-digit-int", "predict"),
        ("bfloat16-tensor", "summary"),
        ("200k-tensors", "evaluate"),
        ("sparse-3gb", "evaluate"),
        ("sparse-1gb-of-zeros", "featuremaps"),
        ("input-shape-100tb", "explain"),
        ("width-1e6", "resume"),
        ("nan-weight", "predict"),
        ("class-list-mismatch", "confusion"),
    ],
    "option": ["width-1e6", "gradcheck-memory", "edges-padding-1e6", "augment-crop-1e30"],
    "data": [
        "idx-gzip-bomb",
        "folder-ico-named-png",
        "history-nan",
        "edges-6324-pixels-rgb",
        "folder-of-huge-images-of-two-sizes",
        "folder-model-does-not-fit-its-images",
        "edges-png-chunk-claims-3gb",
    ],
}


# A small process starts convmath and reports its peak resident memory: measured from this
# test process instead, the peak would include this process's own pages, which a child has
# mapped between fork and exec.
MEASURE = """
import os, sys
pid = os.posix_spawn(
    sys.executable,
    [sys.executable, "-m", "convmath.cli", *sys.argv[1:]],
    os.environ,
    file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)],
)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss * 1024)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(argv: list[str], cwd: Path) -> tuple[int, list[str], float, int]:
    """(status, lines on standard error, seconds, peak resident bytes) of ``convmath argv``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *argv], cwd=cwd, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    return done.returncode, done.stderr.splitlines(), seconds, int(done.stdout)


def _sample() -> list[tuple[str, str, str]]:
    rows = [("checkpoint", case, command) for case, command in PROCESS_SAMPLE["checkpoint"]]
    rows += [("option", case, "") for case in PROCESS_SAMPLE["option"]]
    return rows + [("data", case, "") for case in PROCESS_SAMPLE["data"]]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "case", "command"), _sample())
def test_hostile_input_in_a_real_process(workshop, original, tmp_path, kind, case, command):
    if kind == "checkpoint":
        checkpoint = CHECKPOINT_CASES[case](original, tmp_path / f"{case}.safetensors")
        argv = checkpoint_commands(checkpoint, workshop / "digit.png", tmp_path)[command]
    elif kind == "option":
        argv = OPTION_CASES[case] + (["--out", "run"] if OPTION_CASES[case][0] == "train" else [])
    else:
        argv = DATA_CASES[case](tmp_path)
    status, lines, seconds, peak = run_process(argv, tmp_path)
    assert status == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"convmath {argv[0]}: error: ")
    assert seconds < MAX_SECONDS + 1  # the interpreter and NumPy start in about 0.3 s
    assert peak < MAX_BYTES, peak


def test_a_thousand_classes_draw_their_confusion_matrix_in_seconds(workshop, tmp_path):
    from convmath import models
    from convmath.train import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(workshop / "run" / "last.safetensors")
    model = models.build("digits_cnn", (8, 8, 1), 1000, rng=np.random.default_rng(0))
    checkpoint.model = model.state_dict()
    checkpoint.config["model"] = model.config
    checkpoint.config["preprocessing"]["classes"] = [f"class {k}" for k in range(1000)]
    save_checkpoint(tmp_path / "wide.safetensors", checkpoint)
    started = time.perf_counter()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["confusion", str(tmp_path / "wide.safetensors"), "--out-dir", str(tmp_path)])
    assert status == 0, err.getvalue()
    assert time.perf_counter() - started < 15
    assert (tmp_path / "confusion.png").stat().st_size > 0
