"""The evaluation stage: classifier performance and overtraining checks from k-fold scores.

Input is the training stage's score table, one row per (event, model) pair: model ``k`` has
test fold ``k``, validation fold ``(k+1) % K`` and trains on the rest, so every event has
exactly one out-of-fold (``set == "test"``) score. ``evaluate`` computes the numbers
(AUC per fold and merged, working points, KS train-vs-test) plus the ROC curves and score
histograms as plain data; ``write_evaluation`` writes tables (CSV + Markdown) and JSON that
``hepml.plotting`` draws from without recomputing anything.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml import metrics
from hepml.atomic import write_json
from hepml.exceptions import ConfigError, DataError, FoldMismatch, did_you_mean
from hepml.tables import write_table

__all__ = [
    "Evaluation",
    "OvertrainingCheck",
    "WorkingPointResult",
    "evaluate",
    "write_evaluation",
]

log = logging.getLogger(__name__)

COLUMNS = ("score", "label", "weight", "fold", "model_fold", "set", "sample")
SETS = ("train", "validation", "test")
WORKING_POINT_KEYS = ("signal_efficiency", "background_efficiency", "score")
CLASSES = {1: "signal", 0: "background"}
FOLD_SPREAD_METRICS = ("sensitivity", "specificity", "precision", "accuracy")
MAX_CURVE_POINTS = 500


@dataclasses.dataclass(frozen=True)
class WorkingPointResult:
    """A working point on the merged out-of-fold scores, with its spread over folds.

    ``std_over_folds`` maps sensitivity/specificity/precision/accuracy to the sample standard
    deviation (ddof=1) over folds when the merged threshold is applied to each fold's test
    events.
    """

    point: metrics.WorkingPoint
    std_over_folds: dict[str, float]


@dataclasses.dataclass(frozen=True)
class OvertrainingCheck:
    """Train-vs-test comparison of one fold's model for one class (``"signal"``/``"background"``).

    ``flagged`` means the KS p-value is below the threshold: a hint to look at the plot, not a
    verdict (physics weights and large samples make tiny, harmless differences significant).
    ``auc_train``/``auc_test`` are the model's AUC on its training and test events.
    """

    fold: int
    event_class: str
    ks: metrics.KSResult
    auc_train: float
    auc_test: float
    flagged: bool

    @property
    def auc_gap(self) -> float:
        """AUC on the training events minus AUC on the test events."""
        return self.auc_train - self.auc_test


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Everything the evaluation stage computed for one classifier.

    AUCs are weighted with the signed physics weights unless named ``unweighted``;
    ``auc_folds[k]`` is model k on its test fold. ``curves`` and ``histograms`` are
    JSON-ready data for ``hepml.plotting``.
    """

    classifier: str
    auc: float
    auc_unweighted: float
    auc_folds: tuple[float, ...]
    working_points: tuple[WorkingPointResult, ...]
    overtraining: tuple[OvertrainingCheck, ...]
    curves: dict[str, Any]
    histograms: dict[str, Any]
    ks_threshold: float

    @property
    def n_folds(self) -> int:
        """Number of folds K."""
        return len(self.auc_folds)

    @property
    def auc_fold_mean(self) -> float:
        """Mean of the per-fold test AUCs."""
        return float(np.mean(self.auc_folds))

    @property
    def auc_std_over_folds(self) -> float:
        """Sample standard deviation (ddof=1) of the per-fold test AUCs."""
        return _std(self.auc_folds)


