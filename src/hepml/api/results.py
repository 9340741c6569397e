"""A finished run's numbers read back: its out-of-fold scores and its evaluation tables."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from hepml.exceptions import DataError, FoldMismatch, did_you_mean
from hepml.review.compare import evaluation_dir
from hepml.tables.scores import models_in_order

__all__ = ["LIBRARIES", "read_metrics", "read_scores"]

LIBRARIES = ("np", "pd", "pa")
BDT = "xgboost"  # the classifier name of the BDT in every table
_FOLD_DIR = re.compile(r"^fold(\d+)$")
_INTEGER = re.compile(r"^-?\d+$")


def read_scores(
    results: str | os.PathLike[str], *, classifier: str = BDT, library: str = "np"
) -> Any:
    """The out-of-fold scores of a run: every selected event once, scored by the model of its
    fold, the one that never saw it (what the evaluation's ROC curves and tables use).

    :param results: the results directory of the run (``results/``).
    :param classifier: ``"xgboost"`` (the BDTs, ``train/fold<k>/scores.parquet``) or the name
        of one of ``training.baselines`` (``baselines/<name>/fold<k>/scores.parquet``).
    :param library: ``"np"``: a dict of numpy arrays; ``"pd"``: a pandas DataFrame (pandas
        must be installed); ``"pa"``: a pyarrow Table.
    :returns: the columns ``score`` (P(signal)), ``label`` (1 signal, 0 background),
        ``weight`` (signed, normalised to the luminosity), ``fold``, ``sample``, ``process``,
        ``event`` (the last event-number branch; the entry with ``event_number: none``),
        ``file`` (index in the sample's file list) and ``entry`` (in the file); rows in the
        order of the ingest tables (samples in config order, then file, then entry).
    :raises FoldMismatch: a fold's scores are missing or present twice, or an event's score
        comes from a model that trained on it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if library not in LIBRARIES:
        msg = f"library '{library}' is not one of {', '.join(LIBRARIES)}"
        raise ValueError(msg)
    paths = _score_files(Path(results), classifier)
    parts = [
        pq.read_table(p, filters=[("set", "==", "test")])
        for p in models_in_order(paths, n_folds=len(paths))
    ]
    table = pa.concat_tables(parts)
    fold, model_fold = (table.column(c).to_numpy() for c in ("fold", "model_fold"))
    if np.any(fold != model_fold):
        msg = (
            f"the scores under '{paths[0].parent.parent}' are inconsistent: an event's "
            "out-of-fold score comes from a model that trained on it; rerun the train rule"
        )
        raise FoldMismatch(msg)
    table = table.drop_columns(["set", "model_fold"]).take(_ingest_order(table))
    if library == "pa":
        return table
    if library == "pd":
        try:
            return table.to_pandas()
        except ImportError as err:
            msg = "library='pd' needs pandas: pip install pandas (or use library='np')"
            raise ImportError(msg) from err
    return {name: _numpy(table.column(name)) for name in table.column_names}


def _score_files(results: Path, classifier: str) -> list[Path]:
    """The ``fold<k>/scores.parquet`` of ``classifier``, checked to exist."""
    baselines = results / "baselines"
    known = [BDT]
    if baselines.is_dir():
        known += sorted(p.name for p in baselines.iterdir() if p.is_dir())
    directory = results / "train" if classifier == BDT else baselines / classifier
    folds = [d for d in directory.glob("fold*") if _FOLD_DIR.match(d.name)]
    folds.sort(key=lambda d: int(_FOLD_DIR.match(d.name)[1]))
    paths = [d / "scores.parquet" for d in folds]
    if classifier not in known or not paths:
        msg = (
            f"'{results}' has no scores of classifier '{classifier}' ({directory}/fold<k>/"
            f"scores.parquet); classifiers of this run: {', '.join(known)}."
            f"{did_you_mean(classifier, known)}"
        )
        raise DataError(msg)
    return paths


def _ingest_order(table: Any) -> np.ndarray:
    """Row order: samples in order of first appearance (the config's), then file, then entry."""
    sample = _numpy(table.column("sample"))
    _, first, codes = np.unique(sample, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    file, entry = (table.column(c).to_numpy() for c in ("file", "entry"))
    return np.lexsort((entry, file, rank[codes]))


def _numpy(column: Any) -> np.ndarray:
    values = column.to_numpy(zero_copy_only=False)
    return values.astype(str) if values.dtype == object else values


def read_metrics(results: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Every evaluation table of a run, as records: ``metrics`` (AUC per classifier, per fold
    and its spread), ``working_points``, ``overtraining``, and those the run wrote besides
    (``confusion``, ``per_process``, ``significance``, ``importance``).

    :param results: the results directory of the run (or its ``evaluation/``).
    :returns: table name -> one dict per row, column -> value: numbers as ``int`` or
        ``float`` (full precision, as in the CSV files), flags as ``bool``, names as ``str``.
    """
    directory = evaluation_dir(results)
    tables = {}
    for path in sorted(directory.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            tables[path.stem] = [
                {k: _value(v) for k, v in row.items()} for row in csv.DictReader(handle)
            ]
    return tables


def _value(text: str | None) -> Any:
    """A CSV cell as the value hepml wrote: bool, int, float (nan, inf too) or text."""
    if text is None or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if _INTEGER.match(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text
