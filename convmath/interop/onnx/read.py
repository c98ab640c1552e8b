"""Reading an ONNX file that may be hostile: bounded, checked, and never following other files.

The file must be a regular file no larger than a checkpoint may be
(:func:`convmath.limits.max_checkpoint_bytes`), so parsing stays in bounded
memory. Tensors are decoded only after their declared shape has been
checked against the parameter limit and their stored data against that
shape; data in external files is refused (a model file never makes convmath
open another path).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.errors import InteropError
from convmath.files import open_regular
from convmath.interop.onnx.runtime import onnx_modules

MAX_NODES = 100_000
MAX_RANK = 8
# ONNX TensorProto data types convmath reads, and their NumPy types.
DTYPES = {1: np.float32, 10: np.float16, 11: np.float64, 6: np.int32, 7: np.int64}
TYPE_NAMES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64", 16: "bfloat16"}
FIELDS = {1: "float_data", 10: "int32_data", 11: "double_data", 6: "int32_data", 7: "int64_data"}


def read_model(path: str | Path) -> Any:
    """The ``ModelProto`` in ``path``, size-checked and parsed; InteropError naming the file."""
    onnx_modules()  # the extra's error before any reading
    path = Path(path)
    limit = limits.max_checkpoint_bytes()
    with open_regular(path, InteropError) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(size + 1) if size <= limit else b""  # a buffer of the size only
    if size > limit or len(data) > limit:
        raise InteropError(
            f"{path}: over {limits.format_bytes(limit)}, more than a model within the parameter"
            f" limit can need (set CONVMATH_MAX_PARAMETERS to allow more)"
        )
    if not data:
        raise InteropError(f"{path}: empty, not an ONNX model")
    return parse_model(data, str(path))


def parse_model(data: bytes, source: str) -> Any:
    """``data`` parsed as a ``ModelProto`` with a graph, or InteropError naming ``source``."""
    onnx, _, _ = onnx_modules()
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, or a RuntimeWarning-free ValueError
        raise InteropError(f"{source}: not an ONNX model (protobuf: {error})") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise InteropError(f"{source}: not an ONNX model (no graph, or a graph without nodes)")
    if len(proto.graph.node) > MAX_NODES:
        raise InteropError(f"{source}: {len(proto.graph.node):,} nodes, over {MAX_NODES:,}")
    if proto.graph.sparse_initializer:
        raise InteropError(f"{source}: sparse initializers are not supported")
    opset = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if not opset:
        raise InteropError(f"{source}: the model imports no version of the standard operators")
    return proto


def tensor_array(tensor: Any, source: str) -> np.ndarray:
    """A TensorProto as an array, after checking its type, its shape and its data's size."""
    name = tensor.name or "(unnamed)"
    where = f"{source}: tensor {name!r}"
    if tensor.data_location == 1 or tensor.external_data:
        raise InteropError(f"{where} keeps its data in another file, which convmath never reads")
    if tensor.data_type not in DTYPES:
        kind = TYPE_NAMES.get(tensor.data_type, f"type {tensor.data_type}")
        raise InteropError(
            f"{where} is {kind}; convmath reads float32, float16, float64, int32 and int64"
        )
    dims = [int(n) for n in tensor.dims]
    if len(dims) > MAX_RANK or any(n < 0 for n in dims):
        raise InteropError(f"{where} has an impossible shape {dims}")
    count = math.prod(dims)
    if count > limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS:
        raise InteropError(
            f"{where} declares shape {dims} ({count:,} values), over the parameter limit of"
            f" {limits.max_parameters():,} (set CONVMATH_MAX_PARAMETERS to allow more)"
        )
    dtype = np.dtype(DTYPES[tensor.data_type])
    if tensor.raw_data:
        if len(tensor.raw_data) != count * dtype.itemsize:
            raise InteropError(
                f"{where} holds {len(tensor.raw_data):,} bytes for shape {dims}; expected"
                f" {count * dtype.itemsize:,}"
            )
        array = np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<")).astype(dtype)
    else:
        values = getattr(tensor, FIELDS[tensor.data_type])
        if len(values) != count:
            raise InteropError(f"{where} holds {len(values):,} values for shape {dims}")
        # one value at a time into the array: no list of Python numbers on the way
        if tensor.data_type == 10:  # float16 values travel as their bit patterns in int32s
            bits = np.fromiter(values, dtype=np.int64, count=count)
            array = (bits & 0xFFFF).astype(np.uint16).view(np.float16)
        else:
            array = np.fromiter(values, dtype=dtype, count=count)
    array = array.reshape(dims)
    if array.dtype.kind == "f":  # convmath computes in float32: checked after the cast
        with np.errstate(over="ignore"):
            array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise InteropError(
                f"{where} holds NaN or infinite values (or values beyond float32's range)"
            )
    return array


def attributes(node: Any, source: str) -> dict[str, Any]:
    """A node's attributes as Python values (tensors decoded with :func:`tensor_array`)."""
    _, helper, _ = onnx_modules()
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        if attribute.type == 4:  # TENSOR
            values[attribute.name] = tensor_array(attribute.t, source)
        elif attribute.type in (1, 2, 3, 6, 7, 8):  # FLOAT, INT, STRING, FLOATS, INTS, STRINGS
            value = helper.get_attribute_value(attribute)
            values[attribute.name] = value.decode() if isinstance(value, bytes) else value
        else:
            raise InteropError(
                f"{source}: node {node.name or node.op_type!r} ({node.op_type}) has attribute"
                f" {attribute.name!r} of a kind convmath does not read (graphs, sparse tensors)"
            )
    return values
