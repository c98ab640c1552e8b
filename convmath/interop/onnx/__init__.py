"""ONNX export and import: ``export(model, input_shape, path)`` and ``load(path)``.

Needs the ``onnx`` extra (``pip install 'convmath[onnx]'``); onnxruntime is
only needed to run the exported graphs. See docs/INTEROP.md for the
operators, the layouts and the measured agreement.
"""

from convmath.interop.onnx.export import DEFAULT_OPSET, export, to_onnx
from convmath.interop.onnx.load import Imported, from_onnx, load, read

__all__ = ["DEFAULT_OPSET", "Imported", "export", "from_onnx", "load", "read", "to_onnx"]
