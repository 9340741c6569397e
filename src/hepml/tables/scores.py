"""The fold models' score tables, one model at a time, in the compact form evaluation uses.

Every fold model scores every event, so the K tables hold K x N (event, model) rows. The
evaluation never needs them all at once: a model's training rows only feed its own
overtraining check, and everything else is computed on the N out-of-fold (``set == "test"``)
rows. A :class:`ScoreSource` therefore yields one :class:`ModelScores` at a time, with the
string columns (``set``, ``sample``, ``process``) as small integer codes, and the caller keeps
only the test rows: peak memory is one model's table plus the test rows (about 30 bytes per
event each) instead of K x N rows of numpy strings.

:class:`ScoreFiles` reads the training stage's ``scores.parquet`` files (string columns read as
Parquet dictionaries, never as Python or numpy strings); :class:`ScoreTable` splits a table
already in memory (a mapping of arrays, as the tests and notebooks build it).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml.exceptions import DataError, FoldMismatch, did_you_mean
from hepml.folds import SETS

__all__ = [
    "SETS",
    "TEST",
    "TRAIN",
    "ModelScores",
    "ScoreFiles",
    "ScoreSource",
    "ScoreTable",
    "models_in_order",
]

TRAIN, VALIDATION, TEST = range(len(SETS))
LABELS = (0, 1)
COLUMNS = ("score", "label", "weight", "fold", "model_fold", "set", "sample")
FILE_COLUMNS = ("score", "label", "weight", "fold", "model_fold", "set", "process")


@dataclasses.dataclass(frozen=True)
class ModelScores:
    """The rows of one model: its score of each event, with the event's set, class and weight.

    ``set`` holds codes into :data:`SETS`; ``sample`` and ``process`` hold codes into the
    source's ``names`` (the same array when the source groups samples by process). Rows are
    in order of decreasing score (ties in table order): every ROC curve, KS test and working
    point sorts by score, and numpy's stable sort of sorted runs is nearly free, where one
    of 10M shuffled scores takes seconds.
    """

    model_fold: int
    score: np.ndarray
    label: np.ndarray
    weight: np.ndarray
    fold: np.ndarray
    set: np.ndarray
    sample: np.ndarray
    process: np.ndarray

    def rows(self, mask: np.ndarray) -> dict[str, np.ndarray]:
        """The columns of the rows in ``mask`` (``model_fold`` as a column), as a dict."""
        out = {c: getattr(self, c)[mask] for c in ("score", "label", "weight", "fold")}
        out["sample"] = self.sample[mask]
        out["process"] = out["sample"] if self.process is self.sample else self.process[mask]
        out["model_fold"] = np.full(out["score"].size, self.model_fold, dtype=np.int8)
        return out


class _Names:
    """Category names shared by all models of a source, in order of first appearance."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def codes(self, local_names: Sequence[Any], local_codes: np.ndarray) -> np.ndarray:
        """Map codes into ``local_names`` to codes into the shared names (int32)."""
        lookup = np.empty(len(local_names), dtype=np.int32)
        for i, name in enumerate(map(str, local_names)):
            if name not in self._index:
                self._index[name] = len(self.names)
                self.names.append(name)
            lookup[i] = self._index[name]
        return lookup[local_codes] if len(local_names) else np.zeros(0, dtype=np.int32)


def _set_codes(names: Sequence[str], codes: np.ndarray, where: str) -> np.ndarray:
    """Codes into ``names`` (set values) turned into codes into :data:`SETS` (int8)."""
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        msg = f"{where} has set value(s) {unknown} (allowed {list(SETS)})"
        raise DataError(msg)
    return np.array([SETS.index(s) for s in names] or [0], dtype=np.int8)[codes]


def _check_model(model: ModelScores, where: str) -> None:
    """Finite scores and weights, labels 0/1, and test rows from the model's own fold."""
    for name in ("score", "weight"):
        if not np.all(np.isfinite(getattr(model, name))):
            msg = f"{where}: column '{name}' has NaN or inf values"
            raise DataError(msg)
    unknown_labels = sorted(set(np.unique(model.label).tolist()) - set(LABELS))
    if unknown_labels:
        msg = (
            f"{where}: score table has label value(s) {unknown_labels} "
            "(allowed 0 = background, 1 = signal)"
        )
        raise DataError(msg)
    wrong = (model.set == TEST) & (model.fold != model.model_fold)
    if np.any(wrong):
        msg = (
            f"{where}: {int(wrong.sum())} test row(s) were scored by a model whose test fold is "
            f"not the event's fold (model {model.model_fold} must test on fold {model.model_fold})"
        )
        raise FoldMismatch(msg)


