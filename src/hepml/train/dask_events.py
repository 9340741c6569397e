"""The ingest tables as lazy Dask arrays, read with dask-awkward (``training.engine: dask``).

Each sample's Parquet table is read with ``dask_awkward.from_parquet``, one partition per row
group (ingest writes one per ``reading.step_size`` chunk), and each partition becomes the
arrays of :class:`Events`: the same arrays as :class:`hepml.tables.features.Dataset`, in the same
order, but spread over a Dask cluster. Dask and dask-awkward come with the ``dask`` extra.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from hepml.exceptions import DataError, did_you_mean

__all__ = ["ARRAYS", "Events", "persist_events", "read_events"]

# The arrays of Events and their types; all but X and sample are ingest's "_" columns
ARRAYS = {
    "X": np.float32,
    "weight": np.float64,
    "label": np.int8,
    "fold": np.int8,
    "event": np.uint64,
    "file": np.int32,
    "entry": np.int64,
    "sample": np.int16,
}
BOOKKEEPING = [f"_{key}" for key in list(ARRAYS)[1:-1]]


@dataclasses.dataclass(frozen=True)
class Events:
    """The events of every sample as lazy Dask arrays, one chunk per Parquet row group.

    ``sample`` holds the index of each event's sample in ``samples`` (and ``processes``);
    the other arrays are those of :class:`hepml.tables.features.Dataset`.
    """

    features: list[str]
    samples: tuple[str, ...]
    processes: tuple[str, ...]
    X: Any  # dask.array (n_events, n_features) float32
    weight: Any
    label: Any
    fold: Any
    event: Any
    file: Any
    entry: Any
    sample: Any  # int16


def read_events(
    tables: Mapping[str, str | Path], features: list[str], processes: Mapping[str, str]
) -> Events:
    """Read the ingest tables (sample name -> path) lazily, in the order of ``load_dataset``.

    One task per Parquet row group reads all its columns (``dask_awkward.from_parquet``) and
    turns them into the arrays of :class:`Events`. Raises :class:`DataError` naming the table
    if it lacks a column (it was ingested under another config).
    """
    import dask
    import dask.array as da
    import dask_awkward as dak

    names: list[str] = []
    blocks: dict[str, list[Any]] = {key: [] for key in ARRAYS}
    for sample, path in tables.items():
        sizes = _row_groups(sample, path, features)
        if not sizes:
            continue  # no events selected: nothing to read
        arr = dak.from_parquet(str(path), columns=[*features, *BOOKKEEPING], split_row_groups=True)
        for part, n in zip(arr.to_delayed(), sizes, strict=True):
            arrays = dask.delayed(_partition_arrays, nout=len(ARRAYS))(part, features, len(names))
            for key, value in zip(ARRAYS, arrays, strict=True):
                shape = (n, len(features)) if key == "X" else (n,)
                blocks[key].append(da.from_delayed(value, shape=shape, dtype=ARRAYS[key]))
        names.append(sample)
    if not names:
        msg = f"no events in any of the tables {', '.join(str(p) for p in tables.values())}"
        raise DataError(msg)
    return Events(
        list(features),
        tuple(names),
        tuple(processes.get(n, n) for n in names),
        **{key: da.concatenate(parts) for key, parts in blocks.items()},
    )


def _row_groups(sample: str, path: str | Path, features: list[str]) -> list[int]:
    """The number of events in each row group of a sample's table, its columns checked."""
    metadata = pq.ParquetFile(path).metadata
    columns = metadata.schema.to_arrow_schema().names
    missing = [c for c in [*features, *BOOKKEEPING] if c not in columns]
    if missing:
        hint = did_you_mean(missing[0], columns)
        msg = (
            f"table '{path}' of sample '{sample}' has no column '{missing[0]}'.{hint} "
            "Was it ingested with another configuration? Rerun the ingest rule."
        )
        raise DataError(msg)
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def _partition_arrays(part: Any, features: list[str], sample: int) -> tuple[np.ndarray, ...]:
    """The arrays of :class:`Events` (in ``ARRAYS`` order) from one row group (awkward)."""
    X = np.empty((len(part), len(features)), dtype=np.float32)
    for j, feature in enumerate(features):
        X[:, j] = _numpy(part[feature], np.float32, np.nan)
    bookkeeping = [_numpy(part[f"_{key}"], ARRAYS[key], 0) for key in list(ARRAYS)[1:-1]]
    return (X, *bookkeeping, np.full(len(part), sample, dtype=ARRAYS["sample"]))


def _numpy(column: Any, dtype: type, fill: float) -> np.ndarray:
    """One column as a NumPy array of ``dtype``.

    Parquet columns are nullable, so awkward reads them as option types; ingest writes no
    nulls, and a null feature would be missing (NaN), as pyarrow's ``to_numpy`` makes it.
    """
    import awkward as ak

    column = ak.fill_none(ak.values_astype(column, dtype), np.dtype(dtype).type(fill))
    return ak.to_numpy(column)


def persist_events(events: Events, client: Any) -> Events:
    """``events`` read into the memory of the cluster's workers (one read of the tables).

    Every later pass (weight sums, training sets, scores) then starts from the same
    partitions, and no graph redefines another's keys.
    """
    arrays = client.persist([getattr(events, key) for key in ARRAYS])
    return dataclasses.replace(events, **dict(zip(ARRAYS, arrays, strict=True)))
