"""Typed, bounded checks of untrusted values: options, configurations, checkpoint metadata.

A spec describes what a value must be; ``spec.check(value, field)`` returns
the value (normalised: ints stay ints, lists become tuples where asked) or
raises :class:`InvalidArgumentError` naming the field, quoting the value and
saying what was expected. ``spec.parse(text, field)`` does the same for a
command-line string. One spec per setting serves the command line, the
Python API and the checkpoint reader, so the three can never disagree.

>>> Integer(1, 10).check(3, "epochs")
3
>>> Number(0, 1).parse("nan", "--dev-fraction")
Traceback (most recent call last):
...
convmath.errors.InvalidArgumentError: --dev-fraction must be a finite number in [0, 1], got 'nan'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError, did_you_mean


def shown(value: object, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, safe for ints of any length."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def printable(text: object) -> str:
    """``text`` safe to print: every character that is not printable (control characters
    such as the escape that starts a terminal sequence, new lines, carriage returns, bells,
    and invisible format characters such as bidirectional overrides) written as its Python
    escape (``\\x1b``, ``\\n``, ``\\u202e``); everything else, other alphabets
    included, as it is.

    The one way convmath prints text it did not write: class names from a checkpoint or a
    folder, layer names, file names from archives, error messages that quote them.

    >>> printable("cat\\x1b]0;owned\\x07")
    'cat\\\\x1b]0;owned\\\\x07'
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Spec:
    """What a value must be: :meth:`describe` says it, :meth:`_check` checks it."""

    def describe(self) -> str:
        raise NotImplementedError

    def _check(self, value: Any) -> Any:
        """The normalised value; raises ``self._refuse(value)`` when it does not fit."""
        raise NotImplementedError

    def hint(self, value: Any) -> str:
        """What ends the refusal of ``value``: "" or the closest choice ("; did you mean...?")."""
        return ""

    def check(self, value: Any, name: str) -> Any:
        try:
            return self._check(value)
        except _RefusedError as refusal:
            raise InvalidArgumentError(
                f"{name}{refusal.where} must be {refusal.expected}, got {shown(refusal.value)}"
                f"{refusal.hint}"
            ) from None

    def parse(self, text: str, name: str) -> Any:
        """A command-line string as this spec's type, then checked."""
        return self.check(self._from_text(text), name)

    def _from_text(self, text: str) -> Any:
        return text

    def _refuse(self, value: Any) -> _RefusedError:
        return _RefusedError(self.describe(), value, hint=self.hint(value))


class _RefusedError(Exception):
    def __init__(self, expected: str, value: Any, where: str = "", hint: str = "") -> None:
        self.expected, self.value, self.where, self.hint = expected, value, where, hint


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(low) and math.isinf(high):
        return ""
    if math.isinf(high):
        return f"{'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


@dataclass(frozen=True)
class Integer(Spec):
    low: int
    high: int

    def describe(self) -> str:
        return f"an integer in [{self.low:,}, {self.high:,}]"

    def _check(self, value: Any) -> int:
        if not _is_int(value) or not self.low <= value <= self.high:
            raise self._refuse(value)
        return int(value)

    def _from_text(self, text: str) -> Any:
        try:
            return int(text.strip().replace("_", ""), 10) if len(text) <= 40 else text
        except ValueError:
            return text


@dataclass(frozen=True)
class Number(Spec):
    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        interval = _interval(self.low, self.high, self.low_open, self.high_open)
        return f"a finite number {interval}".rstrip()

    def _check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise self._refuse(value)
        number = float(value)
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        if not (math.isfinite(number) and above and below):
            raise self._refuse(value)
        return int(value) if _is_int(value) else number

    def _from_text(self, text: str) -> Any:
        try:
            return float(text) if len(text) <= 40 else text
        except ValueError:
            return text

    def parse(self, text: str, name: str) -> Any:
        value = self._from_text(text)
        try:
            return self.check(value, name)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"{name} must be {self.describe()}, got {shown(text)}"
            ) from None


