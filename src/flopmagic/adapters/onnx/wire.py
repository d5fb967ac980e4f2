"""Parse an ONNX file around its weight payloads: the protobuf wire format of
``ModelProto`` -> ``GraphProto`` is scanned field by field, every field that holds no
large tensor is copied through as its bytes, and a large tensor keeps every field but
its payload (``raw_data``, packed ``float_data``/``double_data``), which is skipped
(seeked past) and never read. ``ModelProto.FromString`` then parses the assembled
buffer, a fraction of the file, so the file's bytes and the parsed weights are never
held at once.

The result is exactly what ``onnx.ModelProto.FromString(data)`` followed by
:func:`~flopmagic.adapters.onnx.loader.strip_weights` gives: only payloads that
``strip_weights`` would drop anyway are left out, and a payload whose all-zero flag
``strip_weights`` reads (a tensor of at most ``ZERO_TEST_ELEMENTS`` elements) is read,
tested and replaced by one byte of the same zero-ness (``b"\\0"`` or none), which
``strip_weights`` then drops. Where that cannot be decided without the payload (integer
tensors kept whole, external data, payloads in other fields, a tensor given twice by
protobuf merging) the tensor's bytes are copied whole. Any encoding this scanner does
not model exactly (groups, non-minimal tags, over-long varints) raises
:class:`Unusual`, and the caller parses the whole file as before; a field running past
its message's end (a truncated or corrupt file, which protobuf refuses too) raises
:class:`Corrupt`.
"""

from __future__ import annotations

import array
import os
import stat
import sys
from collections.abc import Mapping
from typing import Protocol

import onnx

__all__ = ["DESCEND_BYTES", "KEEP_INTEGER_ELEMENTS", "ZERO_TEST_ELEMENTS", "Corrupt", "Unusual", "read_model"]

# tensors kept whole: integer tensors of at most this many elements (the shape constants
# Reshape, Slice, Pad and Loop read); every other payload is dropped after its zero flag is noted
KEEP_INTEGER_ELEMENTS = 4096
# a tensor is tested for all-zero (a zero bias adds nothing) only up to this many elements:
# reading a payload copies it out of the protobuf, so a large weight is never read (and
# counted as not zero; biases, the tensors the test matters for, are far smaller)
ZERO_TEST_ELEMENTS = 65536
_INTEGER_TYPES = frozenset(
    {
        onnx.TensorProto.INT64,
        onnx.TensorProto.INT32,
        onnx.TensorProto.INT16,
        onnx.TensorProto.INT8,
        onnx.TensorProto.UINT64,
        onnx.TensorProto.UINT32,
        onnx.TensorProto.UINT16,
        onnx.TensorProto.UINT8,
        onnx.TensorProto.BOOL,
    }
)

# a node, attribute or initializer whose encoding is at most this many bytes is copied
# through whole (``strip_weights`` handles what it holds, in memory); a larger one is
# scanned for tensor payloads
DESCEND_BYTES = 4096
WINDOW_BYTES = 1 << 16  # the file is scanned through windows of at most this size
FIRST_READ_BYTES = 256  # the first read after a skip
MAX_DEPTH = 16  # nested subgraphs scanned at most this deep (deeper ones are copied whole)
MAX_MESSAGE_BYTES = 2**31 - 1  # protobuf's limit on one message


class Unusual(Exception):
    """An encoding the scanner does not model exactly: parse the whole file instead."""


class Corrupt(Exception):
    """A field runs past the end of its message or of the file (protobuf refuses it too)."""


# field tags (field number << 3 | wire type)
_MODEL_GRAPH = 7 << 3 | 2
_GRAPH_NODE = 1 << 3 | 2
_GRAPH_INITIALIZER = 5 << 3 | 2
_NODE_ATTRIBUTE = 5 << 3 | 2
_ATTRIBUTE_T = 5 << 3 | 2
_ATTRIBUTE_G = 6 << 3 | 2
_ATTRIBUTE_GRAPHS = 11 << 3 | 2
_RAW_DATA = 9 << 3 | 2
_FLOAT_PACKED = 4 << 3 | 2
_DOUBLE_PACKED = 10 << 3 | 2
# every encoding of a TensorProto payload field: float_data (4), int32_data (5),
# string_data (6), int64_data (7), raw_data (9), double_data (10), uint64_data (11),
# packed (wire type 2) or one element per field
_PAYLOAD_TAGS = frozenset(
    {4 << 3 | 2, 4 << 3 | 5, 5 << 3 | 2, 5 << 3 | 0, 6 << 3 | 2, 7 << 3 | 2, 7 << 3 | 0, _RAW_DATA}
    | {10 << 3 | 2, 10 << 3 | 1, 11 << 3 | 2, 11 << 3 | 0}
)
_PAYLOADS = dict.fromkeys(_PAYLOAD_TAGS, -1)  # every occurrence, even empty

