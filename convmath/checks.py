"""Argument checks shared by the ops, with messages that quote what was received."""

from __future__ import annotations

import math

import numpy as np

from convmath.errors import InvalidArgumentError


def number_in(
    value: object, name: str, low: float, high: float = math.inf, *, low_open: bool = False
) -> float:
    """``value`` as a float, required to lie in [low, high] (or (low, high] if ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    number = float(value)
    above = number > low if low_open else number >= low
    if not (above and number <= high):
        if math.isinf(high):
            wanted = f"{'>' if low_open else '>='} {low:g}"
        else:
            wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")
    return number
