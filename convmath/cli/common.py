"""Helpers shared by the commands: argument types and the BLAS thread limit."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from convmath.errors import InvalidArgumentError
from convmath.parallel import using_threads


def threads(count: int | None) -> Any:
    """Run the command's ops on ``count`` worker threads (default: every available CPU)."""
    if count is not None and count < 1:
        raise InvalidArgumentError(f"--threads must be >= 1, got {count}")
    return using_threads(count)


def sizes(count: int, example: str) -> Callable[[str], tuple[int, ...]]:
    """An argparse type for ``count`` positive sizes written "H,W,C" (or "HxWxC")."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            sizes = tuple(int(part) for part in text.replace("x", ",").split(","))
        except ValueError:
            sizes = ()
        if len(sizes) != count or min(sizes) < 1:
            raise argparse.ArgumentTypeError(
                f"expected {count} positive sizes such as {example}, got {text!r}"
            )
        return sizes

    return parse


DEFAULT_SHAPES = {"digits_cnn": (8, 8, 1), "resnet": (32, 32, 3)}


def model_from(
    target: str, input_shape: tuple[int, ...] | None, classes: int
) -> tuple[Any, tuple[int, ...], str]:
    """A model named ``target`` (built for ``input_shape``) or the one saved in a checkpoint.

    Returns (model, input shape, title). A named model that does not fit the
    requested shape is built for its default shape, so that an explanation
    can show where the requested one stops fitting.
    """
    from pathlib import Path

    import numpy as np

    from convmath import models
    from convmath.errors import ShapeError

    if Path(target).is_file():
        from convmath.train import load_trained

        model, preprocessing, config = load_trained(target)
        return model, preprocessing.input_shape, f"{config['model']['name']} from {target}"
    shape = tuple(input_shape or DEFAULT_SHAPES.get(target, (28, 28, 1)))
    rng = np.random.default_rng(0)
    title = f"{target} on {shape[0]}x{shape[1]}x{shape[2]}"
    try:
        return models.build(target, shape, classes, rng=rng), shape, title
    except ShapeError:
        default = DEFAULT_SHAPES.get(target, (28, 28, 1))
        fallback = (*default[:2], shape[2])
        if fallback == shape:
            raise
        return models.build(target, fallback, classes, rng=rng), shape, title