class ScoreSource(abc.ABC):
    """K models' score tables, read one model at a time (iterate to get :class:`ModelScores`).

    ``n_folds`` is K; ``score_range`` the lowest and highest score of any row (the histogram
    and significance-scan range); ``names`` the sample/process names the codes refer to,
    complete once the iteration is over.
    """

    n_folds: int
    names: list[str]

    @abc.abstractmethod
    def score_range(self) -> tuple[float, float]:
        """The lowest and highest score over all rows of all models."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[ModelScores]:
        """Each model's :class:`ModelScores`, models 0..K-1 in order, one at a time."""


class ScoreTable(ScoreSource):
    """A score table in memory (a mapping of equal-length arrays), split by ``model_fold``.

    Needs the columns of :data:`COLUMNS`; an optional ``process`` column groups samples in the
    per-process tables (default: the ``sample`` column).
    """

    def __init__(self, table: Mapping[str, Any]) -> None:
        missing = [c for c in COLUMNS if c not in table]
        if missing:
            hint = did_you_mean(missing[0], table)
            msg = f"score table lacks column(s) {missing}; it has {sorted(table)}.{hint}"
            raise DataError(msg)
        columns = {c: np.asarray(table[c]) for c in COLUMNS}
        columns["process"] = np.asarray(table.get("process", table["sample"]))
        lengths = {c: a.shape[0] if a.ndim else 0 for c, a in columns.items()}
        if len(set(lengths.values())) != 1:
            msg = f"score table columns differ in length: {lengths}"
            raise DataError(msg)
        if lengths["score"] == 0:
            msg = "score table is empty: no (event, model) rows to evaluate"
            raise DataError(msg)
        set_names, set_codes = np.unique(columns["set"].astype(str), return_inverse=True)
        columns["set"] = _set_codes(set_names.tolist(), set_codes, "score table")
        names = _Names()
        for name in ("sample", "process"):
            local, codes = np.unique(columns[name].astype(str), return_inverse=True)
            columns[name] = names.codes(local.tolist(), codes)
        self.names = names.names
        self._columns = columns
        folds = sorted(int(k) for k in np.unique(columns["model_fold"]))
        if folds != list(range(len(folds))):
            msg = f"model folds must be 0..K-1; found {folds}"
            raise FoldMismatch(msg)
        self.n_folds = len(folds)

    def score_range(self) -> tuple[float, float]:
        score = self._columns["score"]
        return float(np.min(score)), float(np.max(score))

    def __iter__(self) -> Iterator[ModelScores]:
        c = self._columns
        for k in range(self.n_folds):
            rows = np.flatnonzero(c["model_fold"] == k)
            rows = rows[np.argsort(-c["score"][rows], kind="stable")]
            model = ModelScores(
                k, *(c[n][rows] for n in COLUMNS if n != "model_fold"), c["process"][rows]
            )
            _check_model(model, "score table")
            yield model


class ScoreFiles(ScoreSource):
    """The ``scores.parquet`` of each fold model, as the training stage writes them.

    The histograms and tables group events by the ``process`` column. Raises
    :class:`FoldMismatch` unless the files hold models 0..K-1 once each, and
    :class:`DataError`, naming the file, for a missing column or a bad value.
    """

    def __init__(self, paths: Sequence[str | Path], *, n_folds: int) -> None:
        self.names = []
        self._names = _Names()
        self.n_folds = n_folds
        self._paths = models_in_order(paths, n_folds=n_folds)

    def score_range(self) -> tuple[float, float]:
        ranges = [_column_range(path, "score") for path in self._paths]
        return float(min(r[0] for r in ranges)), float(max(r[1] for r in ranges))

    def events(self) -> int:
        """N, the rows of one model's table (every model scores every event)."""
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(self._paths[0]).metadata.num_rows)

    def batches(self, k: int, rows: int) -> Iterator[ModelScores]:
        """Model ``k``'s rows in batches of ``rows``, in file order (not sorted by score),
        checked and coded as in the iteration: for a streaming pass over any number of
        events (:mod:`hepml.evaluate.streaming`)."""
        import pyarrow.parquet as pq

        path = self._paths[k]
        with pq.ParquetFile(path, read_dictionary=["set", "process"]) as table:
            for batch in table.iter_batches(rows, columns=list(FILE_COLUMNS)):
                column = {c: _numpy(batch.column(c)) for c in ("score", "label", "weight", "fold")}
                set_names, set_codes = _dictionary(batch.column("set"))
                column["set"] = _set_codes(set_names, set_codes, f"score table {path}")
                column["process"] = self._names.codes(*_dictionary(batch.column("process")))
                self.names = self._names.names
                model = ModelScores(
                    k, column["score"], column["label"], column["weight"], column["fold"],
                    column["set"], column["process"], column["process"],
                )  # fmt: skip
                _check_model(model, f"score table {path}")
                yield model

    def score_sample(self, k: int, size: int) -> np.ndarray:
        """About ``size`` scores of model ``k``, every n-th row (for quantiles)."""
        import pyarrow.parquet as pq

        stride = max(1, self.events() // max(size, 1))
        parts = []
        with pq.ParquetFile(self._paths[k]) as table:
            for batch in table.iter_batches(1 << 20, columns=["score"]):
                parts.append(_numpy(batch.column(0))[::stride].copy())
        return np.concatenate(parts) if parts else np.zeros(0)

    def __iter__(self) -> Iterator[ModelScores]:
        for k, path in enumerate(self._paths):
            yield self._read(k, path)

    def _read(self, k: int, path: Path) -> ModelScores:
        """Model ``k``'s rows; ``set`` and ``process`` decoded from their Parquet dictionaries."""
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=list(FILE_COLUMNS), read_dictionary=["set", "process"])
        table = table.unify_dictionaries()
        column = {c: _numpy(table.column(c)) for c in ("score", "label", "weight", "fold")}
        set_names, set_codes = _dictionary(table.column("set"))
        column["set"] = _set_codes(set_names, set_codes, f"score table {path}")
        column["process"] = self._names.codes(*_dictionary(table.column("process")))
        self.names = self._names.names
        del table, set_codes
        order = np.argsort(-column["score"], kind="stable")
        for name in column:  # one column at a time: the unsorted one is freed as we go
            column[name] = column[name][order]
        del order
        model = ModelScores(
            k, column["score"], column["label"], column["weight"], column["fold"],
            column["set"], column["process"], column["process"],
        )  # fmt: skip
        _check_model(model, f"score table {path}")
        return model


