"""The evaluation of a multiclass model: one-vs-rest and one-vs-one ROC curves and AUCs with
their spread over folds, the confusion matrix in expected events, each class output's score
distributions and the overtraining check of each class.

The score tables of ``training.multiclass`` (:mod:`hepml.train.multiclass`) hold each event's
``class`` and the K class outputs ``score_p_<class>``; as for the binary BDT, model k's test
rows (fold k) are its out-of-fold rows, read one model at a time, and its training rows feed
only its own overtraining check. Weights are the signed physics weights (expected events).

- **one-vs-rest** (OvR): for each class c, the ROC of the output P(c) with the events of class
  c as positives and all others as negatives; ``macro`` is the mean over the classes
  (scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``).
- **one-vs-one** (OvO): for each pair (a, b), on the events of a and b only, the mean of the
  AUC of P(a) (a positive) and of P(b) (b positive); ``macro`` is the mean over the pairs
  (scikit-learn's ``multi_class="ovo"``, which takes no weights: hepml's weighted pairs are
  its binary AUCs with the weights).
- **confusion**: each event called the class of its largest output (ties: the first class);
  rows the true class, columns the called one, in expected events and in Monte Carlo events.
- **overtraining**: per fold model and class c, the weighted KS test of P(c) on the class-c
  events of its training set against those of its test fold, and the OvR AUC on both sets.

The one discriminant of the outputs (:mod:`hepml.score_outputs`) is the ``score`` column, which
the binary evaluation (ROC, working points, significance scan) takes as it is.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml.evaluate import metrics
from hepml.exceptions import DataError, did_you_mean
from hepml.score_outputs import class_suffix

__all__ = [
    "MAX_CURVE_POINTS",
    "confusion",
    "evaluate_multiclass",
    "ovo_aucs",
    "ovr_aucs",
    "read_models",
]

log = logging.getLogger(__name__)

MAX_CURVE_POINTS = 400
_COLUMNS = ("class", "weight", "set", "model_fold")


def read_models(
    paths: Sequence[str | Path], classes: Sequence[str]
) -> Iterator[dict[str, np.ndarray]]:
    """Each fold model's rows (``p``: the (n, K) class outputs, ``class``, ``weight``,
    ``set`` as str, ``model_fold``), one model at a time."""
    import pyarrow.parquet as pq

    wanted = [f"score{class_suffix(c)}" for c in classes]
    for path in paths:
        names = pq.read_schema(path).names
        missing = [c for c in (*_COLUMNS, *wanted) if c not in names]
        if missing:
            msg = (
                f"score table {path} lacks column '{missing[0]}' of a multiclass model "
                f"({', '.join(classes)}).{did_you_mean(missing[0], names)} Was it trained "
                "with training.multiclass? Rerun the train rule."
            )
            raise DataError(msg)
        table = pq.read_table(path, columns=[*_COLUMNS, *wanted])
        rows = {c: table.column(c).to_numpy(zero_copy_only=False) for c in _COLUMNS}
        rows["set"] = rows["set"].astype(str)
        rows["p"] = np.column_stack([table.column(c).to_numpy() for c in wanted])
        yield rows


def _auc(score: np.ndarray, positive: np.ndarray, weight: np.ndarray | None) -> float:
    """Weighted AUC of ``score`` for ``positive`` events; NaN when a side weighs nothing."""
    try:
        return metrics.roc_auc(score, positive.astype(np.int8), weight)
    except DataError:
        return math.nan


def ovr_aucs(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> list[float]:
    """One-vs-rest AUC of each class (class c positive, scored by ``p[:, c]``)."""
    return [_auc(p[:, c], y == c, w) for c in range(p.shape[1])]


def ovo_aucs(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict[tuple[int, int], float]:
    """One-vs-one AUC of each pair (a, b): the mean of AUC(P(a) | a vs b) and AUC(P(b) | b vs a)."""
    out = {}
    for a, b in itertools.combinations(range(p.shape[1]), 2):
        rows = (y == a) | (y == b)
        wr = None if w is None else w[rows]
        out[(a, b)] = 0.5 * (
            _auc(p[rows, a], y[rows] == a, wr) + _auc(p[rows, b], y[rows] == b, wr)
        )
    return out


def confusion(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """K x K matrix: rows the true class, columns the class of the largest output; summed
    weights (or counts for ``w`` None)."""
    k = p.shape[1]
    called = np.argmax(p, axis=1)
    weights = np.ones(len(y)) if w is None else w
    return np.bincount(y * k + called, weights=weights, minlength=k * k).reshape(k, k)


def _curve(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> dict[str, Any]:
    """The ROC curve as JSON-ready lists, thinned to MAX_CURVE_POINTS points."""
    try:
        background, signal, _ = metrics.roc_curve(score, positive.astype(np.int8), w)
    except DataError:
        return {"background_efficiency": [], "signal_efficiency": []}
    keep = np.unique(np.linspace(0, background.size - 1, MAX_CURVE_POINTS).round().astype(int))
    return {
        "background_efficiency": background[keep].tolist(),
        "signal_efficiency": signal[keep].tolist(),
    }


def _histograms(values: np.ndarray, w: np.ndarray, y: np.ndarray, edges, names) -> dict:
    """Per true class: sumw and sumw2 of ``values`` (one class output)."""
    out = {}
    for c, name in enumerate(names):
        rows = y == c
        sumw, _ = np.histogram(values[rows], bins=edges, weights=w[rows])
        sumw2, _ = np.histogram(values[rows], bins=edges, weights=w[rows] ** 2)
        out[name] = {"sumw": sumw.tolist(), "sumw2": sumw2.tolist()}
    return out


def _overtraining(model: Mapping[str, np.ndarray], names, threshold: float, edges) -> tuple:
    """Rows of one model's overtraining check, and its training histograms per output."""
    train, test = model["set"] == "train", model["set"] == "test"
    p, y, w = model["p"], model["class"], model["weight"]
    k = int(model["model_fold"][0])
    rows, histograms = [], {}
    for c, name in enumerate(names):
        own = y == c
        try:
            ks = metrics.ks_2samp_weighted(p[train & own, c], p[test & own, c],
                                           w[train & own], w[test & own])  # fmt: skip
        except DataError as err:
            msg = f"model {k}: no overtraining check of class '{name}': {err}"
            raise DataError(msg) from err
        auc_train = _auc(p[train, c], y[train] == c, w[train])
        auc_test = _auc(p[test, c], y[test] == c, w[test])
        rows.append({
            "fold": k, "class": name, "ks_statistic": ks.statistic, "ks_pvalue": ks.pvalue,
            "auc_train": auc_train, "auc_test": auc_test, "auc_gap": auc_train - auc_test,
            "flagged": bool(ks.pvalue < threshold),
        })  # fmt: skip
        histograms[name] = _histograms(p[train, c], w[train], y[train], edges, names)
    return rows, histograms