@dataclass(frozen=True)
class Text(Spec):
    max_length: int
    choices: tuple[str, ...] | None = None
    min_length: int = 0

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        return f"a string of {self.min_length} to {self.max_length} characters"

    def hint(self, value: Any) -> str:
        return did_you_mean(value, self.choices) if self.choices is not None else ""

    def _check(self, value: Any) -> str:
        if not isinstance(value, str) or not self.min_length <= len(value) <= self.max_length:
            raise self._refuse(value)
        if not value.isascii():
            try:
                value.encode("utf-8")  # a lone surrogate ("\ud800") is JSON but not text
            except UnicodeEncodeError:
                raise _RefusedError("text of valid Unicode characters", value) from None
        if self.choices is not None and value not in self.choices:
            raise self._refuse(value)
        return value


@dataclass(frozen=True)
class Flag(Spec):
    def describe(self) -> str:
        return "true or false"

    def _check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._refuse(value)
        return value


@dataclass(frozen=True)
class Optional(Spec):
    inner: Spec

    def describe(self) -> str:
        return f"{self.inner.describe()}, or null"

    def _check(self, value: Any) -> Any:
        return None if value is None else self.inner._check(value)

    def _from_text(self, text: str) -> Any:
        return self.inner._from_text(text)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list (or tuple) of ``min_length`` to ``max_length`` items; checked as a tuple or a list."""

    item: Spec
    max_length: int
    min_length: int = 0
    as_tuple: bool = False

    def describe(self) -> str:
        count = (
            f"{self.min_length}"
            if self.min_length == self.max_length
            else f"{self.min_length} to {self.max_length:,}"
        )
        return f"a list of {count} items, each {self.item.describe()}"

    def _check(self, value: Any) -> Any:
        if not isinstance(value, list | tuple) or not (
            self.min_length <= len(value) <= self.max_length
        ):
            raise self._refuse(value)
        items = [_checked_item(self.item, v, f"[{k}]") for k, v in enumerate(value)]
        return tuple(items) if self.as_tuple else items

    def _from_text(self, text: str) -> Any:
        return [self.item._from_text(part) for part in text.replace("x", ",").split(",")]


def _checked_item(spec: Spec, value: Any, where: str) -> Any:
    try:
        return spec._check(value)
    except _RefusedError as refusal:
        raise _RefusedError(refusal.expected, refusal.value, where + refusal.where) from None


@dataclass(frozen=True)
class Record(Spec):
    """A mapping with these keys; ``optional`` keys may be missing, no other key may be there."""

    fields: Mapping[str, Spec]
    optional: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> str:
        return f"a mapping with the keys {sorted(self.fields)}"

    def _check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self._refuse(value)
        unknown = sorted(str(k) for k in value if k not in self.fields)
        missing = sorted(k for k in self.fields if k not in value and k not in self.optional)
        if unknown or missing:
            raise _RefusedError(
                f"{self.describe()} (unknown {unknown[:5]}, missing {missing})",
                "{...}",
            )
        return {k: _checked_item(self.fields[k], v, f".{k}") for k, v in value.items()}


@dataclass(frozen=True)
class MappingOf(Spec):
    """A mapping of up to ``max_items`` string keys to values of ``value``."""

    value: Spec
    max_items: int
    key: Spec = Text(256, min_length=1)

    def describe(self) -> str:
        return f"a mapping of up to {self.max_items:,} names to {self.value.describe()}"

    def _check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping) or len(value) > self.max_items:
            raise self._refuse(value)
        return {
            _checked_item(self.key, k, " key"): _checked_item(self.value, v, f"[{k!r:.40}]")
            for k, v in value.items()
        }


@dataclass(frozen=True)
class AnyOf(Spec):
    """The first of ``options`` that accepts the value."""

    options: Sequence[Spec]

    def describe(self) -> str:
        return " or ".join(option.describe() for option in self.options)

    def _check(self, value: Any) -> Any:
        for option in self.options:
            try:
                return option._check(value)
            except _RefusedError:
                continue
        raise self._refuse(value)


__all__ = [
    "AnyOf",
    "Flag",
    "Integer",
    "ListOf",
    "MappingOf",
    "Number",
    "Optional",
    "Record",
    "Spec",
    "Text",
    "printable",
    "shown",
]
