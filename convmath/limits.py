"""The limits that keep untrusted input from making convmath allocate or compute without bound.

Every size that decides an allocation (an input shape, a width, a number of
classes, a batch, a checkpoint's tensors) is checked against these numbers
before anything is allocated, and refused with the project's own error
quoting the value and the limit. ``docs/LIMITS.md`` lists them all.

Two of them can be raised from the environment, for machines and models
larger than the defaults were made for:

- ``CONVMATH_MAX_PARAMETERS``: the most parameters one model may have
  (default 20 million, 80 MB of float32 weights; drawing them takes three
  times that for a moment);
- ``CONVMATH_MAX_MEMORY``: the most memory one estimated job may take, in
  bytes or with a suffix K, M, G (default 8G).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator

from convmath.errors import InvalidArgumentError

MAX_SIDE = 4096  # n_H and n_W of one input example
MAX_CHANNELS = 4096  # n_C of an input example, and the width of a named model
MAX_CLASSES = 10_000
MAX_BATCH = 65_536
MAX_EPOCHS = 100_000
MAX_STEPS = 2**53  # optimizer steps: exact in a float64, as JSON readers need
MAX_RESNET_DEPTH = 2_000
MAX_TEXT = 4_096  # a stored string (a dataset path, an augmentation spec)
MAX_CLASS_NAME = 256

MAX_BUFFER_ELEMENTS = 1 << 22  # running statistics and the like, beyond the parameters
MAX_HEADER_BYTES = 2 << 20  # a safetensors header: tensor table and metadata (~5,000 epochs)
MAX_TENSORS = 10_000
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 64  # a random generator's 128-bit state has 39 digits

DEFAULT_MAX_PARAMETERS = 20_000_000
DEFAULT_MAX_MEMORY = 8 << 30

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _from_environment(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip().upper().removesuffix("B")
    if not text:
        return default
    number, suffix = (text[:-1], text[-1]) if text[-1] in _SUFFIXES else (text, "")
    try:
        value = float(number) * _SUFFIXES[suffix]
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise InvalidArgumentError(
            f"{name}={os.environ[name]!r} is not a positive size (e.g. 8G or 50000000)"
        )
    return int(value)


def max_parameters() -> int:
    """The most parameters a model may have: ``CONVMATH_MAX_PARAMETERS`` or 20 million."""
    return _from_environment("CONVMATH_MAX_PARAMETERS", DEFAULT_MAX_PARAMETERS)


def max_checkpoint_bytes() -> int:
    """The largest checkpoint file: float32 weights and buffers, two optimizer slots, a header."""
    return 12 * (max_parameters() + MAX_BUFFER_ELEMENTS) + MAX_HEADER_BYTES + 8


def max_memory() -> int:
    """The most bytes one estimated job may take: ``CONVMATH_MAX_MEMORY`` or 8 GiB."""
    return _from_environment("CONVMATH_MAX_MEMORY", DEFAULT_MAX_MEMORY)


def format_bytes(count: float) -> str:
    """A byte count for people: ``format_bytes(3 << 30)`` is ``'3.0 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_memory(n_bytes: float, what: str) -> None:
    """Refuse a job whose estimated memory ``n_bytes`` is over :func:`max_memory`."""
    limit = max_memory()
    if n_bytes > limit:
        raise InvalidArgumentError(
            f"{what} needs about {format_bytes(n_bytes)}, over the {format_bytes(limit)} limit"
            f" (set CONVMATH_MAX_MEMORY to allow more)"
        )


# [parameters reserved so far, the most allowed] of the model being built; None outside a build.
_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "convmath_parameter_budget", default=None
)


@contextlib.contextmanager
def parameter_budget(what: str, limit: int | None = None) -> Iterator[None]:
    """Within this block, all tensors reserved together may not pass ``limit``.

    The limit is :func:`max_parameters`, or less when given (a model rebuilt
    from a checkpoint may need no more parameters than the checkpoint holds
    values). ``models.build`` opens one, so a model too large is refused at
    the first tensor that passes the limit, before that tensor is allocated.
    """
    token = _budget.set([0, min(max_parameters(), limit if limit is not None else math.inf)])
    try:
        yield
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{what}: {error}") from None
    finally:
        _budget.reset(token)


def reserve_parameters(shape: tuple[int, ...], what: str) -> None:
    """Count a tensor of ``shape`` against the limit before it is allocated.

    Every weight of ``convmath.nn`` is drawn through here. Outside a
    :func:`parameter_budget` the tensor alone is checked.
    """
    if any(int(n) < 0 for n in shape):
        raise InvalidArgumentError(f"{what}: negative size in shape {tuple(shape)}")
    count = math.prod(int(n) for n in shape)
    spent = _budget.get()
    limit = max_parameters() if spent is None else spent[1]
    total = count + (spent[0] if spent is not None else 0)
    if total > limit:
        why = (
            "(set CONVMATH_MAX_PARAMETERS to allow more)"
            if limit == max_parameters()
            else "(all the values its checkpoint holds: its weights cannot fit)"
        )
        raise InvalidArgumentError(
            f"{what} of shape {tuple(shape)} would bring the model to {total:,} parameters,"
            f" over the limit of {limit:,} {why}"
        )
    if spent is not None:
        spent[0] = total


def activation_bytes(
    model: object, input_shape: tuple[int, ...], batch: int, itemsize: int, *, training: bool
) -> int:
    """An upper estimate of the memory a pass of ``batch`` examples through ``model`` takes.

    Training counts each layer's output three times (kept for back
    propagation, its gradient, and one working buffer of its size), the
    parameters four times (weights, gradients, two optimizer slots), what the
    layers keep from forward for backward (a convolution's im2col matrix)
    and the largest working memory of one layer (``Module.scratch_bytes``: a
    convolution's im2col matrix or Winograd tiles, whole batch or the chunks
    the kernels hold at once); inference counts each output and the
    parameters once, and that working memory.
    """
    rows = [r for r in model.describe(tuple(input_shape)) if not r.is_heading]  # type: ignore[attr-defined]
    per_example = math.prod(input_shape) + sum(math.prod(row.output_shape) for row in rows)
    parameters = sum(row.parameters for row in rows)
    copies = 3 if training else 1
    layers = [row for row in rows if row.module is not None]
    scratch = max(
        (
            row.module.scratch_bytes(row.input_shape, batch, itemsize, training=training)
            for row in layers
        ),
        default=0,
    )
    kept = (
        sum(row.module.kept_bytes(row.input_shape, batch, itemsize) for row in layers)
        if training
        else 0
    )
    return copies * per_example * batch * itemsize + (copies + 1) * parameters * 4 + scratch + kept


def check_model_memory(
    model: object,
    input_shape: tuple[int, ...],
    batch: int,
    what: str,
    *,
    itemsize: int = 4,
    training: bool = False,
) -> None:
    """Refuse to run ``model`` on ``batch`` examples if the estimate is over the limit."""
    needed = activation_bytes(model, input_shape, batch, itemsize, training=training)
    check_memory(needed, f"{what} (batch {batch:,})")
