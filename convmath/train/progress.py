"""Progress: a tqdm bar on a terminal, one plain line per epoch otherwise (CI, log files)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO


class Progress:
    """``log`` receives the per-epoch lines; the bar goes to ``stream`` (stderr) if a terminal."""

    def __init__(
        self,
        epochs: int,
        steps_per_epoch: int,
        stream: TextIO | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.log = log or (lambda line: print(line, flush=True))
        self.epochs = epochs
        self.steps = steps_per_epoch
        self.interactive = self.stream.isatty()
        self.bar: Any = None

    def start_epoch(self, epoch: int) -> None:
        if self.interactive:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.steps,
                desc=f"epoch {epoch}/{self.epochs}",
                unit="batch",
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
            )

    def step(self, loss: float, accuracy: float, images_per_second: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", img_s=f"{images_per_second:,.0f}"
            )
            self.bar.update(1)

    def end_epoch(self, line: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.log(line)
