"""The ``onnx`` package, imported only when ONNX is used (it is the optional ``onnx`` extra)."""

from __future__ import annotations

from typing import Any

from convmath.errors import MissingDependencyError


def onnx_modules() -> tuple[Any, Any, Any]:
    """(onnx, onnx.helper, onnx.numpy_helper), or a one-line error naming the extra."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise MissingDependencyError(
            "ONNX export and import need the onnx package: pip install 'convmath[onnx]'"
        ) from None
    return onnx, helper, numpy_helper
