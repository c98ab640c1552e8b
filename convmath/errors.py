"""The exception types of convmath.

Bad input to the library (shapes, dtypes, arguments, files) raises one of
these, so callers can catch ``ConvMathError`` alone. Each also derives from the matching built-in
type (``ValueError``, ``TypeError``, ...) so that generic handlers keep working.
Messages quote what was received and what was expected, and name the op,
layer or file at fault; :func:`did_you_mean` adds the closest expected name to
a name that is unknown.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTED_LENGTH = 100  # a longer unknown name is no typo: no suggestion is looked for


class ConvMathError(Exception):
    """Base class of every error raised by convmath."""


class ShapeError(ConvMathError, ValueError):
    """An array has the wrong number of axes or the wrong sizes."""


class DTypeError(ConvMathError, TypeError):
    """An array has the wrong dtype, or two operands disagree on dtype."""


class InvalidArgumentError(ConvMathError, ValueError):
    """An argument is out of its allowed range (a rate, a label, a stride...)."""


class GradientError(ConvMathError, RuntimeError):
    """Back propagation cannot proceed (no graph, wrong gradient shape...)."""


class NonFiniteError(ConvMathError, FloatingPointError):
    """A NaN or an infinity appeared where strict mode forbids it, or in a model's output."""


class DataError(ConvMathError, ValueError):
    """Data cannot be read: a file is missing, truncated, malformed or inconsistent.

    Every reader of ``convmath.data`` raises this one type, naming the file.
    """


class MissingDependencyError(ConvMathError, ImportError):
    """An optional extra (Pillow, matplotlib, torch...) is needed but not installed."""


class CheckpointError(ConvMathError, ValueError):
    """A checkpoint file is missing, damaged, hostile or made for another model."""


class RunFolderError(ConvMathError, RuntimeError):
    """A run's output folder is in use by another run, or holds another run's files."""


class InteropError(ConvMathError, ValueError):
    """A model cannot cross to or from another format (ONNX, PyTorch): the node or file at fault."""


class TimeBudgetError(ConvMathError, TimeoutError):
    """Work ran past the time it was given (``convmath.time_budget``), at the layer it names."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'mnist'?"`` for an unknown ``name`` close to one of ``choices``, else "".

    Case does not count (``MNSIT`` suggests ``mnist``), nor do the dashes that start an
    option (``--bogus`` is no closer to ``--out`` for them). The text is meant to end a
    message: it starts with "; ".

    >>> did_you_mean("mnsit", ["digits", "mnist", "cifar10"])
    "; did you mean 'mnist'?"
    >>> did_you_mean("--epcohs", ["--epochs", "--seed"])
    "; did you mean '--epochs'?"
    >>> did_you_mean("--bogus", ["--epochs", "--out"])
    ''
    >>> did_you_mean("imagenet", ["digits", "mnist"])
    ''
    """
    if not isinstance(name, str) or not name or len(name) > MAX_SUGGESTED_LENGTH:
        return ""
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(choice.lower().lstrip("-"), choice)
    close = difflib.get_close_matches(name.lower().lstrip("-"), lowered, n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""
