"""Learning-rate schedules: the learning rate as a function of the step t (0-based).

A schedule is called with the step number before each update and returns
the learning rate to use; it holds no state, so resuming at step t gives
the same rate as an uninterrupted run.
"""

from __future__ import annotations

import math

from convmath.errors import InvalidArgumentError
from convmath.shapes import number_in


class Schedule:
    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Schedule):
    """alpha_t = alpha."""

    def __init__(self, lr: float) -> None:
        self.lr = number_in(lr, "lr", 0.0)

    def __call__(self, step: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """alpha_t = alpha * gamma^floor(t / step_size): e.g. x0.7 after every epoch."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = number_in(lr, "lr", 0.0)
        if step_size < 1:
            raise InvalidArgumentError(f"step_size must be >= 1, got {step_size}")
        self.step_size = step_size
        self.gamma = number_in(gamma, "gamma", 0.0)

    def __call__(self, step: int) -> float:
        try:
            return self.lr * self.gamma ** (step // self.step_size)
        except OverflowError:  # gamma > 1 for very many steps: the rate has no bound
            return math.inf


class WarmupCosine(Schedule):
    """Linear warm-up from 0 to alpha over ``warmup`` steps, then cosine decay to ``min_lr``.

    alpha_t = alpha (t + 1) / warmup for t < warmup, then
    alpha_t = min_lr + (alpha - min_lr) (1 + cos(pi u)) / 2, u = (t - warmup) / (total - warmup).
    """

    def __init__(self, lr: float, total_steps: int, warmup: int = 0, min_lr: float = 0.0) -> None:
        self.lr = number_in(lr, "lr", 0.0)
        if total_steps < 1 or not 0 <= warmup < total_steps:
            raise InvalidArgumentError(
                f"need total_steps >= 1 and 0 <= warmup < total_steps, got {total_steps}, {warmup}"
            )
        self.total_steps, self.warmup = total_steps, warmup
        self.min_lr = number_in(min_lr, "min_lr", 0.0)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = min((step - self.warmup) / max(self.total_steps - self.warmup, 1), 1.0)
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class OneCycle(Schedule):
    """The one-cycle policy (Smith 2018), cosine form as PyTorch's OneCycleLR.

    Rises from max_lr / div_factor to max_lr over the first pct_start of the
    steps, then falls to max_lr / (div_factor * final_div_factor), both along
    half cosines.
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        self.max_lr = number_in(max_lr, "max_lr", 0.0)
        if total_steps < 2:
            raise InvalidArgumentError(f"one-cycle needs total_steps >= 2, got {total_steps}")
        self.total_steps = total_steps
        self.pct_start = number_in(pct_start, "pct_start", 0.0, 1.0, low_open=True)
        self.initial = self.max_lr / div_factor
        self.final = self.initial / final_div_factor

    @staticmethod
    def _cosine(start: float, end: float, fraction: float) -> float:
        return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2

    def __call__(self, step: int) -> float:
        peak = self.pct_start * self.total_steps - 1
        if step <= peak:
            return self._cosine(self.initial, self.max_lr, step / peak if peak > 0 else 1.0)
        remaining = self.total_steps - 1 - peak
        return self._cosine(self.max_lr, self.final, min((step - peak) / remaining, 1.0))


class ExponentialRamp(Schedule):
    """alpha_t = start * (end / start)^(t / (steps - 1)): from start at t = 0 to end at
    t = steps - 1, the same factor every step (the learning-rate range test's ramp)."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = number_in(start, "start", 0.0, low_open=True)
        self.end = number_in(end, "end", 0.0, low_open=True)
        if steps < 2:
            raise InvalidArgumentError(f"an exponential ramp needs steps >= 2, got {steps}")
        self.steps = steps

    def __call__(self, step: int) -> float:
        return self.start * (self.end / self.start) ** (step / (self.steps - 1))
