"""An ONNX file from elsewhere told how its inputs are normalised and what its classes are.

A graph exported by PyTorch carries no preprocessing: convmath feeds it
X = raw/255 and names its classes 0, 1, ... (:mod:`convmath.run.trained`).
:func:`with_preprocessing` writes a copy of the file whose ``convmath.config``
says X = (raw/255 - mean) / std and the class names, the graph itself
untouched, so that every command, :func:`convmath.load` and the page then
use it as they use convmath's own exports. ``convmath export FILE.onnx
--mean M --std S --class-names NAMES`` is the same from the command line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convmath.data.preprocessing import Preprocessing
from convmath.errors import InvalidArgumentError
from convmath.files import atomic_write
from convmath.interop.onnx.read import CONFIG_KEY, read_model
from convmath.interop.onnx.runtime import onnx_modules
from convmath.run.trained import from_elsewhere, load_onnx_trained
from convmath.schema import shown


def with_preprocessing(
    source: str | Path,
    out: str | Path,
    *,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    classes: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``out``: the ONNX file ``source`` (from elsewhere) with its preprocessing.

    ``mean`` and ``std`` are one value, or one per channel, of the pixels
    scaled to [0, 1] (ImageNet's: 0.485, 0.456, 0.406 and 0.229, 0.224,
    0.225); left out, what the file was told before (else 0 and 1).
    ``classes`` names the outputs in order. ``source`` itself is never
    changed; ``out`` is written atomically, over an existing file only with
    ``overwrite``. Returns ``out``.
    """
    source, out = Path(source), Path(out)
    if out.suffix.lower() != ".onnx":  # the commands know an ONNX file by its name
        raise InvalidArgumentError(f"{out}: a told file must be named .onnx, got {out.suffix!r}")
    if out.resolve() == source.resolve():
        raise InvalidArgumentError(f"{out} is the file being read; choose another out")
    _, known, config = load_onnx_trained(source)
    if not from_elsewhere(config):
        raise InvalidArgumentError(
            f"{source} is convmath's own export: it stores its preprocessing already (mean"
            f" {_listed(known.mean)}, std {_listed(known.std)}); mean, std and classes tell a"
            f" file from elsewhere its own"
        )
    n_C = known.input_shape[2]
    values = {
        "input_shape": list(known.input_shape),
        "scale": known.scale,
        "mean": _per_channel(mean, known.mean, n_C, "mean", source),
        "std": _per_channel(std, known.std, n_C, "std", source),
        "classes": list(known.classes) if classes is None else _names(classes, known, source),
    }
    try:  # the checks a stored preprocessing passes: finite, std >= 1e-6, names of text
        told = Preprocessing.from_dict(values)
    except (InvalidArgumentError, TypeError) as error:
        raise InvalidArgumentError(f"{source}: {error}") from None
    metadata = {"model": config["model"], "preprocessing": told.to_dict(), "dataset": None}
    proto = read_model(source)
    _, helper, _ = onnx_modules()
    kept = {p.key: p.value for p in proto.metadata_props if p.key != CONFIG_KEY}
    del proto.metadata_props[:]
    helper.set_model_props(proto, kept | {CONFIG_KEY: json.dumps(metadata)})
    atomic_write(out, proto.SerializeToString(), overwrite=overwrite)
    return out


def _per_channel(
    given: float | Sequence[float] | None, known: np.ndarray, n_C: int, what: str, source: Path
) -> list[float]:
    if given is None:
        return [float(v) for v in known]
    if isinstance(given, str | bytes) or not _numbers(given):
        raise InvalidArgumentError(
            f"{source}: {what} is a number or a list of numbers, got {shown(given, 80)}"
        )
    values = [float(given)] if np.ndim(given) == 0 else [float(v) for v in np.ravel(given)]
    if len(values) == 1:
        values *= n_C
    if len(values) != n_C:
        wanted = "1 value" if n_C == 1 else f"1 or {n_C} values"
        raise InvalidArgumentError(
            f"{source}: its graph takes {n_C} channel{'s' if n_C > 1 else ''}; {what} needs"
            f" {wanted}, got {len(values)}: {shown(given, 80)}"
        )
    return values


def _numbers(given: object) -> bool:
    """Whether ``given`` is a real number or a flat sequence of them (NumPy's included)."""
    try:
        array = np.asarray(given)
    except (TypeError, ValueError):
        return False
    return array.ndim <= 1 and array.dtype.kind in "iuf" and array.dtype != np.bool_


def _names(classes: Sequence[str], known: Preprocessing, source: Path) -> list[str]:
    if isinstance(classes, str | bytes):
        raise InvalidArgumentError(
            f"{source}: classes is a list of names, got the text {shown(classes)}"
        )
    names = list(classes)
    if len(names) != len(known.classes):
        raise InvalidArgumentError(
            f"{source}: its graph gives {len(known.classes)} class scores, and {len(names)}"
            f" class names were given: {shown(names, 120)}"
        )
    return names


def _listed(values: np.ndarray) -> str:
    return ", ".join(f"{v:.4g}" for v in values)
