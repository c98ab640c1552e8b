"""The learning-rate range test (Smith 2015, section 3.3; fastai's ``lr_find``).

Train for a few hundred steps with a rate that grows exponentially,

    alpha_i = start_lr * (end_lr / start_lr) ** (i / (steps - 1)),   i = 0 .. steps - 1,

and record J at each step. The raw losses are noisy, so they are smoothed by
an exponential moving average with bias correction (as Adam corrects its
moments):

    v_i = beta v_{i-1} + (1 - beta) J_i,   v_{-1} = 0,   smoothed_i = v_i / (1 - beta^(i+1)).

The test stops once the loss diverges: a smoothed loss above ``diverge``
(4) times the best so far, or a J, a gradient or a weight that is NaN or
infinite. J falls while the rate is too small to matter, falls fastest
where the rate is about right, then turns and climbs.

The suggested rate (``LRFinding.suggestion``) is where the smoothed loss
falls fastest: the most negative slope d(smoothed J) / d(log10 rate) before
the smoothed loss's minimum, each slope a secant over +-5% of the steps taken
(+-15 of 300 steps, 0.4 of a decade either way with the default range), so that
one noisy step cannot choose it. Where too few steps were taken to read a
slope, it is the rate at the minimum divided by 10. Both are reported. On the
digits, the minimum / 10 moved between 0.0015 and 0.034 from one seed or
smoothing factor to another, the steepest descent between 0.0019 and 0.0054
(Adam; a 3-epoch run trains well from 0.002 to 0.006 there, and fails at 0.025).

Nothing of the trainer changes: its weights, buffers, gradients, optimizer
slots and step count, its state (epoch, step, history), its schedule, its
random generators (batches, augmentation, dropout) and every module's
training mode are copied before the test and put back after it (a test
checks the weights bit for bit), also when the test is interrupted.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from convmath.errors import InvalidArgumentError, NonFiniteError
from convmath.kernels.parallel import single_threaded_blas
from convmath.kernels.runtime import tune_allocator
from convmath.optim import ExponentialRamp
from convmath.schema import Integer, Number
from convmath.train.trainer import Trainer

START_LR = 1e-7
END_LR = 10.0
STEPS = 300  # about 40 steps per decade of rates
# The moving average of J spans about 1 / (1 - beta) = 20 steps: it lags the raw loss by
# about half a decade of rates (0.98, fastai's, lags 50 steps: more than a decade here).
BETA = 0.95
DIVERGE = 4.0  # stop once the smoothed loss is above 4x the best so far
SLOPE_WINDOW = 0.05  # each slope of the smoothed loss spans +-5% of the steps taken
FALLBACK_DIVISOR = 10.0  # without a slope to read: the rate at the minimum / 10
SKIP_START = 10  # the first smoothed values rest on few steps: no slope is read there

LEARNING_RATE = Number(0, 1e3, low_open=True)
STEP_COUNT = Integer(10, 100_000)


@dataclass(frozen=True)
class LRFinding:
    """The range test's record: one entry per step taken, and the rates it suggests."""

    lrs: np.ndarray  # the rate of each step taken
    losses: np.ndarray  # J of each step's batch, before its update
    smoothed: np.ndarray  # the bias-corrected moving average of J
    stopped: str  # why it stopped: "end", "diverged" or "non-finite"
    start_lr: float
    end_lr: float

    @property
    def steps(self) -> int:
        return len(self.lrs)

    @property
    def minimum(self) -> float:
        """The rate at which the smoothed loss was lowest."""
        return float(self.lrs[int(np.argmin(self.smoothed))])

    @property
    def steepest(self) -> float | None:
        """The rate where the smoothed loss falls fastest against log10(rate), before its
        minimum (None when too few steps were taken to read a slope).

        The slope at step i is the secant from step i - w to step i + w, w =
        5% of the steps taken (at least 1).
        """
        low = int(np.argmin(self.smoothed))
        w = max(1, round(SLOPE_WINDOW * self.steps))
        centres = np.arange(SKIP_START + w, low - w + 1)
        if not len(centres):
            return None
        x = np.log10(self.lrs)
        slopes = (self.smoothed[centres + w] - self.smoothed[centres - w]) / (
            x[centres + w] - x[centres - w]
        )
        return float(self.lrs[centres[int(np.argmin(slopes))]])

    @property
    def suggestion(self) -> float:
        """The suggested rate: :attr:`steepest`, or :attr:`minimum` / 10 without one."""
        steepest = self.steepest
        return steepest if steepest is not None else self.minimum / FALLBACK_DIVISOR

    def summary(self) -> str:
        """What the test found, in a few lines."""
        why = {
            "end": f"reached the last rate {self.end_lr:.3g}",
            "diverged": f"stopped: the smoothed loss passed {DIVERGE:g}x its best",
            "non-finite": "stopped: the loss or a weight became NaN or infinite",
        }[self.stopped]
        low = int(np.argmin(self.smoothed))
        steepest = self.steepest
        lines = [
            f"{self.steps} steps, rate {self.lrs[0]:.3g} to {self.lrs[-1]:.3g} ({why})",
            f"lowest smoothed loss {self.smoothed[low]:.4f} at rate {self.minimum:.3g}",
            "steepest descent at rate "
            + (f"{steepest:.3g}" if steepest is not None else "- (too few steps)"),
            f"suggested learning rate: {self.suggestion:.3g} ("
            + ("the steepest descent" if steepest is not None else "the minimum's rate / 10")
            + ")",
        ]
        return "\n".join(lines)

    def table(self, rows: int = 12) -> str:
        """The rate, J and its smoothed value at about ``rows`` steps spread over the test."""
        picks = sorted(
            set(np.linspace(0, self.steps - 1, min(rows, self.steps)).round().astype(int))
        )
        lines = [f"{'step':>6}  {'rate':>10}  {'J':>10}  {'smoothed J':>10}"]
        lines += [
            f"{k + 1:>6}  {self.lrs[k]:>10.3g}  {self.losses[k]:>10.4f}  {self.smoothed[k]:>10.4f}"
            for k in picks
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON): the curve and the rates found."""
        return {
            "lrs": self.lrs.tolist(),
            "losses": self.losses.tolist(),
            "smoothed": self.smoothed.tolist(),
            "stopped": self.stopped,
            "minimum": self.minimum,
            "steepest": self.steepest,
            "suggestion": self.suggestion,
        }


def lr_find(
    trainer: Trainer,
    *,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    steps: int = STEPS,
    beta: float = BETA,
    diverge: float = DIVERGE,
    progress: bool | None = None,
) -> LRFinding:
    """Run the range test with ``trainer``'s model, batches, optimizer and loss; change nothing.

    Up to ``steps`` steps with the rate growing from ``start_lr`` to ``end_lr``
    exponentially (the training batches are gone through again if one epoch
    has fewer steps). ``progress``: a tqdm bar (None: only on a terminal).
    Returns the :class:`LRFinding`; the trainer is as it was before the call.
    """
    start_lr = LEARNING_RATE.check(start_lr, "lr_find: start_lr")
    end_lr = LEARNING_RATE.check(end_lr, "lr_find: end_lr")
    steps = STEP_COUNT.check(steps, "lr_find: steps")
    beta = Number(0, 1, high_open=True).check(beta, "lr_find: beta")
    diverge = Number(1, 1e6, low_open=True).check(diverge, "lr_find: diverge")
    if end_lr <= start_lr:
        raise InvalidArgumentError(
            f"lr_find: end_lr ({end_lr:g}) must be above start_lr ({start_lr:g})"
        )
    if len(trainer.train) == 0:
        raise InvalidArgumentError("lr_find: the training batches are empty")
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    stopped = "end"
    average, best = 0.0, math.inf
    tune_allocator()
    with _untouched(trainer), single_threaded_blas():
        trainer.model.train()
        trainer.schedule = ExponentialRamp(start_lr, end_lr, steps)
        trainer.state.step = 0
        # disable=None: tqdm draws the bar only on a terminal
        shown = None if progress is None else not progress
        with tqdm(total=steps, desc="lr-find", unit="step", disable=shown, leave=False) as bar:
            for step, (X, y) in zip(range(steps), _forever(trainer), strict=False):
                lr = trainer.schedule(step)
                try:
                    loss, _, _ = trainer.train_step(X, y, 0, step + 1)
                except NonFiniteError:
                    stopped = "non-finite"
                    break
                average = beta * average + (1 - beta) * loss
                value = average / (1 - beta ** (step + 1))
                lrs.append(lr)
                losses.append(loss)
                smoothed.append(value)
                bar.update(1)
                bar.set_postfix(lr=f"{lr:.2e}", loss=f"{value:.4f}")
                best = min(best, value)
                if step > 0 and value > diverge * best:
                    stopped = "diverged"
                    break
    if not lrs:
        raise NonFiniteError(
            f"lr_find: the first step, at rate {start_lr:g}, already gave a NaN or infinite loss;"
            f" start lower"
        )
    return LRFinding(np.array(lrs), np.array(losses), np.array(smoothed), stopped, start_lr, end_lr)


def _forever(trainer: Trainer) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The training batches, epoch after epoch."""
    while True:
        yield from trainer.train


