"""The evaluation stage: classifier performance and overtraining checks from k-fold scores.

Input is the training stage's score tables, one row per (event, model) pair: model ``k`` has
test fold ``k``, validation fold ``(k+1) % K`` and trains on the rest, so every event has
exactly one out-of-fold (``set == "test"``) score. They are read one model at a time
(:class:`hepml.tables.scores.ScoreFiles`; a table in memory is split the same way): a model's
training rows serve its overtraining check only, the rest is computed on the N out-of-fold
rows, so memory grows with N and not with K x N. ``evaluate`` computes the numbers
(AUC per fold and merged, working points with their confusion matrices, KS train-vs-test,
performance per process, the significance scan of a cut on the score) plus the ROC curves
and score histograms as plain data; ``write_evaluation`` (in :mod:`hepml.evaluate.tables`)
writes tables (CSV, Markdown, LaTeX) and JSON that ``hepml.plots.performance`` draws from without
recomputing anything.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hepml.evaluate import metrics, significance
from hepml.evaluate.per_process import per_process_performance
from hepml.evaluate.tables import write_evaluation
from hepml.exceptions import ConfigError, DataError
from hepml.tables.scores import TEST, TRAIN, ModelScores, ScoreSource, ScoreTable

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

    AUCs are weighted with the signed physics weights unless named ``unweighted``; ``auc_folds[k]``
    is model k on its test fold. ``curves`` and ``histograms`` are JSON-ready data for
    ``hepml.plots.performance``. ``per_process`` holds the rows of
    :func:`hepml.evaluate.per_process.per_process_performance`; ``significance`` the cut scan and
    its optimum (:func:`hepml.evaluate.significance.scan_summary`, plus the background yield per
    process at the optimum), None when not computed.
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


def _rows(t: Mapping[str, np.ndarray], mask: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(score, label, weight) of the rows in ``mask`` (all rows when None)."""
    if mask is None:
        return t["score"], t["label"], t["weight"]
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
    t: Mapping[str, np.ndarray],
    folds: list[int],
    definitions: Sequence[Mapping[str, float]],
) -> tuple[WorkingPointResult, ...]:
    """Working points on the merged test rows ``t``; the merged cut re-applied per fold.
    The raw (Monte Carlo event) counts use ``t["count"]`` when the rows are binned events."""
    results = []
    for definition in definitions:
        point = metrics.working_point(*_rows(t), **definition)
        per_fold = [
            metrics.working_point(*_rows(t, t["model_fold"] == k), score=point.threshold)
            for k in folds
        ]
        spread = {m: _std([getattr(p, m) for p in per_fold]) for m in FOLD_SPREAD_METRICS}
        raw = metrics.working_point(t["score"], t["label"], t.get("count"), score=point.threshold)
        results.append(WorkingPointResult(point=point, std_over_folds=spread, raw=raw))
    return tuple(results)


def _overtraining(
    model: ModelScores, train: np.ndarray, test: np.ndarray, ks_threshold: float
) -> list[OvertrainingCheck]:
    """KS test and AUC of one model's training events against its test events, per class."""
    k = model.model_fold
    auc_train = metrics.roc_auc(model.score[train], model.label[train], model.weight[train])
    auc_test = metrics.roc_auc(model.score[test], model.label[test], model.weight[test])
    checks = []
    for value, name in CLASSES.items():
        of_class = model.label == value
        rows_train, rows_test = train & of_class, test & of_class
        # reversed to increasing score: the KS test's pooled sort then merges two runs
        ks = metrics.ks_2samp_weighted(
            model.score[rows_train][::-1],
            model.score[rows_test][::-1],
            model.weight[rows_train][::-1],
            model.weight[rows_test][::-1],
        )
        flagged = ks.pvalue < ks_threshold
        if flagged:
            log.info(
                "fold %d %s: KS p = %.3g < %g (train vs test)", k, name, ks.pvalue, ks_threshold
            )
        checks.append(OvertrainingCheck(k, name, ks, auc_train, auc_test, flagged))
    return checks


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


