"""Feature ranking of the fold models: XGBoost gain and mean |SHAP|.

SHAP values come from XGBoost itself (``predict(..., pred_contribs=True)``, exact TreeSHAP,
in log-odds units), so no extra dependency is needed. Each fold model is explained on its
own test fold (events it never saw), and the ranking is the mean over the folds, with the
spread over folds. Two measures, because they answer different questions:

- total gain: how much each feature's splits reduced the training loss (what the model
  *used*; inflated for high-cardinality features);
- mean |SHAP| over test events: how much each feature moves the predictions on average
  (what the model's output *depends on*), unweighted (one entry per Monte Carlo event).

Both are reported as fractions of their totals over features, so they can share an axis.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from hepml.exceptions import DataError
from hepml.models import load_fold_models, load_fold_outputs
from hepml.plotdata.base import floats
from hepml.plotdata.training import ShapSummary
from hepml.tables.features import check_tables, read_column
from hepml.tables.text import write_table

__all__ = [
    "FoldImportance",
    "beeswarm_data",
    "feature_ranking",
    "fold_importance",
    "gain_importance",
    "importance_from_files",
    "shap_values",
    "write_importance",
]

log = logging.getLogger(__name__)


def shap_values(
    booster: xgb.Booster,
    X: np.ndarray,
    features: Sequence[str],
    classes: Sequence[int] = (0,),
) -> np.ndarray:
    """SHAP values, shape (n_events, n_features + 1), last column the bias (expected value).

    Each row sums to the event's margin (log-odds) prediction. NaN features are missing
    values, as in training. A multiclass model has one margin per class: the values are
    those of the ``classes`` given (the signal classes), summed.
    """
    matrix = xgb.DMatrix(np.asarray(X, dtype=np.float32), feature_names=list(features))
    values = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)
    return values[:, list(classes), :].sum(axis=1) if values.ndim == 3 else values


def gain_importance(
    booster: xgb.Booster, features: Sequence[str], kind: str = "total_gain"
) -> np.ndarray:
    """XGBoost's ``kind`` importance (``total_gain``, ``gain``, ``weight``, ...) per feature,
    in the order of ``features``; 0 for a feature never split on."""
    scores = booster.get_score(importance_type=kind)
    return np.array([float(scores.get(f, 0.0)) for f in features])


@dataclasses.dataclass(frozen=True)
class FoldImportance:
    """The importances of one fold model on (a sample of) its test events.

    ``shap`` and ``X`` are (n_events, n_features) for the explained events (bias dropped).
    """

    fold: int
    total_gain: np.ndarray
    shap: np.ndarray
    X: np.ndarray

    @property
    def mean_abs_shap(self) -> np.ndarray:
        """Mean |SHAP| per feature (log-odds)."""
        return np.abs(self.shap).mean(axis=0)


def fold_importance(
    booster: xgb.Booster,
    features: Sequence[str],
    X_test: np.ndarray,
    *,
    fold: int,
    max_events: int | None = None,
    seed: int = 0,
    classes: Sequence[int] = (0,),
) -> FoldImportance:
    """Gain and SHAP of one fold model; SHAP on at most ``max_events`` test events (seeded);
    ``classes``: the outputs explained for a multiclass model (:func:`shap_values`)."""
    if len(X_test) == 0:
        msg = f"fold {fold} has no test events to compute SHAP values on"
        raise DataError(msg)
    if max_events is not None and len(X_test) > max_events:
        pick = np.sort(np.random.default_rng(seed).choice(len(X_test), max_events, replace=False))
        X_test = X_test[pick]
    contributions = shap_values(booster, X_test, features, classes)
    return FoldImportance(fold, gain_importance(booster, features), contributions[:, :-1], X_test)


def _fractions(values: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows summing to 0 stay 0)."""
    totals = values.sum(axis=-1, keepdims=True)
    return np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)


def feature_ranking(folds: Sequence[FoldImportance], features: Sequence[str]) -> list[dict]:
    """Rows of importance.csv, ranked by mean |SHAP| (mean over folds), best first."""
    shap = np.array([f.mean_abs_shap for f in folds])
    shap_fraction, gain_fraction = (
        _fractions(shap),
        _fractions(np.array([f.total_gain for f in folds])),
    )
    ddof = 1 if len(folds) > 1 else 0
    order = np.argsort(-shap.mean(axis=0), kind="stable")
    return [
        {
            "rank": rank,
            "feature": features[i],
            "mean_abs_shap": float(shap[:, i].mean()),
            "mean_abs_shap_std_over_folds": float(shap[:, i].std(ddof=ddof)),
            "shap_fraction": float(shap_fraction[:, i].mean()),
            "shap_fraction_std_over_folds": float(shap_fraction[:, i].std(ddof=ddof)),
            "gain_fraction": float(gain_fraction[:, i].mean()),
            "gain_fraction_std_over_folds": float(gain_fraction[:, i].std(ddof=ddof)),
        }
        for rank, i in enumerate(order, start=1)
    ]


