"""Argument checks shared by the ops, with messages that quote what was received."""

from __future__ import annotations

import math

import numpy as np

from convmath.errors import InvalidArgumentError


def number_in(
    value: object, name: str, low: float, high: float = math.inf, *, low_open: bool = False
) -> float:
    """``value`` as a finite float in [low, high] (or (low, high] if ``low_open``).

    NaN and the infinities are refused whatever the bounds: no setting of an
    op, a layer or an optimizer means anything at infinity.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidArgumentError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(f"{name} must be a finite number, got {value!r}")
    above = number > low if low_open else number >= low
    if not (above and number <= high):
        if math.isinf(high):
            wanted = f"{'>' if low_open else '>='} {low:g}"
        else:
            wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")
    return number
