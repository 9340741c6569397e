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
from hepml.evaluate.overtraining import Criteria, OvertrainingCheck, check_model
from hepml.evaluate.per_process import per_process_performance
from hepml.evaluate.tables import write_evaluation
from hepml.exceptions import ConfigError, DataError
from hepml.plotdata.histograms import Histogram, TrainTest
from hepml.plotdata.performance import ClassifierRoc, ClassifierScores, ProcessHistogram, RocCurve
from hepml.tables.scores import TEST, TRAIN, ModelScores, ScoreSource, ScoreTable

if TYPE_CHECKING:
    from hepml.config import Config

__all__ = [
    "Evaluation",
    "OvertrainingCheck",
    "WorkingPointResult",
    "evaluate",
    "evaluation_of",
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
class Evaluation:
    """Everything the evaluation stage computed for one classifier.

    AUCs are weighted with the signed physics weights unless named ``unweighted``; ``auc_folds[k]``
    is model k on its test fold. ``curves`` and ``histograms`` are the plot data
    (:mod:`hepml.plotdata.performance`) ``hepml.plots.performance`` draws. ``per_process``
    holds the rows of
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
    curves: ClassifierRoc
    histograms: ClassifierScores
    ks_threshold: float
    criteria: Criteria = dataclasses.field(default_factory=Criteria)
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


def _roc_data(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> RocCurve:
    """ROC curve thinned to at most MAX_CURVE_POINTS points."""
    background_efficiency, signal_efficiency, thresholds = metrics.roc_curve(
        scores, labels, weights
    )
    n = background_efficiency.size
    keep = np.unique(np.linspace(0, n - 1, min(n, MAX_CURVE_POINTS)).round().astype(int))
    return RocCurve(
        signal_efficiency=signal_efficiency[keep],
        background_efficiency=background_efficiency[keep],
        thresholds=thresholds[keep],
        auc=metrics.roc_auc(scores, labels, weights),
    )


def _histogram(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> Histogram:
    """Weighted histogram: the sum of weights and of squared weights per bin."""
    # np.histogram closes the last bin, so a score of exactly 1.0 is kept (a boost-histogram
    # Regular axis would put it in the overflow).
    sumw, _ = np.histogram(scores, bins=edges, weights=weights)
    sumw2, _ = np.histogram(scores, bins=edges, weights=weights**2)
    return Histogram(sumw, sumw2)


def _train_test(model: ModelScores, train: np.ndarray, test: np.ndarray, edges: np.ndarray):
    """Class -> the model's training and test score histograms of that class."""
    out = {}
    for value, name in CLASSES.items():
        rows = [mask & (model.label == value) for mask in (train, test)]
        out[name] = TrainTest(*(_histogram(model.score[r], model.weight[r], edges) for r in rows))
    return out


def _per_model(
    source: ScoreSource, edges: np.ndarray, criteria: Criteria
) -> tuple[tuple[OvertrainingCheck, ...], dict[int, dict[str, TrainTest]], dict[str, np.ndarray]]:
    """One pass over the models: overtraining checks, each model's train/test histograms,
    test rows.

    Only one model's rows are in memory at a time; the test rows of all models (each event
    once) are returned, concatenated, for everything else.
    """
    checks: list[OvertrainingCheck] = []
    per_fold: dict[int, dict[str, TrainTest]] = {}
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
            checks.extend(
                check_model(
                    model.model_fold, model.score, model.label, model.weight, train, test, criteria
                )
            )
        except DataError as err:
            empty_training = empty_training or err
        per_fold[model.model_fold] = _train_test(model, train, test, edges)
        parts.append(model.rows(test))
        del model, test, train  # the next model is read without this one beside it
    if empty_training is not None:
        raise empty_training
    test_rows = {c: np.concatenate([part.pop(c) for part in parts]) for c in list(parts[0])}
    # K runs of decreasing score: merged by a stable sort in about one pass
    order = np.argsort(-test_rows["score"], kind="stable")
    for name in test_rows:
        test_rows[name] = test_rows[name][order]
    return tuple(checks), per_fold, test_rows


def _summed(histograms: Sequence[Histogram]) -> Histogram:
    return Histogram(
        np.sum([h.sumw for h in histograms], axis=0), np.sum([h.sumw2 for h in histograms], axis=0)
    )


def _histograms(
    t: Mapping[str, np.ndarray],
    per_fold: Mapping[int, Mapping[str, TrainTest]],
    names: Sequence[str],
    edges: np.ndarray,
) -> ClassifierScores:
    """Score histograms: per class x (train, test), summed over folds and per fold model;
    per process (test)."""
    folds = tuple(per_fold[k] for k in sorted(per_fold))
    merged = {}
    for value, name in CLASSES.items():
        of_class = t["label"] == value
        test = _histogram(t["score"][of_class], t["weight"][of_class], edges)
        merged[name] = TrainTest(_summed([f[name].train for f in folds]), test)
    processes = {}
    for code in sorted(np.unique(t["sample"]).tolist(), key=lambda c: names[c]):
        rows = t["sample"] == code
        labels = np.unique(t["label"][rows])
        if labels.size != 1:
            msg = f"process '{names[code]}' has both signal and background events; it must be one"
            raise DataError(msg)
        histogram = _histogram(t["score"][rows], t["weight"][rows], edges)
        processes[names[code]] = ProcessHistogram(int(labels[0]), histogram)
    return ClassifierScores(edges, merged, folds, processes)


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
        "ks_distance": cfg.evaluation.ks_distance,
        "auc_gap": cfg.evaluation.auc_gap,
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
    ks_distance: float = 0.08,
    auc_gap: float = 0.04,
    n_bins: int = 40,
    significance_metric: str = "asimov",
    min_background: float = 1.0,
    n_cuts: int = 200,
) -> Evaluation:
    """Evaluate one classifier's k-fold scores (see the module docstring for the table).

    ``table`` is a :class:`~hepml.tables.scores.ScoreSource` (the CLI's ``ScoreFiles``) or a
    mapping of arrays with every model's rows (columns of :class:`~hepml.tables.scores.ScoreTable`).
    ``working_points`` are dicts with exactly one of ``signal_efficiency``,
    ``background_efficiency`` or ``score``. A fold model's train-vs-test difference of one
    class is flagged as overtraining when its KS p-value is below ``ks_threshold`` and its KS
    distance exceeds ``ks_distance`` or its AUC gap ``auc_gap``
    (:mod:`hepml.evaluate.overtraining`). ``n_bins`` bins the score histograms on [0, 1].
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
    criteria = Criteria(ks_threshold, ks_distance, auc_gap)
    overtraining, per_fold, t = _per_model(source, edges, criteria)
    result = evaluation_of(
        t,
        source.names,
        source.n_folds,
        score_range,
        classifier=classifier,
        working_points=working_points,
        overtraining=overtraining,
        histograms=_histograms(t, per_fold, source.names, edges),
        criteria=criteria,
        significance_metric=significance_metric,
        min_background=min_background,
        n_cuts=n_cuts,
    )
    per_fold_auc = [f"{a:.4f}" for a in result.auc_folds]
    log.info("%s: AUC %.4f, per fold %s", classifier, result.auc, per_fold_auc)
    return result


def evaluation_of(
    t: Mapping[str, np.ndarray],
    names: Sequence[str],
    n_folds: int,
    score_range: tuple[float, float],
    *,
    classifier: str,
    working_points: Sequence[Mapping[str, float]],
    overtraining: Sequence[OvertrainingCheck],
    histograms: ClassifierScores,
    criteria: Criteria,
    significance_metric: str,
    min_background: float,
    n_cuts: int,
    streaming: dict[str, Any] | None = None,
) -> Evaluation:
    """The :class:`Evaluation` from the out-of-fold test rows ``t`` (decreasing score; with a
    ``count`` column when each row stands for binned events), the overtraining checks and the
    score histograms: ROC curves, AUCs, working points, per-process rows, significance scan.
    The exact path and the streaming one (:mod:`hepml.evaluate.streaming`) both end here."""
    folds = list(range(n_folds))
    fold_rocs = [_roc_data(*_rows(t, t["model_fold"] == k)) for k in folds]
    merged = _roc_data(*_rows(t))
    auc_folds = tuple(roc.auc for roc in fold_rocs)
    points = _working_points(t, folds, working_points)
    thresholds = {r.point.definition: r.point.threshold for r in points}
    return Evaluation(
        classifier=classifier,
        auc=merged.auc,
        auc_unweighted=metrics.roc_auc(t["score"], t["label"], t.get("count")),
        auc_folds=auc_folds,
        working_points=points,
        overtraining=tuple(overtraining),
        curves=ClassifierRoc(merged, tuple(fold_rocs), _std(auc_folds), streaming=streaming),
        histograms=histograms,
        ks_threshold=criteria.ks_threshold,
        criteria=criteria,
        per_process=tuple(per_process_performance(t, thresholds, names=names)),
        significance=_significance(
            t,
            names,
            score_range,
            metric=significance_metric,
            min_background=min_background,
            n_cuts=n_cuts,
        ),
    )
