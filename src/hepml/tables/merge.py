"""Parquet tables of a sample's parts merged into the one table a single job writes.

The row groups' bytes are copied where that gives the bytes a writer gives
(:func:`hepml.tables.parquet_splice.splice`); where it cannot (a page index, other writer
settings: :class:`~hepml.tables.parquet_splice.SpliceRefused`), every row group is decoded and
written again by the caller's writer: the same bytes, slower. Used by the ingest and apply
merges (:mod:`hepml.ingest.partial`, :mod:`hepml.apply.merge`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepml.tables.parquet_splice import Replacement, SpliceRefused, splice

__all__ = ["decode_and_encode", "merge_tables"]

log = logging.getLogger(__name__)


def merge_tables(
    parts: Sequence[str | Path],
    output: str | Path,
    writer: Callable[[Any, pa.Schema], pq.ParquetWriter],
    *,
    replace: Replacement | None = None,
    skip_empty: bool = True,
) -> int:
    """Write ``output`` from the row groups of ``parts`` as
    :func:`~hepml.tables.parquet_splice.splice` does, or where it refuses, as
    :func:`decode_and_encode` does with ``writer`` (the same bytes, slower); return its rows."""
    try:
        return splice(parts, output, replace=replace, skip_empty=skip_empty)
    except SpliceRefused as why:
        log.info("merging the parts by decoding them: %s", why)
        return decode_and_encode(parts, output, writer, replace=replace, skip_empty=skip_empty)


def decode_and_encode(
    parts: Sequence[str | Path],
    output: str | Path,
    writer: Callable[[Any, pa.Schema], pq.ParquetWriter],
    *,
    replace: Replacement | None = None,
    skip_empty: bool = True,
) -> int:
    """:func:`~hepml.tables.parquet_splice.splice` the slow way: every row group of ``parts``
    (those without rows passed over if ``skip_empty``) decoded, ``replace.values`` applied,
    written by ``writer``; the rows written (nothing written, not even a file, when there are
    none)."""
    written, out = 0, None
    try:
        for part in parts:
            with pq.ParquetFile(part) as source:
                for i in range(source.num_row_groups):
                    table = source.read_row_group(i)
                    if skip_empty and not table.num_rows:
                        continue
                    if replace is not None:
                        table = replace.values(table)
                    if out is None:
                        out = writer(output, table.schema)
                    out.write_table(table)
                    written += table.num_rows
    finally:
        if out is not None:
            out.close()
    return written
