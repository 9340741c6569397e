"""Parquet files merged by copying their row groups' bytes: no page is decoded.

A sample ingested or scored as several jobs is merged into the table one job writes, byte for
byte. Decoding and encoding every row group again costs seconds per million rows, serially
after all parts; but column chunks hold no absolute offsets, so :func:`splice` writes ``PAR1``,
the bytes of every row group of the parts in order, and the first part's ``FileMetaData``
(decoded and encoded with :mod:`hepml.tables.thrift_compact`) with the rows summed and the
row groups' offsets shifted to where their bytes now lie: the file a ``pq.ParquetWriter``
writes from the same row groups. One column may be encoded anew (:class:`Replacement`;
ingest's ``_weight`` times the normalisation): written alone with the output's writer
settings into memory, its chunk and metadata take the old one's place.

Where the bytes could differ from the writer's (a page index, bloom filters, encryption,
chunks out of order, parts with another schema, writer or compression), :class:`SpliceRefused`
comes before anything is written (a re-encoded column's checks as its row group is written:
callers write to a temporary file, :mod:`hepml.atomic`); :func:`hepml.tables.merge.merge_tables`
then decodes every row group and writes it again, the same bytes, slower.
No footer records dictionary or statistics settings: hepml's parts share one writer. Field
ids: Apache parquet-format ``parquet.thrift`` (FileMetaData, RowGroup, ColumnChunk,
ColumnMetaData).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.parquet as pq

from hepml.exceptions import InputFileError
from hepml.tables.thrift_compact import (
    STRUCT,
    CompactError,
    Struct,
    ThriftList,
    decode_struct,
    encode_struct,
)

__all__ = ["Replacement", "SpliceRefused", "column_names", "read_footer", "splice"]

MAGIC = b"PAR1"
_COPY_BLOCK = 16 << 20  # bytes per read and write of the copied row groups
_MAX_ROW_GROUPS = 32767

# parquet.thrift field ids
FILE_SCHEMA, FILE_NUM_ROWS, FILE_ROW_GROUPS = 2, 3, 4
FILE_ENCRYPTION = (8, 9)  # encryption_algorithm, footer_signing_key_metadata
_PER_FILE = (FILE_NUM_ROWS, FILE_ROW_GROUPS)  # the footer's fields that parts may differ in
RG_COLUMNS, RG_BYTE_SIZE, RG_NUM_ROWS, RG_FILE_OFFSET, RG_COMPRESSED, RG_ORDINAL = 1, 2, 3, 5, 6, 7
CHUNK_FILE_PATH, CHUNK_FILE_OFFSET, CHUNK_META = 1, 2, 3
CHUNK_REFUSED = {CHUNK_FILE_PATH: "columns in other files", 8: "encrypted columns"}
CHUNK_REFUSED |= {4: "a page index", 5: "a page index", 6: "a page index", 7: "a page index"}
META_TYPE, META_PATH, META_CODEC, META_UNCOMPRESSED, META_COMPRESSED = 1, 3, 4, 6, 7
META_DATA_PAGE, META_INDEX_PAGE, META_DICTIONARY_PAGE = 9, 10, 11
META_REFUSED = {10: "index pages", 14: "bloom filters", 15: "bloom filters"}


class SpliceRefused(Exception):
    """The parts cannot be spliced into the bytes a Parquet writer writes: decode them."""


@dataclass(frozen=True)
class Replacement:
    """One column re-encoded in every row group: ``values`` takes a table holding the column
    (the column alone when spliced, the whole row group when decoded) and returns it with the
    column's new values; ``writer(sink, schema)`` opens a ``pq.ParquetWriter`` with the
    output's settings (compression, dictionary, statistics)."""

    column: str
    values: Callable[[pa.Table], pa.Table]
    writer: Callable[[Any, pa.Schema], pq.ParquetWriter]


@dataclass
class _Group:
    """A row group to copy: its metadata and where its bytes lie in its file."""

    index: int
    meta: Struct
    start: int
    end: int
    chunks: list[tuple[int, int]]  # per column, (start, end); (0, 0) without bytes


