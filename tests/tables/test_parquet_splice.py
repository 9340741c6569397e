"""Parquet tables merged by splicing their bytes: the file one writer writes, byte for byte.

The compact codec is checked on hand-encoded bytes (the Thrift specification, not the
encoder) and on the footers pyarrow writes; the splice against ``pq.ParquetWriter`` writing
the same row groups into one file."""

from __future__ import annotations

import logging
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hepml.exceptions import InputFileError
from hepml.tables.parquet_splice import (
    Replacement,
    SpliceRefused,
    _chunk_shifted,
    _merged_footer,
    column_names,
    read_footer,
    splice,
)
from hepml.tables.thrift_compact import (
    I16,
    I32,
    I64,
    LIST,
    STRUCT,
    Struct,
    ThriftList,
    ThriftMap,
    decode_struct,
    encode_struct,
)


def _footer(path) -> bytes:
    data = path.read_bytes()
    length = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - length : -8]


def _table(n: int, seed: int) -> pa.Table:
    """A table with the kinds of columns of an ingest table."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "x": rng.normal(size=n).astype(np.float32),
            "_weight": rng.exponential(size=n),
            "_label": rng.integers(0, 2, n).astype(np.int8),
            "_file": np.full(n, seed, np.int32),
            "_entry": np.arange(n, dtype=np.int64),
        }
    )


def _ingest_writer(where, schema: pa.Schema, **options) -> pq.ParquetWriter:
    """The settings of hepml.ingest.sample._parquet_writer (dictionaries on small columns)."""
    small = [name for name in ("_label", "_fold", "_file") if name in schema.names]
    options = {"compression": "zstd", **options}
    return pq.ParquetWriter(where, schema, use_dictionary=small, **options)


def _write(path, tables, writer=_ingest_writer, **options):
    with writer(path, tables[0].schema, **options) as out:
        for table in tables:
            out.write_table(table)
    return path


PARTS = [[_table(5000, 1), _table(3000, 2)], [_table(2000, 3)], [_table(4000, 4), _table(7, 5)]]


@pytest.fixture
def parts(tmp_path):
    return [_write(tmp_path / f"part{i}.parquet", tables) for i, tables in enumerate(PARTS)]


# ---------------------------------------------------------------- the compact codec


def test_compact_codec_reads_hand_encoded_bytes_and_writes_them_back():
    # struct {1: true, 2: false, 3: byte -2, 4: i16 300, 5: i32 -1, 22: i64 2**40 (long
    # form: delta 17), 6: double 1.5 (long form: 6 < 22), 7: binary "ab", 8: list<i32>
    # [1, -1], 9: set<bool> [true, false], 10: map<binary, i32> {"k": 7}, 11: map {},
    # 12: struct {1: i32 5}, 13: list<i16> of 15 zeros (size after the header),
    # 28: i32 1, 44: i32 2}
    pieces = [
        [0x11, 0x12, 0x13, 0xFE, 0x14, 0xD8, 0x04, 0x15, 0x01],  # fields 1 to 5
        [0x06, 0x2C, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40],  # 22
        [0x07, 0x0C, *struct.pack("<d", 1.5)],  # 6
        [0x18, 0x02, 0x61, 0x62],  # 7
        [0x19, 0x25, 0x02, 0x01],  # 8
        [0x1A, 0x21, 0x01, 0x02],  # 9
        [0x1B, 0x01, 0x85, 0x01, 0x6B, 0x0E],  # 10
        [0x1B, 0x00],  # 11
        [0x1C, 0x15, 0x0A, 0x00],  # 12
        [0x19, 0xF4, 0x0F, *[0x00] * 15],  # 13
        [0xF5, 0x02],  # 28: delta 15, the largest in the header byte
        [0x05, 0x58, 0x04],  # 44: delta 16, long form
        [0x00],  # stop
    ]
    data = b"".join(map(bytes, pieces))
    decoded, end = decode_struct(data)
    assert end == len(data)
    values = {fid: value for fid, _, value in decoded.fields}
    assert [f[0] for f in decoded.fields] == [1, 2, 3, 4, 5, 22, 6, *range(7, 14), 28, 44]
    assert values[1] is True and values[2] is False
    assert (values[3], values[4], values[5], values[22], values[6]) == (-2, 300, -1, 2**40, 1.5)
    assert values[7] == b"ab"
    assert values[8] == ThriftList(5, [1, -1])
    assert values[9] == ThriftList(1, [True, False])
    assert values[10] == ThriftMap(8, 5, [(b"k", 7)])
    assert values[11].items == []
    assert values[12].get(1) == 5
    assert values[13] == ThriftList(4, [0] * 15)
    assert (values[28], values[44]) == (1, 2)
    assert encode_struct(decoded) == data


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"write_statistics": False},
        {"write_page_index": True},
        {"compression": "snappy", "use_dictionary": True, "write_statistics": True},
        {"sorting_columns": [pq.SortingColumn(4)]},
    ],
    ids=["ingest", "no-statistics", "page-index", "dictionaries", "sorted"],
)
def test_compact_codec_round_trips_pyarrow_footers(tmp_path, options):
    tables = [_table(300, seed) for seed in range(20)]  # 20 row groups: long list headers
    writer = _ingest_writer if "use_dictionary" not in options else pq.ParquetWriter
    path = _write(tmp_path / "t.parquet", tables, writer, **options)
    footer = _footer(path)
    meta, end = decode_struct(footer)
    assert end == len(footer)
    assert encode_struct(meta) == footer
    assert meta.get(3) == 6000 == pq.ParquetFile(path).metadata.num_rows
    assert len(meta.get(4).items) == 20


def test_compact_codec_round_trips_empty_and_nested_tables(tmp_path):
    empty = tmp_path / "empty.parquet"
    pq.write_table(_table(0, 0), empty)
    nested = tmp_path / "nested.parquet"
    table = pa.table({"jets": [[1.0, 2.0], [], None], "tag": ["a", "b", None]})
    pq.write_table(table.replace_schema_metadata({"k": "v" * 300}), nested)
    for path in (empty, nested):
        footer = _footer(path)
        assert encode_struct(decode_struct(footer)[0]) == footer


# ---------------------------------------------------------------- the splice


def test_splice_writes_the_bytes_of_one_writer(tmp_path, parts):
    one = _write(tmp_path / "one.parquet", [t for tables in PARTS for t in tables])
    rows = splice(parts, tmp_path / "spliced.parquet")
    assert rows == sum(len(t) for tables in PARTS for t in tables)
    assert (tmp_path / "spliced.parquet").read_bytes() == one.read_bytes()


def _scaled(column: str, factor: float):
    def values(table: pa.Table) -> pa.Table:
        index = table.schema.get_field_index(column)
        new = pa.compute.multiply(table.column(index), pa.scalar(factor, table.field(index).type))
        return table.set_column(index, table.field(index), new)

    return values


@pytest.mark.parametrize(
    ("column", "factor"),
    [("x", 0.37), ("_weight", 0.37), ("_file", 3), ("_entry", 3), ("_label", 0)],
)
def test_splice_with_one_column_encoded_anew_writes_the_bytes_of_one_writer(
    tmp_path, parts, column, factor
):
    # _label times 0: a smaller dictionary, so other uncompressed and compressed sizes
    scale = _scaled(column, factor)
    one = _write(tmp_path / "one.parquet", [scale(t) for tables in PARTS for t in tables])
    replace = Replacement(column, scale, _ingest_writer)
    splice(parts, tmp_path / "spliced.parquet", replace=replace)
    assert (tmp_path / "spliced.parquet").read_bytes() == one.read_bytes()


def test_offsets_move_with_the_bytes_and_rows_and_ordinals_are_counted_anew():
    # pyarrow 26 writes ColumnChunk.file_offset 0 and no RowGroup.ordinal: other writers do
    column = Struct([[7, I64, 40], [9, I64, 120], [10, I64, 0], [11, I64, 100]])
    chunk = Struct([[2, I64, 500], [3, STRUCT, column]])
    moved = _chunk_shifted(chunk, 1000)
    assert moved.get(2) == 1500
    assert [moved.get(3).get(f) for f in (9, 10, 11)] == [1120, 0, 1100]
    assert chunk.get(2) == 500 and column.get(9) == 120  # the part's metadata unchanged
    groups = [Struct([[3, I64, 10], [7, I16, 4]]), Struct([[3, I64, 5], [7, I16, 0]])]
    first = Struct([[1, I32, 2], [3, I64, 0], [4, LIST, ThriftList(STRUCT, [])]])
    footer = _merged_footer(first, groups)
    assert footer.get(3) == 15
    assert [g.get(7) for g in footer.get(4).items] == [0, 1]


def test_splice_passes_over_row_groups_without_rows_or_keeps_them(tmp_path):
    def apply_writer(where, schema):  # hepml.apply.scoring._parquet_writer: no dictionary
        return pq.ParquetWriter(where, schema, compression="zstd", use_dictionary=False)

    tables = [_table(100, 1), _table(0, 2), _table(50, 3)]
    part = _write(tmp_path / "part.parquet", tables, apply_writer)
    empty = _write(tmp_path / "empty.parquet", [_table(0, 4)], apply_writer)
    splice([part, empty, part], tmp_path / "skipped.parquet")
    with_rows = [t for t in tables if len(t)] * 2
    one = _write(tmp_path / "one.parquet", with_rows, apply_writer)
    assert (tmp_path / "skipped.parquet").read_bytes() == one.read_bytes()
    splice([part, empty, part], tmp_path / "kept.parquet", skip_empty=False)
    one = _write(tmp_path / "all.parquet", [*tables, _table(0, 4), *tables], apply_writer)
    assert (tmp_path / "kept.parquet").read_bytes() == one.read_bytes()
    assert pq.ParquetFile(tmp_path / "kept.parquet").num_row_groups == 7


def _other_schema(n: int, seed: int) -> pa.Table:
    table = _table(n, seed)
    return table.set_column(0, "x", table["x"].cast(pa.float64()))


@pytest.mark.parametrize(
    ("odd_part", "why"),
    [
        (lambda path: _write(path, [_table(10, 9)], write_page_index=True), "page index"),
        (lambda path: _write(path, [_other_schema(10, 9)]), "differs .* schema"),
        (lambda path: _write(path, [_table(10, 9)], compression="lz4"), "compression"),
    ],
    ids=["page-index", "schema", "compression"],
)
def test_splice_refuses_what_it_cannot_copy(tmp_path, parts, odd_part, why):
    odd_part(tmp_path / "odd.parquet")
    with pytest.raises(SpliceRefused, match=why):
        splice([parts[0], tmp_path / "odd.parquet"], tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()  # refused before writing


def test_splice_refuses_an_unknown_column_to_encode(tmp_path, parts):
    replace = Replacement("nope", _scaled("nope", 2.0), _ingest_writer)
    with pytest.raises(SpliceRefused, match="nope"):
        splice(parts, tmp_path / "out.parquet", replace=replace)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"XXXX" + data[4:],
        lambda data: data[:-8] + struct.pack("<I", len(data)) + b"PAR1",
        lambda data: data[:-300] + b"\x0f" * 292 + data[-8:],
        lambda data: b"PAR1",
    ],
    ids=["truncated", "bad-magic", "footer-too-long", "corrupt-footer", "too-short"],
)
def test_a_corrupt_part_is_an_input_file_error_naming_it(tmp_path, parts, damage):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(damage(parts[1].read_bytes()))
    with pytest.raises(InputFileError, match=r"bad\.parquet"):
        splice([parts[0], bad], tmp_path / "out.parquet")


def test_column_names_and_footer_come_from_the_footer_alone(parts):
    assert column_names(parts[0]) == ["x", "_weight", "_label", "_file", "_entry"]
    meta, start = read_footer(parts[0])
    assert start + len(_footer(parts[0])) + 8 == parts[0].stat().st_size
    assert meta.get(3) == 8000


# ---------------------------------------------------------------- the merges fall back


def _decoded(parts, output, norm):
    """The ingest merge the old way: every row group decoded, normalised and written."""
    from hepml.ingest.partial import _normalised
    from hepml.ingest.sample import _parquet_writer
    from hepml.tables.merge import decode_and_encode

    weights = Replacement("_weight", lambda t: _normalised(t, norm), _parquet_writer)
    return decode_and_encode(parts, output, _parquet_writer, replace=weights)


def test_the_ingest_merge_of_parts_with_a_page_index_decodes_them(tmp_path, caplog):
    from hepml.ingest.partial import _write_merged

    parts = [
        _write(tmp_path / f"part{i}.parquet", tables, write_page_index=True)
        for i, tables in enumerate(PARTS)
    ]
    with caplog.at_level(logging.INFO, logger="hepml.tables.merge"):
        rows = _write_merged(parts, tmp_path / "merged.parquet", 0.25)
    assert "by decoding" in caplog.text and "page index" in caplog.text
    assert rows == _decoded(parts, tmp_path / "old.parquet", 0.25)
    assert (tmp_path / "merged.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    weights = pq.read_table(tmp_path / "merged.parquet")["_weight"].to_numpy()
    expected = np.concatenate([0.25 * t["_weight"].to_numpy() for ts in PARTS for t in ts])
    np.testing.assert_array_equal(weights, expected)


def test_the_ingest_merge_splices_to_the_bytes_of_decoding(tmp_path, parts, caplog):
    from hepml.ingest.partial import _write_merged

    with caplog.at_level(logging.INFO, logger="hepml.tables.merge"):
        rows = _write_merged(parts, tmp_path / "merged.parquet", 1 / 3)
    assert "by decoding" not in caplog.text
    assert rows == _decoded(parts, tmp_path / "old.parquet", 1 / 3)
    assert (tmp_path / "merged.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