def _std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); NaN for fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def _validated_table(table: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check columns, lengths and values of the score table; return it as numpy arrays."""
    missing = [c for c in COLUMNS if c not in table]
    if missing:
        hint = did_you_mean(missing[0], table)
        msg = f"score table lacks column(s) {missing}; it has {sorted(table)}.{hint}"
        raise DataError(msg)
    columns = {c: np.asarray(table[c]) for c in COLUMNS}
    lengths = {c: a.shape[0] if a.ndim else 0 for c, a in columns.items()}
    if len(set(lengths.values())) != 1:
        msg = f"score table columns differ in length: {lengths}"
        raise DataError(msg)
    if lengths["score"] == 0:
        msg = "score table is empty: no (event, model) rows to evaluate"
        raise DataError(msg)
    columns["set"] = columns["set"].astype(str)
    unknown_sets = sorted(set(np.unique(columns["set"])) - set(SETS))
    unknown_labels = sorted(set(np.unique(columns["label"]).tolist()) - set(CLASSES))
    if unknown_sets or unknown_labels:
        msg = (
            f"score table has set value(s) {unknown_sets} (allowed {list(SETS)}) or label "
            f"value(s) {unknown_labels} (allowed 0 = background, 1 = signal)"
        )
        raise DataError(msg)
    for name in ("score", "weight"):
        if not np.all(np.isfinite(columns[name])):
            msg = f"column '{name}' has NaN or inf values"
            raise DataError(msg)
    return columns


def _folds(t: dict[str, np.ndarray]) -> list[int]:
    """The model folds 0..K-1, checking that each model's test rows are its own fold."""
    folds = sorted(int(k) for k in np.unique(t["model_fold"]))
    if folds != list(range(len(folds))):
        msg = f"model folds must be 0..K-1; found {folds}"
        raise FoldMismatch(msg)
    test = t["set"] == "test"
    wrong = test & (t["fold"] != t["model_fold"])
    if np.any(wrong):
        msg = (
            f"{int(wrong.sum())} test row(s) were scored by a model whose test fold is not "
            "the event's fold (model k must test on fold k)"
        )
        raise FoldMismatch(msg)
    return folds


def _rows(t: dict[str, np.ndarray], mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """(score, label, weight) of the rows in ``mask``."""
    return t["score"][mask], t["label"][mask], t["weight"][mask]


def _check_both_classes(labels: np.ndarray, where: str) -> None:
    """Raise DataError unless ``labels`` has signal and background events."""
    for value, name in CLASSES.items():
        if not np.any(labels == value):
            msg = f"{where} has no {name} events; AUC and efficiencies need both classes"
            raise DataError(msg)


def _check_working_points(working_points: Sequence[Mapping[str, float]]) -> None:
    """Each definition needs exactly one known key with an efficiency in [0, 1]."""
    for i, definition in enumerate(working_points):
        keys = set(definition)
        if len(keys) != 1 or not keys <= set(WORKING_POINT_KEYS):
            msg = (
                f"working_points[{i}] = {dict(definition)} must have exactly one of "
                f"{list(WORKING_POINT_KEYS)}"
            )
            raise ConfigError(msg)
        ((key, value),) = definition.items()
        if key != "score" and not 0 <= value <= 1:
            msg = f"working_points[{i}]: {key} = {value} is outside [0, 1]"
            raise ConfigError(msg)


def _working_points(
    t: dict[str, np.ndarray],
    folds: list[int],
    definitions: Sequence[Mapping[str, float]],
) -> tuple[WorkingPointResult, ...]:
    """Working points on the merged test scores; the merged cut re-applied per fold."""
    test = t["set"] == "test"
    results = []
    for definition in definitions:
        point = metrics.working_point(*_rows(t, test), **definition)
        per_fold = [
            metrics.working_point(*_rows(t, test & (t["model_fold"] == k)), score=point.threshold)
            for k in folds
        ]
        spread = {m: _std([getattr(p, m) for p in per_fold]) for m in FOLD_SPREAD_METRICS}
        results.append(WorkingPointResult(point=point, std_over_folds=spread))
    return tuple(results)


def _overtraining(
    t: dict[str, np.ndarray], folds: list[int], ks_threshold: float
) -> tuple[OvertrainingCheck, ...]:
    """KS test and AUC of each model's training events against its test events, per class."""
    checks = []
    for k in folds:
        model = t["model_fold"] == k
        train, test = model & (t["set"] == "train"), model & (t["set"] == "test")
        _check_both_classes(t["label"][train], f"training set of model fold {k}")
        auc_train = metrics.roc_auc(*_rows(t, train))
        auc_test = metrics.roc_auc(*_rows(t, test))
        for value, name in CLASSES.items():
            of_class = t["label"] == value
            s_train, _, w_train = _rows(t, train & of_class)
            s_test, _, w_test = _rows(t, test & of_class)
            ks = metrics.ks_2samp_weighted(s_train, s_test, w_train, w_test)
            flagged = ks.pvalue < ks_threshold
            if flagged:
                log.info(
                    "fold %d %s: KS p = %.3g < %g (train vs test)", k, name, ks.pvalue, ks_threshold
                )
            checks.append(OvertrainingCheck(k, name, ks, auc_train, auc_test, flagged))
    return tuple(checks)


def _roc_data(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    """ROC curve as JSON-ready lists, thinned to at most MAX_CURVE_POINTS points (+inf -> null)."""
    background_efficiency, signal_efficiency, thresholds = metrics.roc_curve(
        scores, labels, weights
    )
    n = background_efficiency.size
    keep = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
    return {
        "background_efficiency": background_efficiency[keep].tolist(),
        "signal_efficiency": signal_efficiency[keep].tolist(),
        "thresholds": [float(x) if np.isfinite(x) else None for x in thresholds[keep]],
        "auc": metrics.roc_auc(scores, labels, weights),
    }


def _histogram(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> dict[str, list]:
    """Weighted histogram with sum of weights and of squared weights per bin."""
    # np.histogram closes the last bin, so a score of exactly 1.0 is kept (a boost-histogram
    # Regular axis would put it in the overflow).
    sumw, _ = np.histogram(scores, bins=edges, weights=weights)
    sumw2, _ = np.histogram(scores, bins=edges, weights=weights**2)
    return {"sumw": sumw.tolist(), "sumw2": sumw2.tolist()}


def _histograms(t: dict[str, np.ndarray], n_bins: int) -> dict[str, Any]:
    """Score histograms: per class x (train, test) over all folds, and per process (test)."""
    low, high = min(0.0, float(t["score"].min())), max(1.0, float(t["score"].max()))
    edges = np.linspace(low, high, n_bins + 1)
    per_class = {}
    for value, name in CLASSES.items():
        of_class = t["label"] == value
        per_class[name] = {
            kind: _histogram(
                t["score"][of_class & (t["set"] == kind)],
                t["weight"][of_class & (t["set"] == kind)],
                edges,
            )
            for kind in ("train", "test")
        }
    processes = {}
    test = t["set"] == "test"
    for sample in np.unique(t["sample"][test]).tolist():
        rows = test & (t["sample"] == sample)
        labels = np.unique(t["label"][rows])
        if labels.size != 1:
            msg = f"process '{sample}' has both signal and background events; it must be one"
            raise DataError(msg)
        scores, _, weights = _rows(t, rows)
        processes[str(sample)] = {"label": int(labels[0]), **_histogram(scores, weights, edges)}
    return {"edges": edges.tolist(), "overtraining": per_class, "processes": processes}


def evaluate(
    table: Mapping[str, Any],
    *,
    classifier: str = "xgboost",
    working_points: Sequence[Mapping[str, float]] = (),
    ks_threshold: float = 0.05,
    n_bins: int = 40,
) -> Evaluation:
    """Evaluate one classifier's k-fold scores (see the module docstring for the table).

    ``working_points`` are dicts with exactly one of ``signal_efficiency``,
    ``background_efficiency`` or ``score``. ``n_bins`` bins the score histograms on [0, 1].
    Raises DataError for an empty table or a fold without signal or background test events.
    """
    _check_working_points(working_points)
    t = _validated_table(table)
    folds = _folds(t)
    test = t["set"] == "test"
    fold_rocs = []
    for k in folds:
        scores, labels, weights = _rows(t, test & (t["model_fold"] == k))
        _check_both_classes(labels, f"test fold {k}")
        fold_rocs.append({"fold": k, **_roc_data(scores, labels, weights)})
    merged = _roc_data(*_rows(t, test))
    auc_folds = tuple(roc["auc"] for roc in fold_rocs)
    log.info(
        "%s: AUC %.4f, per fold %s", classifier, merged["auc"], [f"{a:.4f}" for a in auc_folds]
    )
    return Evaluation(
        classifier=classifier,
        auc=merged["auc"],
        auc_unweighted=metrics.roc_auc(t["score"][test], t["label"][test]),
        auc_folds=auc_folds,
        working_points=_working_points(t, folds, working_points),
        overtraining=_overtraining(t, folds, ks_threshold),
        curves={
            "auc": merged["auc"],
            "auc_std_over_folds": _std(auc_folds),
            "merged": merged,
            "folds": fold_rocs,
        },
        histograms=_histograms(t, n_bins),
        ks_threshold=ks_threshold,
    )


# --- writing -------------------------------------------------------------------------------


def _rectangular(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row every column (classifiers with other K lack some auc_fold_k)."""
    columns = dict.fromkeys(c for row in rows for c in row)
    return [{c: row.get(c, "") for c in columns} for row in rows]


def _metrics_row(ev: Evaluation) -> dict[str, Any]:
    """One row of metrics.csv."""
    row = {
        "classifier": ev.classifier,
        "auc": ev.auc,
        "auc_std_over_folds": ev.auc_std_over_folds,
        "auc_fold_mean": ev.auc_fold_mean,
        "auc_unweighted": ev.auc_unweighted,
    }
    return row | {f"auc_fold_{k}": auc for k, auc in enumerate(ev.auc_folds)}


def _working_point_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of working_points.csv: one per working point of this classifier."""
    rows = []
    for result in ev.working_points:
        point = result.point.as_dict()
        row = {"classifier": ev.classifier, "working_point": point.pop("definition"), **point}
        rows.append(row | {f"{m}_std_over_folds": v for m, v in result.std_over_folds.items()})
    return rows


def _overtraining_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of overtraining.csv: one per fold and class of this classifier."""
    return [
        {
            "classifier": ev.classifier,
            "fold": check.fold,
            "class": check.event_class,
            "ks_statistic": check.ks.statistic,
            "ks_pvalue": check.ks.pvalue,
            "n_eff_train": check.ks.n_eff_a,
            "n_eff_test": check.ks.n_eff_b,
            "auc_train": check.auc_train,
            "auc_test": check.auc_test,
            "auc_gap": check.auc_gap,
            "flagged": check.flagged,
        }
        for check in ev.overtraining
    ]


_METRICS_NOTE = (
    "AUC of the merged out-of-fold (test) scores, weighted with the signed physics weights; "
    "`auc_unweighted` ignores the weights. `auc_fold_k` is model k on its test fold; the "
    "std over folds is the sample standard deviation (ddof=1)."
)
_WORKING_POINT_NOTE = (
    "Events with score > threshold are selected; tp/fp/tn/fn are weighted yields (expected "
    "events). Metrics use the merged out-of-fold scores; `*_std_over_folds` applies the same "
    "threshold to each fold's test events (sample std, ddof=1)."
)
_OVERTRAINING_NOTE = (
    "Weighted two-sample KS test of each model's training-set scores against its test-set "
    "scores, per class, and the AUC on both. `flagged` (KS p-value < {threshold:g}) is "
    "indicative, not a verdict: with large samples or physics weights a harmless difference "
    "can be significant, so look at the overtraining plot and the AUC gap."
)


def write_evaluation(
    ev: Evaluation | Sequence[Evaluation], output_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write the tables and plot data of one or more classifiers into ``output_dir``.

    Files: ``metrics.csv/.md`` (one row per classifier), ``working_points.csv/.md`` (per
    classifier x working point), ``overtraining.csv/.md`` (per classifier x fold x class),
    ``curves.json`` (ROC curves) and ``histograms.json`` (score histograms), both keyed by
    classifier. Returns the paths written.
    """
    evaluations = [ev] if isinstance(ev, Evaluation) else list(ev)
    if not evaluations:
        msg = "write_evaluation needs at least one Evaluation"
        raise DataError(msg)
    output_dir = Path(output_dir)
    overtraining_note = _OVERTRAINING_NOTE.format(threshold=evaluations[0].ks_threshold)
    tables = (
        ("metrics", "Classifier performance", _METRICS_NOTE, lambda e: [_metrics_row(e)]),
        ("working_points", "Working points", _WORKING_POINT_NOTE, _working_point_rows),
        ("overtraining", "Overtraining check", overtraining_note, _overtraining_rows),
    )
    written = []
    for stem, title, note, rows_of in tables:
        rows = _rectangular([row for e in evaluations for row in rows_of(e)])
        paths = [output_dir / f"{stem}.csv", output_dir / f"{stem}.md"]
        write_table(rows, *paths, title=title, note=note)
        written += paths
    curves = {e.classifier: e.curves for e in evaluations}
    histograms = {e.classifier: e.histograms for e in evaluations}
    write_json(output_dir / "curves.json", {"version": 1, "classifiers": curves})
    write_json(output_dir / "histograms.json", {"version": 1, "classifiers": histograms})
    written += [output_dir / "curves.json", output_dir / "histograms.json"]
    log.info("wrote %d evaluation files to %s", len(written), output_dir)
    return written
