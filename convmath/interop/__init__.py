"""Bridges to the rest of the ecosystem, at the edges where NCHW lives.

- :mod:`convmath.interop.onnx`: export a model to ONNX and load an ONNX graph
  as a convmath model (needs the ``onnx`` extra).
- :mod:`convmath.interop.torch`: a model's weights as a PyTorch ``state_dict``
  in a safetensors file, both ways (needs no torch).
"""