def _histogram(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Weighted histogram: rows are the sum of weights and of squared weights per bin."""
    # np.histogram closes the last bin, so a score of exactly 1.0 is kept (a boost-histogram
    # Regular axis would put it in the overflow).
    sumw, _ = np.histogram(scores, bins=edges, weights=weights)
    sumw2, _ = np.histogram(scores, bins=edges, weights=weights**2)
    return np.stack([sumw, sumw2])


def _as_json(histogram: np.ndarray) -> dict[str, list]:
    """A :func:`_histogram` result as JSON-ready ``sumw``/``sumw2`` lists."""
    return {"sumw": histogram[0].tolist(), "sumw2": histogram[1].tolist()}


def _per_model(
    source: ScoreSource, edges: np.ndarray, ks_threshold: float
) -> tuple[tuple[OvertrainingCheck, ...], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One pass over the models: overtraining checks, training-score histograms, test rows.

    Only one model's rows are in memory at a time; the test rows of all models (each event
    once) are returned, concatenated, for everything else.
    """
    checks: list[OvertrainingCheck] = []
    train_histograms = {name: np.zeros((2, edges.size - 1)) for name in CLASSES.values()}
    parts = []
    # a fold without signal empties a test fold and the training sets of other models: the
    # test fold is the cause to name, so an empty training class is raised after the loop
    empty_training: DataError | None = None
    for model in source:
        test, train = model.set == TEST, model.set == TRAIN
        _check_both_classes(model.label[test], f"test fold {model.model_fold}")
        try:
            _check_both_classes(
                model.label[train], f"training set of model fold {model.model_fold}"
            )
            checks.extend(_overtraining(model, train, test, ks_threshold))
        except DataError as err:
            empty_training = empty_training or err
        for value, name in CLASSES.items():
            rows = train & (model.label == value)
            train_histograms[name] += _histogram(model.score[rows], model.weight[rows], edges)
        parts.append(model.rows(test))
        del model, test, train, rows  # the next model is read without this one beside it
    if empty_training is not None:
        raise empty_training
    test_rows = {c: np.concatenate([part.pop(c) for part in parts]) for c in list(parts[0])}
    # K runs of decreasing score: merged by a stable sort in about one pass
    order = np.argsort(-test_rows["score"], kind="stable")
    for name in test_rows:
        test_rows[name] = test_rows[name][order]
    return tuple(checks), train_histograms, test_rows


def _histograms(
    t: Mapping[str, np.ndarray],
    train: Mapping[str, np.ndarray],
    names: Sequence[str],
    edges: np.ndarray,
) -> dict[str, Any]:
    """Score histograms: per class x (train, test) over all folds, and per sample (test)."""
    per_class = {}
    for value, name in CLASSES.items():
        of_class = t["label"] == value
        test = _histogram(t["score"][of_class], t["weight"][of_class], edges)
        per_class[name] = {"train": _as_json(train[name]), "test": _as_json(test)}
    processes = {}
    for code in sorted(np.unique(t["sample"]).tolist(), key=lambda c: names[c]):
        rows = t["sample"] == code
        labels = np.unique(t["label"][rows])
        if labels.size != 1:
            msg = f"process '{names[code]}' has both signal and background events; it must be one"
            raise DataError(msg)
        histogram = _histogram(t["score"][rows], t["weight"][rows], edges)
        processes[names[code]] = {"label": int(labels[0]), **_as_json(histogram)}
    return {"edges": edges.tolist(), "overtraining": per_class, "processes": processes}


def _significance(
    t: Mapping[str, np.ndarray],
    names: Sequence[str],
    score_range: tuple[float, float],
    *,
    metric: str,
    min_background: float,
    n_cuts: int,
) -> dict[str, Any]:
    """Scan ``score > cut`` on ``n_cuts`` equidistant cuts over ``score_range`` (test rows ``t``).

    The optimum also gets the background yield of each process after its cut.
    """
    cuts = np.linspace(*score_range, n_cuts + 1)[:-1]
    scan = significance.significance_scan(*_rows(t), cuts, t.get("count"))
    summary = significance.scan_summary(scan, metric=metric, min_background=min_background)
    if summary["optimum"] is not None:
        background = t["label"] == 0
        cut = [summary["optimum"]["cut"]]
        by_process = {}
        for code in np.unique(t["process"][background]).tolist():
            rows = background & (t["process"] == code)
            by_process[names[code]] = float(
                significance.yields_above(t["score"][rows], t["weight"][rows], cut)[0]
            )
        summary["optimum"]["background_by_process"] = dict(sorted(by_process.items()))
    return summary


def evaluation_options(cfg: Config) -> dict[str, Any]:
    """The keyword arguments of :func:`evaluate` set by the config's ``evaluation`` section.

    ``evaluate(table, classifier=name, **evaluation_options(cfg))`` is how the CLI and the
    benchmarks evaluate, so a new evaluation setting is passed on in this one place.
    """
    return {
        "working_points": [wp.as_dict() for wp in cfg.evaluation.working_points],
        "ks_threshold": cfg.evaluation.ks_threshold,
        "n_bins": cfg.evaluation.bins,
        "significance_metric": cfg.evaluation.significance_metric,
        "min_background": cfg.evaluation.min_background,
        "n_cuts": cfg.evaluation.significance_cuts,
    }


def evaluate(
    table: ScoreSource | Mapping[str, Any],
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

    ``table`` is a :class:`~hepml.tables.scores.ScoreSource` (the CLI's ``ScoreFiles``) or a
    mapping of arrays with every model's rows (columns of :class:`~hepml.tables.scores.ScoreTable`).
    ``working_points`` are dicts with exactly one of ``signal_efficiency``,
    ``background_efficiency`` or ``score``. ``n_bins`` bins the score histograms on [0, 1].
    The significance scan tries ``n_cuts`` equidistant cuts and picks the one maximising
    ``significance_metric`` (``asimov``, ``s_over_sqrt_b``, ``s_over_sqrt_s_plus_b``) with at
    least ``min_background`` expected background events. An optional ``process`` column
    groups samples in the per-process table (default: the ``sample`` column).
    Raises DataError for an empty table or a fold without signal or background test events.
    """
    _check_working_points(working_points)
    source = table if isinstance(table, ScoreSource) else ScoreTable(table)
    low, high = source.score_range()
    score_range = (min(0.0, low), max(1.0, high))
    edges = np.linspace(*score_range, n_bins + 1)
    overtraining, train_histograms, t = _per_model(source, edges, ks_threshold)
    folds = list(range(source.n_folds))
    fold_rocs = [{"fold": k, **_roc_data(*_rows(t, t["model_fold"] == k))} for k in folds]
    merged = _roc_data(*_rows(t))
    auc_folds = tuple(roc["auc"] for roc in fold_rocs)
    points = _working_points(t, folds, working_points)
    thresholds = {r.point.definition: r.point.threshold for r in points}
    log.info(
        "%s: AUC %.4f, per fold %s", classifier, merged["auc"], [f"{a:.4f}" for a in auc_folds]
    )
    return Evaluation(
        classifier=classifier,
        auc=merged["auc"],
        auc_unweighted=metrics.roc_auc(t["score"], t["label"]),
        auc_folds=auc_folds,
        working_points=points,
        overtraining=overtraining,
        curves={
            "auc": merged["auc"],
            "auc_std_over_folds": _std(auc_folds),
            "merged": merged,
            "folds": fold_rocs,
        },
        histograms=_histograms(t, train_histograms, source.names, edges),
        ks_threshold=ks_threshold,
        per_process=tuple(per_process_performance(t, thresholds, names=source.names)),
        significance=_significance(
            t,
            source.names,
            score_range,
            metric=significance_metric,
            min_background=min_background,
            n_cuts=n_cuts,
        ),
    )
