"""Optimisers, learning-rate schedules and gradient clipping."""

from convmath.optim.adam import Adam, AdamW
from convmath.optim.factory import OPTIMIZERS, SCHEDULES, make_optimizer, make_schedule
from convmath.optim.optimizer import Optimizer, clip_grad_norm
from convmath.optim.schedules import (
    Constant,
    ExponentialRamp,
    OneCycle,
    Schedule,
    StepDecay,
    WarmupCosine,
)
from convmath.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "ExponentialRamp",
    "OneCycle",
    "Optimizer",
    "Schedule",
    "StepDecay",
    "WarmupCosine",
    "clip_grad_norm",
    "make_optimizer",
    "make_schedule",
]
