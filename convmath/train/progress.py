"""Progress: a tqdm bar on a terminal, one plain line per epoch otherwise (CI, log files)."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    def __init__(self, epochs: int, steps_per_epoch: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
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
        print(line, flush=True)