@contextlib.contextmanager
def _untouched(trainer: Trainer) -> Iterator[None]:
    """Copy everything a training step changes; put it back when the block ends, however."""
    weights = trainer.model.state_dict()  # copies of the parameters and buffers
    grads = [None if p.grad is None else p.grad.copy() for p in trainer.parameters]
    optimizer = trainer.optimizer.state_dict()  # copies of the slots and step counts
    lr, schedule, state = trainer.optimizer.lr, trainer.schedule, copy.deepcopy(trainer.state)
    generators = _generators(trainer)
    rng_states = {key: copy.deepcopy(g.bit_generator.state) for key, g in generators.items()}
    modes = [(module, module.training) for _, module in trainer.model.named_modules()]
    try:
        yield
    finally:
        trainer.model.load_state_dict(weights)
        for p, grad in zip(trainer.parameters, grads, strict=True):
            p.grad = grad
        trainer.optimizer.load_state_dict(optimizer)
        trainer.optimizer.lr, trainer.schedule, trainer.state = lr, schedule, state
        for key, rng in generators.items():
            rng.bit_generator.state = rng_states[key]
        for module, training in modes:
            module.training = training


def _generators(trainer: Trainer) -> dict[str, np.random.Generator]:
    """Every generator a step draws from: batches, augmentation, dropout."""
    generators = dict(trainer._generators())
    if trainer.train.augment_rng is not None:
        generators["augment"] = trainer.train.augment_rng
    return generators
