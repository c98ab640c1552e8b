"""``convmath serve`` as a user starts it: the printed address answers, Ctrl-C stops it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from loopback import open_local

from convmath.cli import main
from convmath.cli.serve import newest_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", "--train-limit", "300", "--out", str(out)]) == 0
    return out / "best.safetensors"


def serve(*args, cwd) -> tuple[subprocess.Popen, list[str]]:
    """Start the command; return it with its first lines, up to the address it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "convmath.cli", "serve", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("open http://"):
            return process, lines
    process.kill()
    raise AssertionError(f"no address printed: {lines}")


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=30)
    return process.returncode, rest


def address(lines: list[str]) -> str:
    return lines[-1].split()[1].rstrip("/")


def test_serve_prints_its_address_answers_and_stops_on_ctrl_c(checkpoint, tmp_path):
    process, lines = serve(checkpoint, "--port", "0", cwd=tmp_path)
    try:
        assert lines[0] == f"serving digits_cnn from {checkpoint}"
        url = address(lines)
        assert url.startswith("http://127.0.0.1:")
        with open_local(url + "/api/model", timeout=30) as response:
            assert json.loads(response.read())["input_shape"] == [8, 8, 1]
    finally:
        status, rest = stop(process)
    assert status == 0
    assert "stopping" in rest
    assert "Traceback" not in rest


def test_any_loopback_address_is_served_without_a_warning(checkpoint, tmp_path):
    process, lines = serve(checkpoint, "--host", "127.0.0.2", cwd=tmp_path)
    try:
        assert not any(line.startswith("warning") for line in lines)
        assert address(lines).startswith("http://127.0.0.2:")
    finally:
        assert stop(process)[0] == 0


def test_only_loopback_names_and_addresses_count_as_this_machine_alone():
    from convmath.serve.server import is_loopback

    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com", ""):
        assert not is_loopback(host), host


def test_trust_code_needs_the_checkpoint_named(tmp_path, capsys):
    assert main(["serve", "--trust-code", "--runs", str(tmp_path)]) == 2
    assert "name that checkpoint" in capsys.readouterr().err


def test_the_newest_run_is_served_by_default(tmp_path):
    runs = tmp_path / "runs"
    assert newest_checkpoint(runs) is None
    for name, age in (("old", 100), ("new", 0)):
        (runs / name).mkdir(parents=True)
        for file in ("last.safetensors", "best.safetensors"):
            (runs / name / file).write_bytes(b"x")
            os.utime(runs / name / file, (time.time() - age, time.time() - age))
    (runs / "only-last").mkdir()
    (runs / "only-last" / "last.safetensors").write_bytes(b"x")
    os.utime(runs / "only-last" / "last.safetensors", (time.time() - 50, time.time() - 50))
    assert newest_checkpoint(runs) == runs / "new" / "best.safetensors"


def test_a_bad_checkpoint_or_port_is_one_line_status_2(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing.safetensors")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_with_no_run_the_default_model_is_served(tmp_path):
    """No checkpoint under --runs: the shipped LeNet-5 of MNIST, at once (nothing trained)."""
    process, lines = serve("--runs", tmp_path / "runs", "--port", "0", cwd=tmp_path)
    try:
        runs = tmp_path / "runs"
        assert lines[0] == f"no checkpoint under {runs}/: serving convmath's default model"
        assert lines[1] == "serving lenet5 on MNIST (convmath's default model)"
        with open_local(address(lines) + "/api/model", timeout=30) as response:
            model = json.loads(response.read())
        assert model["input_shape"] == [28, 28, 1]
        assert model["dataset"] == "mnist"
        assert not (tmp_path / "runs").exists()  # nothing was trained
    finally:
        assert stop(process)[0] == 0
