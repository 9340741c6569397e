"""The evaluation stage: classifier performance and overtraining checks from k-fold scores.

Input is the training stage's score table, one row per (event, model) pair: model ``k`` has
test fold ``k``, validation fold ``(k+1) % K`` and trains on the rest, so every event has
exactly one out-of-fold (``set == "test"``) score. ``evaluate`` computes the numbers
(AUC per fold and merged, working points with their confusion matrices, KS train-vs-test,
performance per process, the significance scan of a cut on the score) plus the ROC curves
and score histograms as plain data; ``write_evaluation`` (in :mod:`hepml.evaluation_tables`)
writes tables (CSV, Markdown, LaTeX) and JSON that ``hepml.plotting`` draws from without
recomputing anything.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hepml import metrics, significance
from hepml.evaluation_tables import write_evaluation
from hepml.exceptions import ConfigError, DataError, FoldMismatch, did_you_mean
from hepml.per_process import per_process_performance

if TYPE_CHECKING:
    from hepml.config import Config

__all__ = [
    "Evaluation",
    "OvertrainingCheck",
    "WorkingPointResult",
    "evaluate",
    "evaluation_options",
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
    events. ``raw`` is the same cut counted in Monte Carlo events (unit weights).
    """

    point: metrics.WorkingPoint
    std_over_folds: dict[str, float]
    raw: metrics.WorkingPoint | None = None


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
    JSON-ready data for ``hepml.plotting``. ``per_process`` holds the rows of
    :func:`hepml.per_process.per_process_performance`; ``significance`` the cut scan and its
    optimum (:func:`hepml.significance.scan_summary`, plus the background yield per process
    at the optimum), None when not computed.
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
    per_process: tuple[dict[str, Any], ...] = ()
    significance: dict[str, Any] | None = None

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
    # the process groups samples for the per-process tables; without it, each sample is one
    columns["process"] = np.asarray(table["process"] if "process" in table else table["sample"])
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
        scores, labels, _ = _rows(t, test)
        raw = metrics.working_point(scores, labels, None, score=point.threshold)
        results.append(WorkingPointResult(point=point, std_over_folds=spread, raw=raw))
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


def _significance(
    t: dict[str, np.ndarray], *, metric: str, min_background: float, n_cuts: int
) -> dict[str, Any]:
    """Scan ``score > cut`` on ``n_cuts`` equidistant cuts over the score range of the test rows.

    The optimum also gets the background yield of each process after its cut.
    """
    test = t["set"] == "test"
    low, high = min(0.0, float(t["score"].min())), max(1.0, float(t["score"].max()))
    cuts = np.linspace(low, high, n_cuts + 1)[:-1]
    scan = significance.significance_scan(*_rows(t, test), cuts)
    summary = significance.scan_summary(scan, metric=metric, min_background=min_background)
    if summary["optimum"] is not None:
        background = test & (t["label"] == 0)
        cut = [summary["optimum"]["cut"]]
        summary["optimum"]["background_by_process"] = {
            str(p): float(
                significance.yields_above(
                    t["score"][background & (t["process"] == p)],
                    t["weight"][background & (t["process"] == p)],
                    cut,
                )[0]
            )
            for p in np.unique(t["process"][background])
        }
    return summary


def evaluation_options(cfg: Config) -> dict[str, Any]:
    """The keyword arguments of :func:`evaluate` set by the config's ``evaluation`` section.

    ``evaluate(table, classifier=name, **evaluation_options(cfg))`` is how the CLI and the
    benchmarks evaluate, so a new evaluation setting is passed on in this one place.
    """
    return {
        "working_points": [wp.as_dict() for wp in cfg.working_points],
        "ks_threshold": cfg.ks_threshold,
        "n_bins": cfg.bins,
        "significance_metric": cfg.significance_metric,
        "min_background": cfg.min_background,
        "n_cuts": cfg.significance_cuts,
    }


def evaluate(
    table: Mapping[str, Any],
    *,
    classifier: str = "xgboost",
    working_points: Sequence[Mapping[str, float]] = (),
    ks_threshold: float = 0.05,
    n_bins: int = 40,
    significance_metric: str = "asimov",
    min_background: float = 1.0,
    n_cuts: int = 200,
) -> Evaluation:
    """Evaluate one classifier's k-fold scores (see the module docstring for the table).

    ``working_points`` are dicts with exactly one of ``signal_efficiency``,
    ``background_efficiency`` or ``score``. ``n_bins`` bins the score histograms on [0, 1].
    The significance scan tries ``n_cuts`` equidistant cuts and picks the one maximising
    ``significance_metric`` (``asimov``, ``s_over_sqrt_b``, ``s_over_sqrt_s_plus_b``) with at
    least ``min_background`` expected background events. An optional ``process`` column
    groups samples in the per-process table (default: the ``sample`` column).
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
    points = _working_points(t, folds, working_points)
    thresholds = {r.point.definition: r.point.threshold for r in points}
    log.info(
        "%s: AUC %.4f, per fold %s", classifier, merged["auc"], [f"{a:.4f}" for a in auc_folds]
    )
    return Evaluation(
        classifier=classifier,
        auc=merged["auc"],
        auc_unweighted=metrics.roc_auc(t["score"][test], t["label"][test]),
        auc_folds=auc_folds,
        working_points=points,
        overtraining=_overtraining(t, folds, ks_threshold),
        curves={
            "auc": merged["auc"],
            "auc_std_over_folds": _std(auc_folds),
            "merged": merged,
            "folds": fold_rocs,
        },
        histograms=_histograms(t, n_bins),
        ks_threshold=ks_threshold,
        per_process=tuple(per_process_performance({c: v[test] for c, v in t.items()}, thresholds)),
        significance=_significance(
            t, metric=significance_metric, min_background=min_background, n_cuts=n_cuts
        ),
    )
