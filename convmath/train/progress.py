"""Progress: a tqdm bar on a terminal or in a notebook; timed lines otherwise (CI, log files).

On a terminal the bar goes to ``stream`` (stderr); in a Jupyter notebook
tqdm's own widget is used (``tqdm.auto``). Anywhere else no bar can be
drawn, so an epoch that lasts longer than ``interval`` seconds gets a line
every ``interval`` seconds with the step, the running loss and accuracy,
the speed and the time left in the epoch. The per-epoch line goes to
``log`` in every case.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

INTERVAL_SECONDS = 10.0


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


class Progress:
    """``log`` receives the per-epoch lines (and, without a bar, the timed lines)."""

    def __init__(
        self,
        epochs: int,
        steps_per_epoch: int,
        stream: TextIO | None = None,
        log: Callable[[str], None] | None = None,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self.stream = stream or sys.stderr
        self.log = log or (lambda line: print(line, flush=True))
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.notebook = stream is None and _in_notebook()
        self.interactive = self.notebook or self.stream.isatty()
        self.interval = interval
        self.bar: Any = None
        self.epoch, self.done, self.started, self.last_line = 0, 0, 0.0, 0.0

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.done = epoch, 0
        self.started = self.last_line = time.perf_counter()
        if self.interactive:
            bar = tqdm
            if self.notebook:  # the widget bar, from the notebook's own packages
                from tqdm.auto import tqdm as bar

            self.bar = bar(
                total=self.steps,
                desc=f"epoch {epoch}/{self.epochs}",
                unit="batch",
                file=None if self.notebook else self.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def step(self, loss: float, accuracy: float, images_per_second: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", img_s=f"{images_per_second:,.0f}"
            )
            self.bar.update(1)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.interval and self.done < self.steps:
            self.last_line = now
            left = (now - self.started) / self.done * (self.steps - self.done)
            self.log(
                f"  epoch {self.epoch}/{self.epochs} step {self.done}/{self.steps}: loss"
                f" {loss:.4f} acc {accuracy:.4f} | {images_per_second:,.0f} img/s |"
                f" {left:.0f} s left in the epoch"
            )

    def end_epoch(self, line: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.log(line)
