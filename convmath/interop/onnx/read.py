"""Reading an ONNX file that may be hostile: bounded, checked, and never following other files.

The file must be a regular file no larger than a checkpoint may be
(:func:`convmath.limits.max_checkpoint_bytes`), and its bytes are measured
along ONNX's schema before protobuf parses them (:func:`measure`): a small
file can otherwise make protobuf allocate far more than its size (a varint
byte becomes an 8-byte number, two bytes an empty message). Tensors are
decoded only after their declared shape has been
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

# the metadata property where convmath's files keep their run configuration (preprocessing,
# class names, the model's record): written by export, read by load, told by run.told
CONFIG_KEY = "convmath.config"
MAX_NODES = 100_000
MAX_RANK = 8
MAX_ATTRIBUTE_VALUES = 4096  # one attribute's list (pads, perm, a Constant's value_ints)
MAX_OBJECTS = 4_000_000  # messages, strings and unpacked numbers protobuf would make
MAX_NESTING = 64
MAX_STEPS = 2_000_000  # protobuf fields walked while measuring: bounds its time
SMALL_MESSAGE = 256  # bytes: counted as half as many objects as it has bytes, without a walk
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
    """``data`` parsed as a ``ModelProto`` with a graph, or InteropError naming ``source``.

    The bytes are measured first (:func:`measure`): what parsing them would
    make is bounded before protobuf makes any of it.
    """
    onnx, _, _ = onnx_modules()
    measure(data, source, onnx.ModelProto.DESCRIPTOR)
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
            try:
                values[attribute.name] = value.decode() if isinstance(value, bytes) else value
            except UnicodeDecodeError:
                raise InteropError(
                    f"{source}: node {node.name or node.op_type!r} ({node.op_type}) has attribute"
                    f" {attribute.name!r} of text that is not UTF-8"
                ) from None
        else:
            raise InteropError(
                f"{source}: node {node.name or node.op_type!r} ({node.op_type}) has attribute"
                f" {attribute.name!r} of a kind convmath does not read (graphs, sparse tensors)"
            )
    return values


# ---------------------------------------------------------------- measuring before parsing
_VARINT_TYPES = frozenset([3, 4, 5, 8, 13, 14, 17, 18])  # int64, uint64, int32, bool, ...
_FIXED_SIZES = {2: 4, 7: 4, 15: 4, 1: 8, 6: 8, 16: 8}  # float, fixed32, ...; double, ...


class _Tally:
    """What protobuf would make of the bytes: objects, and numbers of repeated fields."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.objects = 0
        self.values = 0
        self.steps = 0
        self.max_values = limits.max_parameters() + limits.MAX_BUFFER_ELEMENTS + (1 << 20)

    def more(self, objects: int = 0, values: int = 0) -> None:
        self.objects += objects
        self.values += values
        if self.objects > MAX_OBJECTS:
            raise InteropError(
                f"{self.source}: would make over {MAX_OBJECTS:,} nodes, attributes, names and"
                f" numbers when parsed; convmath reads no file that large in pieces"
            )
        if self.values > self.max_values:
            raise InteropError(
                f"{self.source}: holds over {self.max_values:,} numbers in its tensors and"
                f" attributes, more than a model within the parameter limit needs (set"
                f" CONVMATH_MAX_PARAMETERS to allow more)"
            )


def measure(data: bytes, source: str, descriptor: Any) -> None:
    """Walk the protobuf wire format of ``data`` along ``descriptor`` and bound what parsing
    would make, before anything is parsed: every packed list of numbers counted (a varint
    byte can become an 8-byte number), every message and string counted, one attribute's
    list at most MAX_ATTRIBUTE_VALUES values, the main graph at most MAX_NODES nodes.
    Malformed bytes (which protobuf refuses too) are refused here, so that nothing past
    them goes unmeasured."""
    tally = _Tally(source)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        _walk(data, buffer, 0, len(data), descriptor, tally, 0)
    except _MalformedError:
        raise InteropError(
            f"{source}: not an ONNX model (its protobuf encoding is malformed)"
        ) from None


class _MalformedError(Exception):
    pass


def _varint_count(buffer: np.ndarray, start: int, end: int) -> int:
    """How many varints ``buffer[start:end]`` packs: one per byte below 0x80, its last byte."""
    step = 1 << 24  # in slices: the comparison's mask stays small
    return sum(
        int(np.count_nonzero(buffer[at : min(at + step, end)] < 0x80))
        for at in range(start, end, step)
    )


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _MalformedError
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _walk(
    data: bytes, buffer: np.ndarray, pos: int, end: int, descriptor: Any, tally: _Tally, depth: int
) -> None:
    if depth > MAX_NESTING:
        raise InteropError(f"{tally.source}: messages nested over {MAX_NESTING} deep")
    fields = descriptor.fields_by_number
    attribute = descriptor.name == "AttributeProto"
    main_graph = descriptor.name == "GraphProto" and depth <= 1
    lists: dict[int, int] = {}  # numbers stored one by one (or, in an attribute, at all)
    nodes = 0
    while pos < end:
        tally.steps += 1
        if tally.steps > MAX_STEPS:
            raise InteropError(
                f"{tally.source}: over {MAX_STEPS:,} protobuf fields; convmath reads no file"
                f" of that many pieces"
            )
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        field = fields.get(number)
        objects, numbers = 1, 0
        if wire == 2:
            length, pos = _varint(data, pos, end)
            start, pos = pos, pos + length
            if pos > end:
                raise _MalformedError
            if field is not None and field.message_type is not None:
                if main_graph and number == 1:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise InteropError(f"{tally.source}: over {MAX_NODES:,} nodes")
                if length <= SMALL_MESSAGE:
                    objects += length // 2  # at most one field in every two bytes
                else:
                    _walk(data, buffer, start, pos, field.message_type, tally, depth + 1)
            elif field is not None and field.is_repeated and field.type in _VARINT_TYPES:
                numbers = _varint_count(buffer, start, pos)
            elif field is not None and field.is_repeated and field.type in _FIXED_SIZES:
                numbers = length // _FIXED_SIZES[field.type]
            if numbers and attribute:
                lists[number] = lists.get(number, 0) + numbers
        elif wire in (0, 1, 5):
            if wire == 0:
                _, pos = _varint(data, pos, end)
            else:
                pos += 8 if wire == 1 else 4
            if field is not None and field.is_repeated:  # a number stored alone
                numbers, objects = 1, 0
                lists[number] = lists.get(number, 0) + 1
        else:  # groups (3, 4) and the rest: not ONNX's
            raise _MalformedError
        if pos > end:
            raise _MalformedError
        tally.more(objects, numbers)
        if lists.get(number, 0) > MAX_ATTRIBUTE_VALUES:
            name = field.name if field is not None else f"field {number}"
            what = (
                f"an attribute holds a list of over {MAX_ATTRIBUTE_VALUES:,} values ({name})"
                if attribute
                else f"a {descriptor.name} stores over {MAX_ATTRIBUTE_VALUES:,} numbers one by"
                f" one ({name})"
            )
            raise InteropError(
                f"{tally.source}: {what}; convmath reads shorter lists, and longer ones only"
                f" packed in tensors"
            )