def read_footer(path: str | Path) -> tuple[Struct, int]:
    """The ``FileMetaData`` of the Parquet file ``path`` and the byte where it begins.

    Raises :class:`InputFileError` naming the file where it is not Parquet (bad magic, too
    short, truncated, a corrupt footer), :class:`SpliceRefused` where its footer is
    encrypted."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            if size < 12:
                _corrupt(path, f"{size} bytes, too short for a Parquet file")
            file.seek(0)
            head = file.read(4)
            file.seek(size - 8)
            tail = file.read(8)
            length = struct.unpack("<I", tail[:4])[0]
            if tail[4:] == b"PARE":
                msg = f"'{path}' has an encrypted footer"
                raise SpliceRefused(msg)
            if head != MAGIC or tail[4:] != MAGIC:
                _corrupt(path, "no PAR1 magic at its start and end: not Parquet, or truncated")
            if length > size - 12:
                _corrupt(path, f"a footer of {length} bytes in a file of {size}: truncated")
            file.seek(size - 8 - length)
            footer = file.read(length)
    except OSError as err:
        msg = f"the Parquet table '{path}' cannot be read: {err}"
        raise InputFileError(msg) from err
    try:
        meta, end = decode_struct(footer)
    except CompactError as err:
        _corrupt(path, f"a corrupt footer ({err})")
    if end != length:
        _corrupt(path, f"a footer of {length} bytes whose struct ends at byte {end}")
    return meta, size - 8 - length


def _corrupt(path: str | Path, why: str) -> NoReturn:
    msg = f"the Parquet table '{path}' is corrupt: {why}; rerun the job that wrote it"
    raise InputFileError(msg)


def column_names(path: str | Path) -> list[str]:
    """The names in the Parquet schema of ``path`` below its root (the columns of a flat
    table), from its footer alone."""
    meta, _ = read_footer(path)
    return [element.get(4, b"").decode() for element in meta.get(FILE_SCHEMA).items[1:]]


def splice(
    parts: Sequence[str | Path],
    output: str | Path,
    *,
    replace: Replacement | None = None,
    skip_empty: bool = True,
) -> int:
    """Write ``output``: the row groups of ``parts``, in order (those without rows passed
    over if ``skip_empty``), as one Parquet file; return its rows.

    Raises :class:`SpliceRefused` where the bytes could differ from those a writer of the
    same row groups writes (before writing, but for the re-encoded column's checks),
    :class:`InputFileError` naming a corrupt part."""
    planned = []
    for path in parts:
        meta, footer_start = read_footer(path)
        _refuse_unsupported(path, meta)
        listed = enumerate(meta.get(FILE_ROW_GROUPS).items)
        groups = [_group(path, i, g, footer_start) for i, g in listed]
        groups = [g for g in groups if g.meta.get(RG_NUM_ROWS) or not skip_empty]
        if groups:
            planned.append((Path(path), meta, groups))
    if not planned:
        msg = "no row groups to merge"
        raise SpliceRefused(msg)
    _check_same_file(planned)
    if sum(len(groups) for _, _, groups in planned) > _MAX_ROW_GROUPS:
        msg = f"more than {_MAX_ROW_GROUPS} row groups (a Parquet ordinal is an i16)"
        raise SpliceRefused(msg)
    if replace is not None:
        _column_index(planned[0][2][0].meta, replace.column)  # refuses an unknown column
    written: list[Struct] = []
    with open(output, "wb", buffering=0) as out:
        _write_all(out, MAGIC)
        for path, _, groups in planned:
            with open(path, "rb", buffering=0) as source, contextlib.ExitStack() as stack:
                pyarrow_file = None
                if replace is not None:
                    pyarrow_file = stack.enter_context(pq.ParquetFile(path))
                written += [_copy_group(source, out, g, pyarrow_file, replace) for g in groups]
        footer = encode_struct(_merged_footer(planned[0][1], written))
        _write_all(out, footer + struct.pack("<I", len(footer)) + MAGIC)
    return sum(g.get(RG_NUM_ROWS) for g in written)


def _refuse_unsupported(path: str | Path, meta: Struct) -> None:
    """Refuse a file whose metadata points outside its row groups or that is encrypted."""
    if any(meta.has(f) for f in FILE_ENCRYPTION):
        msg = f"'{path}' is encrypted"
        raise SpliceRefused(msg)
    for group in meta.get(FILE_ROW_GROUPS).items:
        for chunk in group.get(RG_COLUMNS).items:
            found = [why for fid, why in CHUNK_REFUSED.items() if chunk.has(fid)]
            column = chunk.get(CHUNK_META)
            if column is None:
                found.append("no column metadata")
            else:
                found += [why for fid, why in META_REFUSED.items() if column.has(fid)]
            if found:
                msg = f"'{path}' has {found[0]}"
                raise SpliceRefused(msg)


def _chunk_range(column: Struct) -> tuple[int, int]:
    """Where a column chunk's bytes lie: from its dictionary (or first data) page on,
    ``total_compressed_size`` bytes; (0, 0) for a chunk without bytes."""
    size = column.get(META_COMPRESSED)
    dictionary = column.get(META_DICTIONARY_PAGE) or 0
    start = dictionary if dictionary > 0 else column.get(META_DATA_PAGE)
    return (start, start + size) if size else (0, 0)


def _group(path: str | Path, index: int, meta: Struct, footer_start: int) -> _Group:
    """Row group ``index`` of ``path``, checked: its chunks contiguous, in schema order,
    before the footer (as pyarrow writes them), its sizes the sums of theirs."""
    columns = [c.get(CHUNK_META) for c in meta.get(RG_COLUMNS).items]
    chunks = [_chunk_range(c) for c in columns]
    placed = [c for c in chunks if c[1]]
    start = placed[0][0] if placed else 0
    position = start
    for chunk_start, chunk_end in placed:
        if chunk_start != position:
            msg = f"'{path}' row group {index}: its column chunks are not contiguous"
            raise SpliceRefused(msg)
        position = chunk_end
    if placed and not 4 <= start <= position <= footer_start:
        _corrupt(path, f"row group {index} lies outside the file's data")
    if meta.get(RG_COMPRESSED) not in (None, sum(c.get(META_COMPRESSED) for c in columns)):
        msg = f"'{path}' row group {index}: total_compressed_size is not its chunks' sum"
        raise SpliceRefused(msg)
    if meta.get(RG_BYTE_SIZE) != sum(c.get(META_UNCOMPRESSED) for c in columns):
        msg = f"'{path}' row group {index}: total_byte_size is not its chunks' sum"
        raise SpliceRefused(msg)
    return _Group(index, meta, start, position, chunks)


def _check_same_file(planned: list[tuple[Path, Struct, list[_Group]]]) -> None:
    """Every part must have the first one's footer but for its rows and row groups (the
    same schema, key-value metadata with the Arrow schema, writer and column orders) and
    every row group the same compression per column (a writer's settings, unlike the
    dictionaries and statistics, which no footer records as a setting)."""
    reference = codecs = None
    for path, meta, groups in planned:
        rest = encode_struct(Struct([f for f in meta.fields if f[0] not in _PER_FILE]))
        reference = reference or rest
        if rest != reference:
            msg = f"'{path}' differs from '{planned[0][0]}' in schema, metadata or writer"
            raise SpliceRefused(msg)
        for group in groups:
            found = [c.get(CHUNK_META).get(META_CODEC) for c in group.meta.get(RG_COLUMNS).items]
            codecs = codecs or found
            if found != codecs:
                msg = f"'{path}' row group {group.index} has another compression"
                raise SpliceRefused(msg)


def _copy_bytes(source: Any, out: Any, start: int, end: int) -> None:
    """Copy bytes ``start`` to ``end`` of ``source`` to the end of ``out`` (unbuffered files):
    in the kernel where it can (``copy_file_range``), else in large blocks of one buffer."""
    position = start
    if hasattr(os, "copy_file_range"):
        with contextlib.suppress(OSError):  # a file system that cannot: copied below
            while position < end:
                copied = os.copy_file_range(source.fileno(), out.fileno(), end - position, position)
                if not copied:
                    break
                position += copied
    buffer = memoryview(bytearray(min(end - position, _COPY_BLOCK)))
    source.seek(position)
    while position < end:
        got = source.readinto(buffer[: min(end - position, _COPY_BLOCK)])
        if not got:
            msg = f"'{source.name}' ended at byte {position}: it changed while being merged"
            raise InputFileError(msg)
        _write_all(out, buffer[:got])
        position += got


def _write_all(out: Any, data: bytes | memoryview) -> None:
    """Write all of ``data`` to the unbuffered ``out`` (which may take less at a time)."""
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]


def _shifted(meta: Struct, delta: int, fields: tuple[int, ...]) -> Struct:
    """A copy of ``meta`` with its offsets ``fields`` moved by ``delta`` (0 stays 0: unset)."""
    moved = meta.copy()
    for fid in fields:
        value = moved.get(fid)
        if value:
            moved.set(fid, value + delta)
    return moved


def _chunk_shifted(chunk: Struct, delta: int) -> Struct:
    """A column chunk's metadata with its file offset and page offsets moved by ``delta``."""
    moved = _shifted(chunk, delta, (CHUNK_FILE_OFFSET,))
    pages = (META_DATA_PAGE, META_INDEX_PAGE, META_DICTIONARY_PAGE)
    moved.set(CHUNK_META, _shifted(chunk.get(CHUNK_META), delta, pages))
    return moved