def _std(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def evaluate_multiclass(
    paths: Sequence[str | Path],
    classes: Sequence[str],
    *,
    classifier: str = "xgboost",
    ks_threshold: float = 0.05,
    bins: int = 40,
) -> dict[str, Any]:
    """Evaluate one classifier's multiclass score tables (one per fold model, in fold order);
    return JSON-ready data: ``ovr``, ``ovo``, ``confusion``, ``overtraining``, ``curves``,
    ``histograms`` (see the module docstring)."""
    names = list(classes)
    edges = np.linspace(0.0, 1.0, bins + 1)
    test_parts, overtraining, train_histograms = [], [], []
    for model in read_models(paths, names):
        rows, histograms = _overtraining(model, names, ks_threshold, edges)
        overtraining += rows
        train_histograms.append(histograms)
        test = model["set"] == "test"
        test_parts.append({c: model[c][test] for c in ("p", "class", "weight", "model_fold")})
    t = {c: np.concatenate([part[c] for part in test_parts]) for c in test_parts[0]}
    folds = sorted(np.unique(t["model_fold"]).tolist())
    p, y, w = t["p"], t["class"], t["weight"]
    per_fold = [(ovr_aucs(p[m], y[m], w[m]), ovo_aucs(p[m], y[m], w[m]))
                for m in (t["model_fold"] == k for k in folds)]  # fmt: skip
    ovr, ovr_unweighted = ovr_aucs(p, y, w), ovr_aucs(p, y, None)
    ovo, ovo_unweighted = ovo_aucs(p, y, w), ovo_aucs(p, y, None)
    result = {
        "classifier": classifier,
        "classes": names,
        "ovr": [
            _auc_row(name, ovr[c], ovr_unweighted[c], [f[0][c] for f in per_fold])
            for c, name in enumerate(names)
        ],
        "ovo": [
            _auc_row(
                f"{names[a]} vs {names[b]}",
                ovo[(a, b)],
                ovo_unweighted[(a, b)],
                [f[1][(a, b)] for f in per_fold],
            )
            for a, b in ovo
        ],
        "confusion": {
            "expected": confusion(p, y, w).tolist(),
            "events": confusion(p, y, None).tolist(),
        },
        "overtraining": overtraining,
        "ks_threshold": ks_threshold,
    }
    result["macro"] = {
        "ovr": _macro("ovr", result["ovr"], [f[0] for f in per_fold]),
        "ovo": _macro("ovo", result["ovo"], [list(f[1].values()) for f in per_fold]),
    }
    result["curves"] = _curves(t, names, folds)
    result["histograms"] = _all_histograms(t, train_histograms, names, edges)
    log.info("%s: OvR AUC %s", classifier, [f"{r['auc']:.4f}" for r in result["ovr"]])
    return result


def _auc_row(name: str, auc: float, unweighted: float, folds: Sequence[float]) -> dict[str, Any]:
    row = {"name": name, "auc": auc, "auc_std_over_folds": _std(folds),
           "auc_unweighted": unweighted}  # fmt: skip
    return row | {f"auc_fold_{k}": v for k, v in enumerate(folds)}


def _macro(kind: str, rows: list[dict], per_fold: list[list[float]]) -> dict[str, Any]:
    """The mean over the classes (OvR) or pairs (OvO), merged and per fold."""
    return _auc_row(
        f"macro {kind}",
        float(np.mean([r["auc"] for r in rows])),
        float(np.mean([r["auc_unweighted"] for r in rows])),
        [float(np.mean(values)) for values in per_fold],
    )


def _curves(t: Mapping[str, np.ndarray], names: Sequence[str], folds: list[int]) -> dict:
    """OvR ROC curves per class: merged, and per fold (the bands)."""
    out = {}
    for c, name in enumerate(names):
        positive = t["class"] == c
        out[name] = {
            "merged": _curve(t["p"][:, c], positive, t["weight"]),
            "folds": [
                _curve(t["p"][m, c], positive[m], t["weight"][m])
                for m in (t["model_fold"] == k for k in folds)
            ],
        }
    return out


def _all_histograms(t, train_histograms: list[dict], names: Sequence[str], edges) -> dict:
    """Per class output: the test histograms of each true class, and the training ones
    summed over the fold models."""
    out = {"edges": edges.tolist(), "outputs": {}}
    for c, name in enumerate(names):
        train = {
            true: {
                key: np.sum([h[name][true][key] for h in train_histograms], axis=0).tolist()
                for key in ("sumw", "sumw2")
            }
            for true in names
        }
        test = _histograms(t["p"][:, c], t["weight"], t["class"], edges, names)
        out["outputs"][name] = {"test": test, "train": train}
    return out
