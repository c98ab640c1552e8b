"""JSON decoding with bounds, for files convmath did not necessarily write.

Python's ``json.loads`` accepts ``NaN`` and ``Infinity``, integers of any
length (until the int-string limit raises ``ValueError``), nesting until
``RecursionError`` and repeated keys (the last wins). :func:`loads` refuses
all of them, and any text over ``max_bytes``, with a :class:`DataError`
naming ``source``: the size before decoding, numbers while decoding, the
depth right after (the C decoder itself stops at Python's recursion limit,
and the depth is then measured without recursion).

Text from the network is bounded before a single value is built: with
``max_values``, a scan of the raw bytes at C speed (strings blanked out,
then commas and brackets counted, nesting measured by peeling the innermost
pairs) refuses too many values or too deep a nesting before decoding, so a
body's memory is bounded by its size and ``max_values`` (a 4 MiB body of
empty lists would otherwise become about 160 MB of Python lists).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from convmath.errors import DataError
from convmath.limits import MAX_INT_DIGITS, MAX_JSON_DEPTH


class _RefusedError(Exception):
    pass


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, escapes included
_WHITESPACE = b" \t\r\n"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


def _refused_structure(raw: bytes, max_depth: int, max_values: int, max_members: int) -> str | None:
    """Why ``raw`` holds too many values or object members or nests too deep, or None:
    measured on the bytes before anything is decoded, in a few passes of C loops."""
    quotes = raw.count(b'"')
    if quotes > 2 * (max_values + max_members):  # before a loop over the strings
        return f"{quotes:,} quotation marks, more strings than the {max_values:,} values allowed"
    blanked = bytearray(raw)  # every string's content made NUL: its brackets are not JSON's
    for string in _STRING.finditer(raw):
        start, end = string.span()
        if end - start > 2:
            blanked[start + 1 : end - 1] = bytes(end - start - 2)
    bare = blanked.translate(None, _WHITESPACE + b"\0")
    del blanked
    brackets = bare.translate(None, _NOT_BRACKETS).translate(_SQUARE)
    for _ in range(max_depth):  # each pass peels the innermost level of pairs
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):
            break
        brackets = peeled
    if b"[]" in brackets:
        return f"JSON nested too deep (the limit is {max_depth})"
    openers = bare.count(b"[") + bare.count(b"{")
    empty = bare.count(b"[]") + bare.count(b"{}")
    values = 1 + bare.count(b",") + openers - empty  # exact for valid JSON
    if values > max_values:
        return f"{values:,} values, over the limit of {max_values:,}"
    members = bare.count(b":")
    if members > max_members:
        return f"{members:,} object members, over the limit of {max_members:,}"
    return None


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


def loads(
    data: str | bytes,
    source: str,
    *,
    max_bytes: int,
    max_values: int | None = None,
    max_members: int | None = None,
) -> Any:
    """Decode ``data``, refusing what :mod:`convmath.strict_json` lists, naming ``source``.

    With ``max_values``, the number of values (containers, numbers, strings; an object's
    member counts once), of object members (``max_members``, default ``max_values``) and the
    depth are checked on the raw bytes before anything is decoded.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise DataError(f"{source}: {len(raw):,} bytes of JSON, over the {max_bytes:,}-byte limit")
    if max_values is not None:
        members = max_values if max_members is None else max_members
        refusal = _refused_structure(raw, MAX_JSON_DEPTH, max_values, members)
        if refusal is not None:
            raise DataError(f"{source}: refused JSON: {refusal}")
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
    depth = nesting_depth(value) if max_values is None else 0  # else measured before decoding
    if depth > MAX_JSON_DEPTH:
        raise DataError(f"{source}: JSON nested {depth} deep, over the limit of {MAX_JSON_DEPTH}")
    return value