# a found field: (tag, field start, data start, data end)
Field = tuple[int, int, int, int]
Pieces = list[bytes | memoryview]


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _long_varint(buf: bytes | memoryview, i: int, most: int) -> tuple[int, int]:
    """A varint of more than one byte at ``buf[i]``: its value and the index after it."""
    value = shift = 0
    for k in range(most):
        byte = buf[i + k]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + k + 1
        shift += 7
    raise Unusual("a varint longer than protobuf reads")


class _File(Protocol):
    def seek(self, offset: int, /) -> int: ...
    def read(self, size: int, /) -> bytes | None: ...


class _Source:
    """Random access to the model's bytes: a file read through windows (a payload
    skipped is never read), or bytes already in memory."""

    def __init__(self, data: bytes | bytearray | memoryview | None, file: _File | None, size: int) -> None:
        self.file = file
        self.size = size
        self.buf: bytes | memoryview = memoryview(data) if data is not None else b""
        self.base = 0
        self.step = FIRST_READ_BYTES

    def window(self, pos: int, end: int) -> tuple[bytes | memoryview, int]:
        """Bytes from at least ``pos`` to at most ``end`` and their offset. A read that
        (nearly) follows on from the last one doubles in size, up to ``WINDOW_BYTES``
        (scanning many small fields); one after a longer skip is ``FIRST_READ_BYTES`` (the
        next field's tag and length, and little of the payload that may follow)."""
        if self.file is not None and not (self.base <= pos and pos + 16 <= self.base + len(self.buf)):
            follows = self.base <= pos < self.base + len(self.buf) + self.step  # no payload skipped
            self.step = min(2 * self.step, WINDOW_BYTES) if follows else FIRST_READ_BYTES
            self.file.seek(pos)
            self.buf = self.file.read(max(16, min(self.step, end - pos))) or b""
            self.base = pos
        return self.buf, self.base

    def read(self, start: int, end: int) -> bytes | memoryview:
        if start >= self.base and end <= self.base + len(self.buf):
            return self.buf[start - self.base : end - self.base]
        assert self.file is not None
        self.file.seek(start)
        data = self.file.read(end - start) or b""
        if len(data) != end - start:  # the file changed under us
            raise Corrupt("the file is shorter than it was")
        return data


def _find(source: _Source, start: int, end: int, wanted: Mapping[int, int]) -> list[Field]:
    """The fields of the message in ``[start, end)`` whose tag is in ``wanted`` and whose
    data is longer than the length it maps to."""
    wanted_get = wanted.get
    found: list[Field] = []
    buf, base = source.window(start, end)
    limit = base + len(buf)
    pos = start
    try:
        while pos < end:
            if pos + 16 > limit and limit < end:
                buf, base = source.window(pos, end)
                limit = base + len(buf)
            i = pos - base
            tag = buf[i]
            if tag < 0x80:
                i += 1
            else:
                tag, i = _long_varint(buf, i, 5)
                if tag >= 2**32 or len(_varint_bytes(tag)) != i - (pos - base):
                    raise Unusual("a field tag protobuf may read differently")
            wire = tag & 7
            if tag >> 3 == 0 or tag >> 3 >= 2**29:
                raise Unusual("field number 0 or out of range")
            if wire == 2:
                length = buf[i]
                if length < 0x80:
                    i += 1
                else:
                    length, i = _long_varint(buf, i, 5)
                    if length > MAX_MESSAGE_BYTES:
                        raise Unusual("a length beyond protobuf's limit")
                data = base + i
                after = data + length
            elif wire == 0:
                if buf[i] < 0x80:
                    i += 1
                else:
                    _, i = _long_varint(buf, i, 10)
                data = after = base + i
            elif wire == 5:
                data = base + i
                after = data + 4
            elif wire == 1:
                data = base + i
                after = data + 8
            else:
                raise Unusual(f"wire type {wire} (a group or invalid)")
            if after > end:
                raise Corrupt(f"a field at byte {pos} runs past the end of its message (byte {end})")
            shortest = wanted_get(tag)
            if shortest is not None and after - data > shortest:
                found.append((tag, pos, data, after))
            pos = after
    except IndexError:  # a tag or varint cut off at the end of the file
        raise Corrupt(f"the file ends inside a field at byte {pos}") from None
    return found


