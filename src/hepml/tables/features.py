"""Load the per-sample feature tables written by ingest into one training data set.

Kept separate from training so that evaluation, apply and notebooks read the tables the same
way: features as a float32 matrix in the configured order, plus the bookkeeping columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hepml.exceptions import DataError, did_you_mean

__all__ = [
    "Dataset",
    "check_features",
    "check_tables",
    "feature_batches",
    "load_dataset",
    "read_column",
]


@dataclass(frozen=True)
class Dataset:
    """All selected events of all samples, in sample order then file order."""

    features: list[str]
    X: np.ndarray  # (n_events, n_features) float32
    weight: np.ndarray  # float64, signed, luminosity-normalised
    label: np.ndarray  # int8, 1 = signal
    fold: np.ndarray  # int8
    sample: np.ndarray  # str, sample name
    process: np.ndarray  # str, process name (for stacking)
    event: np.ndarray  # uint64
    file: np.ndarray  # int32
    entry: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.weight)

    def subset(self, mask: np.ndarray) -> Dataset:
        """The events where ``mask`` is true (a copy)."""
        return Dataset(self.features, *(getattr(self, f)[mask] for f in _ARRAYS))


_ARRAYS = ("X", "weight", "label", "fold", "sample", "process", "event", "file", "entry")


def check_features(sample: str, path: str | Path, columns: list[str], features: list[str]) -> None:
    """Raise :class:`DataError` naming the table if its ``columns`` lack one of ``features``."""
    missing = [f for f in features if f not in columns]
    if missing:
        hint = did_you_mean(missing[0], columns)
        msg = (
            f"table '{path}' of sample '{sample}' has no column for feature '{missing[0]}'."
            f"{hint} Was it ingested with another configuration? Rerun the ingest rule."
        )
        raise DataError(msg)


def check_tables(tables: Mapping[str, str | Path], features: list[str]) -> None:
    """:func:`check_features` for every table (sample -> Parquet path), from its schema only."""
    for sample, path in tables.items():
        check_features(sample, path, pq.read_schema(path).names, features)


def read_column(tables: Mapping[str, str | Path], name: str) -> np.ndarray:
    """Column ``name`` of every table (sample -> Parquet path), stacked in table order as
    :func:`load_dataset` stacks them: one column at a time, for jobs that need few."""
    parts = [pq.read_table(path, columns=[name]).column(0).to_numpy() for path in tables.values()]
    return np.concatenate(parts)


def feature_batches(
    path: str | Path, features: list[str], extra: tuple[str, ...], batch_rows: int
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Row batches of one ingest table: its features as a float32 matrix (as
    :func:`load_dataset` reads them) and the ``extra`` columns, ``batch_rows`` at a time."""
    with pq.ParquetFile(path) as table:
        for batch in table.iter_batches(batch_rows, columns=[*features, *extra]):
            columns = [batch.column(f).to_numpy(zero_copy_only=False) for f in features]
            X = (
                np.column_stack(columns).astype(np.float32)
                if features
                else np.empty((batch.num_rows, 0), dtype=np.float32)
            )
            yield X, {c: batch.column(c).to_numpy(zero_copy_only=False) for c in extra}


def load_dataset(
    tables: Mapping[str, str | Path],
    features: list[str],
    processes: Mapping[str, str] | None = None,
) -> Dataset:
    """Read the Parquet table of each sample (name -> path) and stack them.

    Raises :class:`DataError` naming the file if a table lacks a configured feature (the
    table was written under another config).
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
    for sample, path in tables.items():
        table = pq.read_table(path)
        check_features(sample, path, table.column_names, features)
        n = table.num_rows
        parts["X"].append(
            np.column_stack([table.column(f).to_numpy().astype(np.float32) for f in features])
            if features
            else np.empty((n, 0), dtype=np.float32)
        )
        for col in ("weight", "label", "fold", "event", "file", "entry"):
            parts[col].append(table.column(f"_{col}").to_numpy())
        parts["sample"].append(np.full(n, sample, dtype=object))
        parts["process"].append(np.full(n, (processes or {}).get(sample, sample), dtype=object))
    arrays = {
        name: np.concatenate(values) if values else np.empty(0) for name, values in parts.items()
    }
    arrays["sample"] = arrays["sample"].astype(str)
    arrays["process"] = arrays["process"].astype(str)
    return Dataset(list(features), **arrays)


def read_scores(paths: list[str | Path], *, n_folds: int) -> dict[str, np.ndarray]:
    """Read the ``scores.parquet`` of every fold model whole and check that they fit together.

    This is all K x N (event, model) rows with every column, for joins in tests and notebooks;
    the evaluation stage reads one model at a time (:class:`hepml.tables.scores.ScoreFiles`).
    Raises :class:`FoldMismatch` if a model is missing or present twice, or if an event's
    test score came from a model other than the one whose test fold holds it.
    """
    from hepml.exceptions import FoldMismatch
    from hepml.tables.scores import models_in_order

    tables = [pq.read_table(p) for p in models_in_order(paths, n_folds=n_folds)]
    columns = tables[0].column_names
    out = {
        c: np.concatenate([t.column(c).to_numpy(zero_copy_only=False) for t in tables])
        for c in columns
    }
    test = out["set"] == "test"
    if np.any(out["fold"][test] != out["model_fold"][test]):
        msg = (
            "a test score comes from a model that trained on the event: fold bookkeeping is broken"
        )
        raise FoldMismatch(msg)
    for name in ("set", "sample", "process"):
        out[name] = out[name].astype(str)
    return out
