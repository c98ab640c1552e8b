"""A server of a small trained digits model on a free loopback port, for the API and page tests;
the browser that drives the page, and where its screenshots go."""

import os
from pathlib import Path

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


@pytest.fixture(scope="module")
def chromium():
    """The system's Chromium, driven by Playwright (an optional dependency: imported here)."""
    from browser import ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Where screenshots go: ``$CONVMATH_ARTIFACTS/serve`` (CI keeps it), else a tmp folder."""
    chosen = os.environ.get("CONVMATH_ARTIFACTS")
    folder = Path(chosen) / "serve" if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
