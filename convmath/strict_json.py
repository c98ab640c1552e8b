"""JSON decoding with bounds, for files convmath did not necessarily write.

Python's ``json.loads`` accepts ``NaN`` and ``Infinity``, integers of any
length (until the int-string limit raises ``ValueError``), nesting until
``RecursionError`` and repeated keys (the last wins). :func:`loads` refuses
all of them, and any text over ``max_bytes``, with a :class:`DataError`
naming ``source``, before or while decoding.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from convmath.errors import DataError
from convmath.limits import MAX_INT_DIGITS, MAX_JSON_DEPTH

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class _RefusedError(Exception):
    pass


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _RefusedError(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedError(f"the number {text[:30]} is not finite as a float")
    return value


def _parse_constant(text: str) -> float:
    raise _RefusedError(f"{text} (JSON has no NaN or infinities)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise _RefusedError(f"the key {key[:40]!r} twice in one object")
        mapping[key] = value
    return mapping


def nesting_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``data`` (strings skipped)."""
    brackets = np.frombuffer(_STRINGS.sub(b"", data), dtype=np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).astype(np.int8)
    steps -= np.isin(brackets, (ord("]"), ord("}"))).astype(np.int8)
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def loads(data: str | bytes, source: str, *, max_bytes: int) -> Any:
    """Decode ``data``, refusing what :mod:`convmath.strict_json` lists, naming ``source``."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise DataError(f"{source}: {len(raw):,} bytes of JSON, over the {max_bytes:,}-byte limit")
    depth = nesting_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise DataError(f"{source}: JSON nested {depth} deep, over the limit of {MAX_JSON_DEPTH}")
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_unique_keys,
        )
    except _RefusedError as refusal:
        raise DataError(f"{source}: refused JSON: {refusal}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise DataError(f"{source}: not valid JSON ({error})") from None
