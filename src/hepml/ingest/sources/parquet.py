"""Parquet input source: one file read in row batches with pyarrow, flat names over structs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import awkward as ak

from hepml.exceptions import InputFileError
from hepml.ingest.sources.base import FieldSource

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from hepml.ingest.reading import InputFile

__all__ = ["ParquetSource", "memory_size"]


class ParquetSource(FieldSource):
    """A Parquet file, read in row batches with pyarrow; struct fields appear as flat names.

    Only the Parquet leaf columns of the names asked for are read; a string ``step_size``
    ("100 MB") becomes a number of rows from the uncompressed size of those columns.
    """

    kind, item = "Parquet", "column"

    def __init__(self, file: InputFile, parquet: pq.ParquetFile) -> None:
        super().__init__(file)
        self.parquet = parquet
        schema = parquet.schema_arrow
        self._set_columns(ak.from_arrow(schema.empty_table(), highlevel=False).form)
        self.num_entries = int(parquet.metadata.num_rows)
        self._leaves = _parquet_leaves(parquet)

    @property
    def what(self) -> str:
        return "Parquet file"

    @property
    def where(self) -> str:
        return f"Parquet file '{self.file.path}'"

    def iterate(self, names, step_size, entry_start=0):
        if entry_start:  # only remote reads resume, and Parquet files are read locally
            msg = "a Parquet file is read from its first row"
            raise ValueError(msg)
        names = list(names)
        paths = self._leaf_columns([self.columns[n].path for n in names])
        rows = self._rows(step_size, paths)
        tops = sorted({self.columns[n].path[0] for n in names})
        start = 0
        for batch in self.parquet.iter_batches(batch_size=rows, columns=paths, use_threads=False):
            stop = start + batch.num_rows
            arrays = {top: ak.from_arrow(batch.column(top)) for top in tops}
            yield self.flat(arrays, names, start), start, stop
            start = stop

    def _leaf_columns(self, paths: list[tuple[str, ...]]) -> list[str]:
        """The Parquet column paths to read for these field paths (whole fields if unsure)."""
        if self._leaves is None:
            return sorted({p[0] for p in paths})
        wanted = {
            column for path in paths for leaf, column in self._leaves if leaf[: len(path)] == path
        }
        return [column for _, column in self._leaves if column in wanted]

    def _rows(self, step_size: str | int, columns: list[str]) -> int:
        if isinstance(step_size, int):
            return max(1, step_size)
        metadata = self.parquet.metadata
        index = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
        chosen = [
            i for path, i in index.items() if path in columns or path.split(".")[0] in columns
        ]
        size = sum(
            metadata.row_group(g).column(i).total_uncompressed_size
            for g in range(metadata.num_row_groups)
            for i in chosen
        )
        per_row = max(1.0, size / max(1, metadata.num_rows))
        return max(1, int(memory_size(step_size) // per_row))

    def close(self) -> None:
        self.parquet.close()


def _parquet_leaves(parquet: pq.ParquetFile) -> list[tuple[tuple[str, ...], str]] | None:
    """(struct field path, Parquet column path) of every leaf; None if they cannot be paired.

    Parquet stores one column per leaf in the depth-first order of the Arrow schema, with list
    levels named by the writer (``list.item``, ``list.element``); pairing them lets a batch
    read ``Jet.pt`` without the other fields of ``Jet``.
    """
    leaves: list[tuple[str, ...]] = []
    for field in parquet.schema_arrow:
        leaves.extend(_arrow_leaves(field.type, (field.name,)))
    columns = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
    if len(leaves) != len(columns) or any(
        c.split(".")[0] != leaf[0] for leaf, c in zip(leaves, columns, strict=True)
    ):
        return None
    return list(zip(leaves, columns, strict=True))


def _arrow_leaves(kind, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    import pyarrow as pa

    if pa.types.is_struct(kind):
        return [leaf for field in kind for leaf in _arrow_leaves(field.type, (*prefix, field.name))]
    if pa.types.is_map(kind):
        return [*_arrow_leaves(kind.key_type, prefix), *_arrow_leaves(kind.item_type, prefix)]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _arrow_leaves(kind.value_type, prefix)
    return [prefix]


_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2**10, "MiB": 2**20,
          "GiB": 2**30}  # fmt: skip


def memory_size(text: str) -> float:
    """Bytes of a step size such as ``"100 MB"`` (units as in uproot: kB = 1000 B)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", text)
    if not match or match[2] not in _UNITS:
        msg = f"step_size '{text}' is not a number of entries nor a size such as '100 MB'"
        raise InputFileError(msg)
    return float(match[1]) * _UNITS[match[2]]
