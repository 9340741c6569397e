"""The Thrift compact protocol, decoded and encoded back byte for byte (pure Python).

Parquet writes its footer (``FileMetaData``) as a Thrift struct in the compact protocol. To
merge Parquet files without decoding their pages (:mod:`hepml.tables.parquet_splice`), hepml
reads the footers, shifts the byte offsets in them and writes one footer back: this module
is that codec. A struct decodes into a :class:`Struct` that keeps every field's id, compact
type and order, unknown fields included, so ``encode_struct(decode_struct(b)) == b`` for
what Apache Thrift's C++ library (the one pyarrow uses) writes: the encoder makes the same
choices (a field id as a delta from the previous one when ``0 < delta <= 15``, else the type
byte and the zigzag id; a list size in the header byte below 15; minimal varints).

Values: bool (``bool``), byte, i16, i32, i64 (``int``), double (``float``), binary
(``bytes``), uuid (16 ``bytes``), list and set (:class:`ThriftList`), map
(:class:`ThriftMap`), struct (:class:`Struct`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BINARY",
    "I16",
    "I32",
    "I64",
    "LIST",
    "STRUCT",
    "CompactError",
    "Struct",
    "ThriftList",
    "ThriftMap",
    "decode_struct",
    "encode_struct",
]

# compact type ids (the low nibble of a field header)
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY = 0, 1, 2, 3, 4, 5, 6, 7, 8
LIST, SET, MAP, STRUCT, UUID = 9, 10, 11, 12, 13
_MAX_DEPTH = 64  # nesting a footer never needs: a corrupt one fails instead of recursing


class CompactError(ValueError):
    """The bytes are not a well-formed compact struct (a corrupt or truncated footer)."""


@dataclass
class ThriftList:
    """A list or set: the compact type of its elements and the elements."""

    element_type: int
    items: list[Any]


@dataclass
class ThriftMap:
    """A map: the compact types of its keys and values (0 for an empty map), the pairs."""

    key_type: int
    value_type: int
    items: list[tuple[Any, Any]]


@dataclass
class Struct:
    """A struct's fields, ``[id, compact type, value]``, in the order they were written."""

    fields: list[list[Any]] = field(default_factory=list)

    def get(self, field_id: int, default: Any = None) -> Any:
        """The value of field ``field_id``, ``default`` where the struct does not have it."""
        for fid, _, value in self.fields:
            if fid == field_id:
                return value
        return default

    def has(self, field_id: int) -> bool:
        """Whether the struct has field ``field_id``."""
        return any(f[0] == field_id for f in self.fields)

    def set(self, field_id: int, value: Any) -> None:
        """Give field ``field_id`` (which the struct must have) a new value of its type."""
        for entry in self.fields:
            if entry[0] == field_id:
                entry[2] = value
                return
        raise KeyError(field_id)

    def copy(self) -> Struct:
        """A copy whose fields can be set without changing this one (values shared)."""
        return Struct([list(entry) for entry in self.fields])


# ---------------------------------------------------------------- decoding


class _Reader:
    """A position in the bytes being decoded."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            msg = f"a value of {n} bytes runs past the end of the struct at byte {self.pos}"
            raise CompactError(msg)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        if self.pos >= len(self.data):
            msg = "the struct ends before its stop field"
            raise CompactError(msg)
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                msg = f"a varint longer than 10 bytes at byte {self.pos}"
                raise CompactError(msg)

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)


def decode_struct(data: bytes, pos: int = 0) -> tuple[Struct, int]:
    """The struct encoded in ``data`` from ``pos`` and the position after its stop byte."""
    reader = _Reader(data, pos)
    return _struct(reader, 0), reader.pos


def _struct(reader: _Reader, depth: int) -> Struct:
    if depth > _MAX_DEPTH:
        msg = f"structs nested deeper than {_MAX_DEPTH}"
        raise CompactError(msg)
    fields, last = [], 0
    while True:
        header = reader.byte()
        kind = header & 0x0F
        if kind == STOP:
            return Struct(fields)
        delta = header >> 4
        last = last + delta if delta else reader.zigzag()
        if kind in (TRUE, FALSE):
            fields.append([last, TRUE, kind == TRUE])
        else:
            fields.append([last, kind, _value(reader, kind, depth)])


def _value(reader: _Reader, kind: int, depth: int) -> Any:
    """A value of compact type ``kind`` (booleans inside containers are one byte)."""
    if kind in (TRUE, FALSE):
        return reader.byte() == TRUE
    if kind == BYTE:
        return int.from_bytes(reader.take(1), "little", signed=True)
    if kind in (I16, I32, I64):
        return reader.zigzag()
    if kind == DOUBLE:
        return struct.unpack("<d", reader.take(8))[0]
    if kind == BINARY:
        return reader.take(reader.varint())
    if kind == UUID:
        return reader.take(16)
    if kind in (LIST, SET):
        header = reader.byte()
        size = header >> 4 if header >> 4 != 15 else reader.varint()
        element = header & 0x0F
        return ThriftList(element, [_value(reader, element, depth + 1) for _ in range(size)])
    if kind == MAP:
        size = reader.varint()
        types = reader.byte() if size else 0
        key, val = types >> 4, types & 0x0F
        pairs = [
            (_value(reader, key, depth + 1), _value(reader, val, depth + 1)) for _ in range(size)
        ]
        return ThriftMap(key, val, pairs)
    if kind == STRUCT:
        return _struct(reader, depth + 1)
    msg = f"unknown compact type {kind} before byte {reader.pos}"
    raise CompactError(msg)


# ---------------------------------------------------------------- encoding


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int, out: bytearray) -> None:
    _varint((n << 1) if n >= 0 else ((-n) << 1) - 1, out)


def encode_struct(value: Struct) -> bytes:
    """The compact encoding of ``value``, as Apache Thrift's C++ library writes it."""
    out = bytearray()
    _encode_struct(value, out)
    return bytes(out)


def _encode_struct(value: Struct, out: bytearray) -> None:
    last = 0
    for fid, kind, item in value.fields:
        wire = (TRUE if item else FALSE) if kind in (TRUE, FALSE) else kind
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | wire)
        else:
            out.append(wire)
            _zigzag(fid, out)
        last = fid
        if kind not in (TRUE, FALSE):
            _encode_value(kind, item, out)
    out.append(STOP)


def _encode_value(kind: int, item: Any, out: bytearray) -> None:
    if kind in (TRUE, FALSE):
        out.append(TRUE if item else FALSE)
    elif kind == BYTE:
        out.append(item & 0xFF)
    elif kind in (I16, I32, I64):
        _zigzag(item, out)
    elif kind == DOUBLE:
        out += struct.pack("<d", item)
    elif kind in (BINARY, UUID):
        if kind == BINARY:
            _varint(len(item), out)
        out += item
    elif kind in (LIST, SET):
        size = len(item.items)
        if size < 15:
            out.append(size << 4 | item.element_type)
        else:
            out.append(0xF0 | item.element_type)
            _varint(size, out)
        for element in item.items:
            _encode_value(item.element_type, element, out)
    elif kind == MAP:
        _varint(len(item.items), out)
        if item.items:
            out.append(item.key_type << 4 | item.value_type)
        for key, val in item.items:
            _encode_value(item.key_type, key, out)
            _encode_value(item.value_type, val, out)
    elif kind == STRUCT:
        _encode_struct(item, out)
    else:
        msg = f"unknown compact type {kind}"
        raise CompactError(msg)