def _copy_group(
    source: Any,
    out: Any,
    group: _Group,
    pyarrow_file: pq.ParquetFile | None,
    replace: Replacement | None,
) -> Struct:
    """Append ``group``'s bytes to ``out`` (one column re-encoded where ``replace`` says);
    return its metadata with the offsets of its new place and its sizes summed anew."""
    position = out.tell()
    if replace is None:
        _copy_bytes(source, out, group.start, group.end)
        chunks = group.meta.get(RG_COLUMNS).items
        moved = [_chunk_shifted(c, position - group.start) for c in chunks]
    else:
        moved = _copy_replacing(source, out, group, pyarrow_file, replace)
    meta = _shifted(group.meta, position - group.start, (RG_FILE_OFFSET,))
    meta.set(RG_COLUMNS, ThriftList(STRUCT, moved))
    columns = [c.get(CHUNK_META) for c in moved]
    meta.set(RG_BYTE_SIZE, sum(c.get(META_UNCOMPRESSED) for c in columns))
    if meta.has(RG_COMPRESSED):
        meta.set(RG_COMPRESSED, sum(c.get(META_COMPRESSED) for c in columns))
    return meta


def _copy_replacing(
    source: Any, out: Any, group: _Group, pyarrow_file: Any, replace: Replacement
) -> list[Struct]:
    """Append ``group``'s bytes to ``out`` with column ``replace.column`` re-encoded; return
    the metadata of its column chunks at their new places."""
    index = _column_index(group.meta, replace.column)
    start, end = group.chunks[index]
    if not end:
        msg = f"row group {group.index} has no bytes of column '{replace.column}'"
        raise SpliceRefused(msg)
    new_bytes, new_chunk, new_start = _reencoded(pyarrow_file, group, index, replace)
    chunks = group.meta.get(RG_COLUMNS).items
    moved = [_chunk_shifted(c, out.tell() - group.start) for c in chunks[:index]]
    _copy_bytes(source, out, group.start, start)
    moved.append(_chunk_shifted(new_chunk, out.tell() - new_start))
    _write_all(out, new_bytes)
    moved += [_chunk_shifted(c, out.tell() - end) for c in chunks[index + 1 :]]
    _copy_bytes(source, out, end, group.end)
    return moved


