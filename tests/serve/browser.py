"""Driving the page in the system's Chromium: its flags, and a page that collects console errors.

The fixtures ``chromium`` and ``artifacts`` (where screenshots go) are in conftest.py. Test
modules that need a browser call ``pytest.importorskip("playwright.sync_api")`` and
:func:`skip_without_chromium` first.
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The page is settled once the prediction shows the input last asked for.
SETTLED = (
    "document.body.dataset.input !== undefined && document.querySelector("
    "'[data-testid=prediction]').dataset.source === document.body.dataset.input"
)


def skip_without_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} to drive the page", allow_module_level=True)


class Browser:
    """A page of the served app with every console error and page error collected."""

    def __init__(self, page):
        self.page = page
        self.problems = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def settle(self):
        self.page.wait_for_function(SETTLED, timeout=15_000)

    def draw_stroke(self, fractions):
        """Drags the mouse through points given as fractions of the pad."""
        self.draw([fractions])

    def draw(self, strokes):
        """Draws strokes (each a list of points as fractions of the pad), then waits for the
        page to show what the model says of the drawing."""
        pad = self.page.get_by_test_id("draw-canvas")
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        for fractions in strokes:
            points = [
                (box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in fractions
            ]
            self.page.mouse.move(*points[0])
            self.page.mouse.down()
            for point in points[1:]:
                self.page.mouse.move(*point, steps=6)
            self.page.mouse.up()
        self.page.wait_for_function("document.body.dataset.input.startsWith('drawing')")
        self.settle()