def models_in_order(paths: Sequence[str | Path], *, n_folds: int) -> list[Path]:
    """The score files ordered by model fold, checked to hold models 0..K-1 once each.

    Raises :class:`DataError`, naming the file, when one lacks a score-table column, and
    :class:`FoldMismatch` when a model is missing or present twice, or a file holds several.
    """
    import pyarrow.parquet as pq

    by_fold: dict[int, Path] = {}
    seen = []
    for path in map(Path, paths):
        columns = pq.read_schema(path).names
        missing = [c for c in FILE_COLUMNS if c not in columns]
        if missing:
            hint = did_you_mean(missing[0], columns)
            msg = f"score table {path} lacks column(s) {missing}; it has {columns}.{hint}"
            raise DataError(msg)
        model_fold = pq.read_table(path, columns=["model_fold"]).column(0).to_numpy()
        models = np.unique(model_fold).tolist()
        if len(models) > 1:
            msg = (
                f"score table {path} holds the rows of models {models}; each model's "
                "scores.parquet must hold that model only"
            )
            raise FoldMismatch(msg)
        seen += models
        by_fold.update(dict.fromkeys(models, path))
    if sorted(seen) != list(range(n_folds)):
        msg = (
            f"expected the scores of models 0..{n_folds - 1} (config has {n_folds} folds), "
            f"got models {sorted(seen)} from {len(paths)} file(s); rerun the train rule"
        )
        raise FoldMismatch(msg)
    return [by_fold[k] for k in range(n_folds)]


def _numpy(column: Any) -> np.ndarray:
    """A numeric Arrow column (or array) as one numpy array (no copy for a single chunk)."""
    if not hasattr(column, "num_chunks"):
        return column.to_numpy(zero_copy_only=False)
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy(zero_copy_only=False)
    return column.to_numpy()


def _column_range(path: Path, name: str) -> tuple[float, float]:
    """The lowest and highest value of column ``name``: from the row groups' statistics
    when every one has them, else read in batches (never the whole column at once)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as table:
        metadata = table.metadata
        index = table.schema_arrow.get_field_index(name)
        stats = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if stats and all(s is not None and s.has_min_max for s in stats):
            return float(min(s.min for s in stats)), float(max(s.max for s in stats))
        low, high = np.inf, -np.inf
        for batch in table.iter_batches(1 << 20, columns=[name]):
            extremes = pc.min_max(batch.column(0)).as_py()
            if extremes["min"] is not None:
                low, high = min(low, extremes["min"]), max(high, extremes["max"])
        return float(low), float(high)


def _dictionary(column: Any) -> tuple[list[str], np.ndarray]:
    """The dictionary and the indices of a dictionary-typed Arrow column (one dictionary),
    or of one dictionary array (a record batch's column)."""
    if not hasattr(column, "num_chunks"):
        return column.dictionary.to_pylist(), column.indices.to_numpy(zero_copy_only=False)
    if column.num_chunks == 0:
        return [], np.zeros(0, dtype=np.int32)
    names = column.chunk(0).dictionary.to_pylist()
    codes = np.concatenate(
        [chunk.indices.to_numpy(zero_copy_only=False) for chunk in column.chunks]
    )
    return names, codes
