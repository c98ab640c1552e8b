"""Arrays over JSON: ``{"shape": [...], "base64": "..."}`` of little-endian float32, C order.

Answers carry every array this way (a 28x28x32 map is 100 KB of base64
instead of about 300 KB of decimal text). Requests may also give nested
lists. :func:`jsonable` turns an answer's NumPy values into JSON values.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError
from convmath.schema import shown

MAX_VALUES = 1 << 20  # the largest array a request may hold


class NonFiniteAnswerError(ValueError):
    """An answer holds a NaN or an infinity, which JSON cannot carry (HTTP 422)."""


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """An array as JSON; a NaN or an infinity is refused (:class:`NonFiniteAnswerError`)."""
    values = np.ascontiguousarray(array, dtype="<f4")
    if not np.isfinite(values).all():
        raise NonFiniteAnswerError("an array of the answer holds a NaN or an infinity")
    return {"shape": list(values.shape), "base64": base64.b64encode(values.tobytes()).decode()}


def decode_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A request's array of exactly ``shape``: nested lists or base64 float32, finite."""
    if isinstance(value, dict):
        if set(value) != {"shape", "base64"}:
            raise InvalidArgumentError(f'{name} must be {{"shape": [...], "base64": "..."}}')
        if value["shape"] != list(shape):
            raise InvalidArgumentError(
                f"{name} must have shape {list(shape)}, got {shown(value['shape'])}"
            )
        text = value["base64"]
        if not isinstance(text, str) or len(text) > 4 * math.prod(shape) * 4 // 3 + 4:
            raise InvalidArgumentError(f"{name}.base64 must be text of {math.prod(shape)} floats")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError(f"{name}.base64 is not valid base64") from None
        if len(raw) != 4 * math.prod(shape):
            raise InvalidArgumentError(
                f"{name}.base64 holds {len(raw)} bytes, expected {4 * math.prod(shape)}"
                f" (float32 of shape {list(shape)})"
            )
        array = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    elif isinstance(value, list):
        array = _from_lists(value, name, shape)
    else:
        raise InvalidArgumentError(f"{name} must be nested lists or a base64 array")
    if not np.isfinite(array).all():
        raise InvalidArgumentError(f"{name} holds a NaN or an infinity")
    return array


def _from_lists(value: list, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if math.prod(shape) > MAX_VALUES:
        raise InvalidArgumentError(f"{name}: arrays of more than {MAX_VALUES:,} values are refused")

    def check(item: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise InvalidArgumentError(f"{name} holds {shown(item)}, not a number")
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            raise InvalidArgumentError(f"{name} must be nested lists of shape {list(shape)}")
        for inner in item:
            check(inner, depth + 1)

    check(value, 0)
    return np.array(value, dtype=np.float32)


def jsonable(value: Any) -> Any:
    """An answer as JSON values: arrays encoded, NumPy scalars as Python numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype == bool else encode_array(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise NonFiniteAnswerError("a number of the answer is a NaN or an infinity")
    return value
