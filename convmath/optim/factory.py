"""Optimizers and schedules by name, as the command line and the configuration spell them."""

from __future__ import annotations

from collections.abc import Iterable

from convmath.errors import InvalidArgumentError
from convmath.optim.adam import Adam, AdamW
from convmath.optim.optimizer import Optimizer
from convmath.optim.schedules import Constant, OneCycle, Schedule, StepDecay, WarmupCosine
from convmath.optim.sgd import SGD
from convmath.tensor import Tensor

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
ADAMW_DEFAULT_DECAY = 0.01  # AdamW's usual decoupled decay when none is given


def make_optimizer(
    name: str,
    parameters: Iterable[Tensor],
    lr: float,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float | None = None,
) -> Optimizer:
    """``sgd`` (momentum, Nesterov, L2 decay), ``adam`` or ``adamw`` over ``parameters``."""
    parameters = list(parameters)
    if name == "sgd":
        return SGD(parameters, lr, momentum, nesterov, weight_decay or 0.0)
    if name == "adam":
        return Adam(parameters, lr, weight_decay=weight_decay or 0.0)
    if name == "adamw":
        decay = ADAMW_DEFAULT_DECAY if weight_decay is None else weight_decay
        return AdamW(parameters, lr, weight_decay=decay)
    raise InvalidArgumentError(f"unknown optimizer {name!r}; expected one of {list(OPTIMIZERS)}")


def make_schedule(
    name: str,
    lr: float,
    total_steps: int,
    *,
    step_size: int = 1,
    gamma: float = 0.1,
    warmup_steps: int = 0,
) -> Schedule:
    """The learning rate over ``total_steps``: constant, step decay, warm-up cosine or one-cycle."""
    if name == "constant":
        return Constant(lr)
    if name == "step":
        return StepDecay(lr, step_size, gamma)
    if name == "cosine":
        return WarmupCosine(lr, total_steps, min(warmup_steps, total_steps - 1))
    if name == "onecycle":
        return OneCycle(lr, total_steps)
    raise InvalidArgumentError(f"unknown schedule {name!r}; expected one of {list(SCHEDULES)}")