def _header(tag: int, length: int) -> bytes:
    return _varint_bytes(tag) + _varint_bytes(length)


def _rebuild(source: _Source, start: int, end: int, replaced: list[tuple[Field, Pieces | None]]) -> Pieces | None:
    """The message's bytes with each found field replaced by its new content (None: kept
    as it is), everything between copied through; None when nothing is replaced."""
    if all(content is None for _, content in replaced):
        return None
    pieces: Pieces = []
    pos = start
    for (tag, field_start, _, after), content in replaced:
        if content is None:
            continue
        if field_start > pos:
            pieces.append(source.read(pos, field_start))
        pieces.append(_header(tag, sum(map(len, content))))
        pieces.extend(content)
        pos = after
    if end > pos:
        pieces.append(source.read(pos, end))
    return pieces


def _between(source: _Source, start: int, end: int, fields: list[Field]) -> bytes:
    """The message's bytes without ``fields``."""
    parts = []
    pos = start
    for _, field_start, _, after in fields:
        parts.append(source.read(pos, field_start))
        pos = after
    parts.append(source.read(pos, end))
    return b"".join(parts)


def _numel(tensor: onnx.TensorProto) -> int:
    total = 1
    for dim in tensor.dims:
        total *= dim
    return total


def _is_zero(source: _Source, payloads: list[Field]) -> bool:
    """What ``loader._payload_is_zero`` says of the tensor holding ``payloads``: the
    last ``raw_data`` if not empty, else the first non-empty of ``float_data`` and
    ``double_data`` (each the concatenation of its packed runs)."""
    raws = [f for f in payloads if f[0] == _RAW_DATA]
    if raws and raws[-1][3] > raws[-1][2]:
        raw = source.read(raws[-1][2], raws[-1][3])
        return not any(raw[:64]) and bytes(raw).count(0) == len(raw)
    for tag, code in ((_FLOAT_PACKED, "f"), (_DOUBLE_PACKED, "d")):
        values = array.array(code)
        for field in payloads:
            if field[0] == tag:
                values.frombytes(source.read(field[2], field[3]))
        if len(values):
            if sys.byteorder == "big":
                values.byteswap()
            return not any(values)
    return False


def _tensor(source: _Source, start: int, end: int) -> Pieces | None:
    """A tensor's bytes without the payload ``strip_weights`` would drop (None: keep it whole)."""
    payloads = _find(source, start, end, _PAYLOADS)
    for tag, _, data, after in payloads:
        if not (
            tag == _RAW_DATA
            or (tag == _FLOAT_PACKED and (after - data) % 4 == 0)
            or (tag == _DOUBLE_PACKED and (after - data) % 8 == 0)
        ):
            return None  # a payload that needs reading (or protobuf's verdict): keep it whole
    if not payloads:
        return None
    kept = _between(source, start, end, payloads)
    try:
        header = onnx.TensorProto.FromString(kept)
    except Exception:  # protobuf refuses the tensor: let it say so on the whole file
        return None
    if header.data_location == onnx.TensorProto.EXTERNAL:
        return None
    numel = _numel(header)
    if header.data_type in _INTEGER_TYPES and numel <= KEEP_INTEGER_ELEMENTS:
        return None
    pieces: Pieces = [kept]
    if numel and numel <= ZERO_TEST_ELEMENTS and _is_zero(source, payloads):
        pieces.append(_header(_RAW_DATA, 1) + b"\0")  # the zero flag, for strip_weights to read
    return pieces


