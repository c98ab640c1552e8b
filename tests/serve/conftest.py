"""A server of a small trained digits model on a free loopback port, for the API and page tests."""

import pytest

from convmath.cli import main
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import start


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("served-run")
    assert main(["train", "--epochs", "4", "--out", str(out)]) == 0
    return out / "best.safetensors"


@pytest.fixture(scope="module")
def served(digits_checkpoint, tmp_path_factory):
    """The running server (``.url``, ``.app``); live training writes under a fresh runs/."""
    runs = tmp_path_factory.mktemp("runs")
    app = App(ServedModel.load(digits_checkpoint), LiveTraining(runs))
    running = start(app)
    yield running
    running.close()