def _rank_colour(values: np.ndarray) -> list[float | None]:
    """Rank of each value among the distinct finite values, scaled to [0, 1] (so a discrete
    feature gets one colour per value, the lowest 0 and the highest 1); None for NaN."""
    finite = np.isfinite(values)
    colour = np.full(values.size, np.nan)
    distinct, rank = np.unique(values[finite], return_inverse=True)
    colour[finite] = rank / (distinct.size - 1) if distinct.size > 1 else 0.5
    return [float(c) if np.isfinite(c) else None for c in colour]


def beeswarm_data(
    folds: Sequence[FoldImportance],
    features: Sequence[str],
    ranked: Sequence[str],
    *,
    n_events: int = 1000,
    seed: int = 0,
) -> ShapSummary:
    """shap.json: SHAP values and colour (feature-value rank) of a seeded sample of events,
    one list per feature in ``ranked`` order (the beeswarm's rows, top first)."""
    shap = np.concatenate([f.shap for f in folds])
    X = np.concatenate([f.X for f in folds])
    if len(shap) > n_events:
        pick = np.sort(np.random.default_rng(seed).choice(len(shap), n_events, replace=False))
        shap, X = shap[pick], X[pick]
    columns = [list(features).index(name) for name in ranked]
    return ShapSummary(
        features=tuple(ranked),
        shap=tuple(shap[:, i].astype(np.float64) for i in columns),
        colour=tuple(floats(_rank_colour(X[:, i].astype(np.float64))) for i in columns),
        seed=seed,
    )


_NOTE = (
    "Ranked by mean |SHAP| (log-odds, XGBoost `pred_contribs`) on each fold model's test "
    "events, averaged over folds. `*_fraction` are shares of the total over features; "
    "`gain_fraction` is XGBoost's total gain. Spreads are the std over folds (ddof=1)."
)


def write_importance(
    rows: Sequence[Mapping[str, Any]], beeswarm: ShapSummary, output_dir: str | os.PathLike
) -> list[Path]:
    """Write importance.csv/.md/.tex and shap.json into ``output_dir``; return the paths."""
    out = Path(output_dir)
    paths = [out / f"importance.{ext}" for ext in ("csv", "md", "tex")]
    write_table(
        list(rows), paths[0], paths[1], title="Feature ranking", note=_NOTE, latex_path=paths[2]
    )
    beeswarm.write(out / "shap.json")
    return [*paths, out / "shap.json"]


def _test_events(
    tables: Mapping[str, str | os.PathLike],
    features: Sequence[str],
    n_folds: int,
    max_events: int | None,
    seed: int,
) -> list[np.ndarray]:
    """The feature matrix (float32) of each fold's test events, at most ``max_events`` each.

    The same events :func:`fold_importance` draws from the whole fold (same seed, same
    order), read without the events x features matrix: the fold column, then each feature's
    column, kept only at the chosen rows.
    """
    check_tables(tables, list(features))
    fold = read_column(tables, "_fold")
    rows = []
    for k in range(n_folds):
        of_fold = np.flatnonzero(fold == k)
        if max_events is not None and len(of_fold) > max_events:
            rng = np.random.default_rng(seed + k)
            of_fold = of_fold[np.sort(rng.choice(len(of_fold), max_events, replace=False))]
        rows.append(of_fold)
    del fold
    picked = np.concatenate(rows)
    X = np.empty((picked.size, len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        X[:, j] = read_column(tables, name)[picked].astype(np.float32)
    return np.split(X, np.cumsum([len(r) for r in rows])[:-1])


def importance_from_files(
    model_paths: Sequence[str | os.PathLike],
    tables: Mapping[str, str | os.PathLike],
    *,
    max_events: int = 5000,
    beeswarm_events: int = 1000,
    seed: int = 0,
) -> tuple[list[dict], dict[str, Any]]:
    """Rank the features of the fold models ``model_paths`` (model k at index k), explaining
    each on its test fold of the ingest ``tables`` (sample -> Parquet path)."""
    boosters, features = load_fold_models(model_paths)
    X_test = _test_events(tables, features, len(boosters), max_events, seed)
    signal = load_fold_outputs(model_paths)[0].signal or (0,)  # multiclass: the signal classes
    folds = [
        fold_importance(
            booster,
            features,
            X_test[k],
            fold=k,
            max_events=max_events,
            seed=seed + k,
            classes=signal,
        )
        for k, booster in enumerate(boosters)
    ]
    rows = feature_ranking(folds, features)
    ranked = [r["feature"] for r in rows]
    log.info("feature ranking (mean |SHAP|): %s", ", ".join(ranked))
    return rows, beeswarm_data(folds, features, ranked, n_events=beeswarm_events, seed=seed)