def _column_index(group: Struct, column: str) -> int:
    """The index of the column chunk of ``column`` (a top-level column) in ``group``."""
    path = [column.encode()]
    for i, chunk in enumerate(group.get(RG_COLUMNS).items):
        if chunk.get(CHUNK_META).get(META_PATH).items == path:
            return i
    msg = f"no column '{column}' to re-encode"
    raise SpliceRefused(msg)


def _reencoded(
    pyarrow_file: Any, group: _Group, index: int, replace: Replacement
) -> tuple[memoryview, Struct, int]:
    """Column ``index`` of ``group`` with its new values, written alone by the output's
    writer into memory: its chunk's bytes, its chunk metadata and the byte it starts at."""
    table = replace.values(pyarrow_file.read_row_group(group.index, columns=[replace.column]))
    sink = pa.BufferOutputStream()
    writer = replace.writer(sink, table.schema)
    try:
        writer.write_table(table)
    finally:
        writer.close()
    data = memoryview(sink.getvalue())
    length = struct.unpack("<I", data[-8:-4])[0]
    meta, _ = decode_struct(bytes(data[-8 - length : -8]))
    where = f"the re-encoded column '{replace.column}'"
    _refuse_unsupported(where, meta)
    groups = meta.get(FILE_ROW_GROUPS).items
    if len(groups) != 1 or len(groups[0].get(RG_COLUMNS).items) != 1:
        msg = f"{where} was written as {len(groups)} row groups, not one column chunk"
        raise SpliceRefused(msg)
    chunk = groups[0].get(RG_COLUMNS).items[0]
    old = group.meta.get(RG_COLUMNS).items[index].get(CHUNK_META)
    new = chunk.get(CHUNK_META)
    if any(new.get(f) != old.get(f) for f in (META_TYPE, META_PATH, META_CODEC)):
        msg = f"{where} has another type or compression than the table's"
        raise SpliceRefused(msg)
    start, end = _chunk_range(new)
    return data[start:end], chunk, start


def _merged_footer(first: Struct, groups: list[Struct]) -> Struct:
    """The first part's ``FileMetaData`` with the output's rows and row groups, these with
    their ordinals (where they have one) renumbered in the output's order."""
    for ordinal, group in enumerate(groups):
        if group.has(RG_ORDINAL):
            group.set(RG_ORDINAL, ordinal)
    merged = first.copy()
    merged.set(FILE_NUM_ROWS, sum(g.get(RG_NUM_ROWS) for g in groups))
    merged.set(FILE_ROW_GROUPS, ThriftList(STRUCT, groups))
    return merged