def _attribute(source: _Source, start: int, end: int, constant: bool, depth: int, descend: int) -> Pieces | None:
    found = _find(source, start, end, dict.fromkeys((_ATTRIBUTE_T, _ATTRIBUTE_G, _ATTRIBUTE_GRAPHS), -1))
    if not found:
        return None
    try:
        kind = onnx.AttributeProto.FromString(_between(source, start, end, found)).type
    except Exception:
        return None
    if kind == onnx.AttributeProto.TENSOR and constant:
        values = [f for f in found if f[0] == _ATTRIBUTE_T]
        if len(values) != 1:  # protobuf merges repeated occurrences of ``t``: keep it whole
            return None
        tensor = values[0]
        return _rebuild(source, start, end, [(tensor, _tensor(source, tensor[2], tensor[3]))])
    wanted = {onnx.AttributeProto.GRAPH: _ATTRIBUTE_G, onnx.AttributeProto.GRAPHS: _ATTRIBUTE_GRAPHS}.get(kind)
    if wanted is None:
        return None
    return _rebuild(
        source,
        start,
        end,
        [(f, _graph(source, f[2], f[3], depth + 1, descend)) for f in found if f[0] == wanted],
    )


def _node(source: _Source, start: int, end: int, depth: int, descend: int) -> Pieces | None:
    found = _find(source, start, end, {_NODE_ATTRIBUTE: descend})
    if not found:
        return None
    try:
        node = onnx.NodeProto.FromString(_between(source, start, end, found))
    except Exception:
        return None
    constant = node.op_type == "Constant" and bool(node.output)
    replaced = [(f, _attribute(source, f[2], f[3], constant, depth, descend)) for f in found]
    return _rebuild(source, start, end, replaced)


def _graph(source: _Source, start: int, end: int, depth: int, descend: int) -> Pieces | None:
    if depth > MAX_DEPTH:
        return None
    found = _find(source, start, end, {_GRAPH_INITIALIZER: descend, _GRAPH_NODE: descend})
    replaced = [
        (
            f,
            _tensor(source, f[2], f[3]) if f[0] == _GRAPH_INITIALIZER else _node(source, f[2], f[3], depth, descend),
        )
        for f in found
    ]
    return _rebuild(source, start, end, replaced)


def read_model(
    path: str | os.PathLike[str] | None = None,
    data: bytes | bytearray | memoryview | None = None,
    descend_bytes: int = DESCEND_BYTES,
) -> onnx.ModelProto:
    """The ModelProto of the file at ``path`` (or of ``data``) with the payloads
    ``strip_weights`` drops already left out; never reads external data.

    ``descend_bytes``: nodes, attributes and initializers encoded in at most this many
    bytes are copied whole (tests pass 0 to scan everything).

    Raises:
        Unusual: an encoding this scanner does not model; parse the whole file instead.
        Corrupt: a truncated or corrupt file (a field runs past its message's end).
        OSError: the file cannot be read.
        google.protobuf.message.DecodeError: protobuf refuses the assembled bytes (it
            would refuse the whole file).
    """
    if data is not None:
        if len(data) > MAX_MESSAGE_BYTES:  # protobuf's limit: let it answer for the whole model
            raise Unusual("more bytes than one protobuf message can hold")
        return _assemble(_Source(data, None, len(data)), descend_bytes)
    assert path is not None
    with open(path, "rb", buffering=0) as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):  # a pipe or device: no size, no seeking
            raise Unusual("not a regular file")
        if status.st_size > MAX_MESSAGE_BYTES:
            raise Unusual("a file larger than one protobuf message can be")
        return _assemble(_Source(None, file, status.st_size), descend_bytes)


def _assemble(source: _Source, descend: int) -> onnx.ModelProto:
    found = _find(source, 0, source.size, {_MODEL_GRAPH: -1})
    replaced = [(f, _graph(source, f[2], f[3], 0, descend)) for f in found]
    pieces = _rebuild(source, 0, source.size, replaced)
    if pieces is None:  # no payload to leave out: parse the bytes as they are
        pieces = [source.buf if source.file is None else source.read(0, source.size)]
    assembled = pieces[0] if len(pieces) == 1 else b"".join(pieces)  # protobuf reads a memoryview too
    proto: onnx.ModelProto = onnx.ModelProto.FromString(assembled)
    return proto
