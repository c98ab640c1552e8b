"""JSON decoding with bounds, for files convmath did not necessarily write.

Python's ``json.loads`` accepts ``NaN`` and ``Infinity``, integers of any
length (until the int-string limit raises ``ValueError``), nesting until
``RecursionError`` and repeated keys (the last wins). :func:`loads` refuses
all of them, and any text over ``max_bytes``, with a :class:`DataError`
naming ``source``: the size before decoding, numbers while decoding, the
depth right after (the C decoder itself stops at Python's recursion limit,
and the depth is then measured without recursion).
"""

from __future__ import annotations

import json
import math
from typing import Any

from convmath.errors import DataError
from convmath.limits import MAX_INT_DIGITS, MAX_JSON_DEPTH


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


def nesting_depth(value: Any) -> int:
    """How deeply lists and dicts nest in a decoded JSON value (iterative: any depth is safe)."""
    deepest = 0
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend(
                (child, depth) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def loads(data: str | bytes, source: str, *, max_bytes: int) -> Any:
    """Decode ``data``, refusing what :mod:`convmath.strict_json` lists, naming ``source``."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise DataError(f"{source}: {len(raw):,} bytes of JSON, over the {max_bytes:,}-byte limit")
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
            object_pairs_hook=_unique_keys,
        )
    except _RefusedError as refusal:
        raise DataError(f"{source}: refused JSON: {refusal}") from None
    except RecursionError:
        raise DataError(f"{source}: JSON nested too deep (the limit is {MAX_JSON_DEPTH})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{source}: not valid JSON ({error})") from None
    depth = nesting_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise DataError(f"{source}: JSON nested {depth} deep, over the limit of {MAX_JSON_DEPTH}")
    return value
