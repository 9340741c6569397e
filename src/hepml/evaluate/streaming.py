"""Evaluation at any number of events: fine score histograms instead of the events.

The exact evaluation (:mod:`hepml.evaluate.performance`) keeps the N out-of-fold scores with
their weights in memory for unbinned ROC curves: about 0.17 GB per million selected events.
Above ``evaluation.streaming_above`` events the evaluate job streams instead: each model's
table is read in row batches and every row is counted into a fine histogram of the score,
one per (model, process) for the test rows and per (model, class) for the training rows,
with about ``evaluation.streaming_bins`` bins. Their edges are the union of an even grid over
the score range, the quantiles of a sample of the scores (so that no bin holds a large share
of the events where scores pile up, e.g. near 0), the edges of the score histograms, the cuts
of the significance scan and the working points given as a score. Memory is then set by the
bins, not by N.

Every quantity is computed by the exact code, on the histograms seen as weighted events, one
per non-empty bin at its upper edge (bins are ``(e[i-1], e[i]]``): a cut on an edge counts
exactly the events above it, so the significance scan, the score-defined working points, the
yields and the histograms equal the exact ones (up to the order of float sums); the ROC curve
is the exact curve through the bin edges; an efficiency-defined working point is the bin edge
closest to the target instead of the closest event. The AUC treats the events sharing a bin as
tied (counted 1/2): it differs from the exact AUC by at most ``0.5 sum_b s_b b_b / (S B)``
(``s_b``, ``b_b`` the signal and background weight in bin b), which is computed, logged and
written beside the curves (``streaming.auc_error_bound``). The KS tests take their statistic
from the binned ECDFs and their effective sizes from the events' own weight sums. The score
histograms (coarse bins, with the sums of squared weights) are filled from the events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepml.evaluate import metrics
from hepml.evaluate.overtraining import Criteria, OvertrainingCheck, expected_ks_distance
from hepml.evaluate.performance import (
    CLASSES,
    Evaluation,
    _check_working_points,
    _histogram,
    _rows,
    evaluation_of,
)
from hepml.exceptions import DataError
from hepml.plotdata.histograms import Histogram, TrainTest
from hepml.plotdata.performance import ClassifierScores, ProcessHistogram
from hepml.tables.scores import TEST, TRAIN, ScoreFiles

__all__ = ["BATCH_ROWS", "evaluate_scores", "evaluate_streaming", "fine_edges"]

log = logging.getLogger(__name__)

BATCH_ROWS = 1 << 20  # rows of a model's table read at a time
SAMPLE_SIZE = 2_000_000  # scores drawn for the quantile edges
AUC_TOLERANCE = 1e-5


def fine_edges(
    score_range: tuple[float, float],
    sample: np.ndarray,
    bins: int,
    fixed: Sequence[np.ndarray],
) -> np.ndarray:
    """The sorted, distinct bin edges: ``bins / 2`` even steps over ``score_range``, as many
    quantiles of ``sample``, and every value of ``fixed`` (coarse edges, cuts, score points)."""
    half = max(bins // 2, 1)
    parts = [np.linspace(*score_range, half + 1), *map(np.asarray, fixed)]
    if sample.size:  # quantiles by one sort (np.quantile partitions once per quantile)
        ordered = np.sort(sample)
        parts.append(ordered[np.linspace(0, ordered.size - 1, half + 1).round().astype(np.int64)])
    return np.unique(np.concatenate(parts).astype(np.float64))


@dataclass
class _Counts:
    """What the stream keeps: fine histograms, coarse histograms, weight sums."""

    n_bins: int
    coarse: np.ndarray
    test: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (k, proc) -> [w, n]
    train: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (k, label) -> w
    sums: dict[tuple[int, int, int], np.ndarray] = field(default_factory=dict)  # |w|, w^2, n
    # (k, label) -> (2, bins): sum of weights and of squared weights, per fold model
    coarse_train: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    coarse_test: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    coarse_process: dict[int, np.ndarray] = field(default_factory=dict)  # process code
    labels: dict[int, set] = field(default_factory=dict)  # process code -> labels seen

    def add(self, model, edges: np.ndarray) -> None:
        """Count one batch of model rows."""
        k = model.model_fold
        position = np.searchsorted(edges, model.score, side="left")
        for which, kind in ((model.set == TEST, TEST), (model.set == TRAIN, TRAIN)):
            for label in (0, 1):
                rows = which & (model.label == label)
                w = model.weight[rows]
                total = self.sums.setdefault((k, label, kind), np.zeros(3))
                total += (np.abs(w).sum(), (w * w).sum(), rows.sum())
                coarse = self.coarse_test if kind == TEST else self.coarse_train
                coarse[(k, label)] = coarse.get((k, label), 0) + _coarse(
                    model.score[rows], w, self.coarse
                )
                if kind == TRAIN:
                    hist = self.train.setdefault((k, label), np.zeros(self.n_bins))
                    hist += np.bincount(position[rows], w, minlength=self.n_bins)
        test = model.set == TEST
        for code in np.unique(model.process[test]).tolist():
            rows = test & (model.process == code)
            self.labels.setdefault(code, set()).update(np.unique(model.label[rows]).tolist())
            hist = self.test.setdefault((k, code), np.zeros((2, self.n_bins)))
            hist[0] += np.bincount(position[rows], model.weight[rows], minlength=self.n_bins)
            hist[1] += np.bincount(position[rows], minlength=self.n_bins)
            self.coarse_process[code] = self.coarse_process.get(code, 0) + _coarse(
                model.score[rows], model.weight[rows], self.coarse
            )


def _coarse(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(2, bins): the exact evaluation's histogram (:func:`_histogram`) as one array, so that
    the batches' counts add up."""
    histogram = _histogram(scores, weights, edges)
    return np.stack([histogram.sumw, histogram.sumw2])


def _binned_rows(counts: _Counts, edges: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """The test histograms as rows (one per non-empty bin of each model and process, at the
    bin's upper edge), sorted by decreasing score, in the columns the exact code reads."""
    upper = np.r_[edges, edges[-1]]  # bin i holds (edges[i-1], edges[i]]; bin 0 is <= edges[0]
    parts: dict[str, list[np.ndarray]] = {c: [] for c in _COLUMNS}
    for (k, code), (weight, count) in sorted(counts.test.items()):
        labels = counts.labels[code]
        if len(labels) != 1:
            msg = f"process '{names[code]}' has both signal and background events; it must be one"
            raise DataError(msg)
        full = np.flatnonzero(count)
        n = full.size
        parts["score"].append(upper[full])
        parts["weight"].append(weight[full])
        parts["count"].append(count[full])
        parts["label"].append(np.full(n, next(iter(labels)), dtype=np.int8))
        parts["model_fold"].append(np.full(n, k, dtype=np.int8))
        parts["fold"].append(np.full(n, k, dtype=np.int8))
        parts["sample"].append(np.full(n, code, dtype=np.int32))
    t = {c: np.concatenate(v) for c, v in parts.items()}
    t["process"] = t["sample"]
    order = np.argsort(-t["score"], kind="stable")
    return {c: v[order] for c, v in t.items()}


_COLUMNS = ("score", "weight", "count", "label", "model_fold", "fold", "sample")


def _overtraining(
    counts: _Counts, t: Mapping[str, np.ndarray], edges: np.ndarray, k: int, criteria: Criteria
) -> list[OvertrainingCheck]:
    """Model k's KS tests and AUCs, training against test events, from the histograms."""
    upper = np.r_[edges, edges[-1]]
    for value, name in CLASSES.items():
        if counts.sums.get((k, value, TRAIN), np.zeros(3))[2] == 0:
            msg = (
                f"training set of model fold {k} has no {name} events; AUC and efficiencies "
                "need both classes"
            )
            raise DataError(msg)
    train_rows = {label: np.flatnonzero(counts.train[(k, label)]) for label in CLASSES}
    train = {
        "score": np.concatenate([upper[train_rows[v]] for v in CLASSES]),
        "label": np.concatenate([np.full(train_rows[v].size, v) for v in CLASSES]),
        "weight": np.concatenate([counts.train[(k, v)][train_rows[v]] for v in CLASSES]),
    }
    fold = t["model_fold"] == k
    auc_train = metrics.roc_auc(train["score"], train["label"], train["weight"])
    auc_test = metrics.roc_auc(*_rows(t, fold))
    checks = []
    for value, name in CLASSES.items():
        a = train["label"] == value
        b = fold & (t["label"] == value)
        order_a, order_b = np.argsort(train["score"][a]), np.argsort(t["score"][b])
        distance = metrics._ecdf_distance(
            train["score"][a][order_a], train["weight"][a][order_a],
            t["score"][b][order_b], t["weight"][b][order_b],
        )  # fmt: skip
        n_eff = (_n_eff(counts, k, value, kind) for kind in (TRAIN, TEST))
        ks = metrics.ks_result(float(distance.max()), *n_eff)
        significant = ks.pvalue < criteria.ks_threshold
        large = ks.statistic > criteria.ks_distance or auc_train - auc_test > criteria.auc_gap
        if significant:
            log.info(
                "fold %d %s: KS p = %.3g < %g, D = %.3f (expected %.3f), AUC gap %.4f: %s",
                k, name, ks.pvalue, criteria.ks_threshold, ks.statistic,
                expected_ks_distance(ks.n_eff_a, ks.n_eff_b), auc_train - auc_test,
                "flagged" if large else "below the tolerances, not flagged",
            )  # fmt: skip
        checks.append(
            OvertrainingCheck(
                k, name, ks, auc_train, auc_test, significant, bool(significant and large)
            )
        )
    return checks


def _n_eff(counts: _Counts, k: int, label: int, kind: int) -> float:
    """Kish's effective size of model k's events of a class and set, from their own weights."""
    abs_sum, square_sum, _ = counts.sums[(k, label, kind)]
    return float(abs_sum**2 / square_sum) if square_sum > 0 else 0.0


def _auc_error_bound(t: Mapping[str, np.ndarray], n_bins: int, edges: np.ndarray) -> float:
    """``0.5 sum_b |s_b| |b_b| / (|S| |B|)``: how far ties within bins can move the AUC."""
    position = np.searchsorted(edges, t["score"], side="left")
    s = np.bincount(position, np.where(t["label"] == 1, t["weight"], 0.0), minlength=n_bins)
    b = np.bincount(position, np.where(t["label"] == 1, 0.0, t["weight"]), minlength=n_bins)
    return float(0.5 * np.sum(np.abs(s) * np.abs(b)) / (abs(s.sum()) * abs(b.sum())))


def evaluate_streaming(
    source: ScoreFiles,
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
    fine_bins: int = 400_000,
) -> Evaluation:
    """:func:`hepml.evaluate.performance.evaluate` from fine histograms (module docstring),
    in memory set by ``fine_bins``, not by the number of events."""
    _check_working_points(working_points)
    low, high = source.score_range()
    score_range = (min(0.0, low), max(1.0, high))
    coarse = np.linspace(*score_range, n_bins + 1)
    fixed = [coarse, np.linspace(*score_range, n_cuts + 1)[:-1]]
    fixed.append(np.array([d["score"] for d in working_points if "score" in d], dtype=float))
    edges = fine_edges(score_range, source.score_sample(0, SAMPLE_SIZE), fine_bins, fixed)
    counts = _Counts(edges.size + 1, coarse)
    for k in range(source.n_folds):
        for batch in source.batches(k, BATCH_ROWS):
            counts.add(batch, edges)
        for label, name in CLASSES.items():
            if counts.sums.get((k, label, TEST), np.zeros(3))[2] == 0:
                msg = f"test fold {k} has no {name} events; AUC and efficiencies need both classes"
                raise DataError(msg)
    t = _binned_rows(counts, edges, source.names)
    folds = list(range(source.n_folds))
    criteria = Criteria(ks_threshold, ks_distance, auc_gap)
    overtraining = [c for k in folds for c in _overtraining(counts, t, edges, k, criteria)]
    bound = _auc_error_bound(t, counts.n_bins, edges)
    result = evaluation_of(
        t,
        source.names,
        source.n_folds,
        score_range,
        classifier=classifier,
        working_points=working_points,
        overtraining=overtraining,
        histograms=_histograms(counts, source.names, coarse, source.n_folds),
        criteria=criteria,
        significance_metric=significance_metric,
        min_background=min_background,
        n_cuts=n_cuts,
        streaming={"bins": int(edges.size + 1), "auc_error_bound": bound},
    )
    (log.warning if bound > AUC_TOLERANCE else log.info)(
        "%s: streaming evaluation over %d bins: AUC %.6f within %.2g of the exact one%s",
        classifier, edges.size + 1, result.auc, bound,
        "; raise evaluation.streaming_bins" if bound > AUC_TOLERANCE else "",
    )  # fmt: skip
    return result


def evaluate_scores(source: ScoreFiles, config, classifier: str = "xgboost") -> Evaluation:
    """One classifier's evaluation as the config asks: exact, or streamed from histograms
    when its tables hold more than ``evaluation.streaming_above`` events."""
    from hepml.evaluate.performance import evaluate, evaluation_options

    options = evaluation_options(config)
    above = config.evaluation.streaming_above
    events = source.events()
    if above is None or events <= above:
        return evaluate(source, classifier=classifier, **options)
    log.info(
        "%s: %d events per model, above evaluation.streaming_above (%d): streaming",
        classifier, events, above,
    )  # fmt: skip
    return evaluate_streaming(
        source, classifier=classifier, fine_bins=config.evaluation.streaming_bins, **options
    )


def _histograms(
    counts: _Counts, names: Sequence[str], edges: np.ndarray, n_folds: int
) -> ClassifierScores:
    """The score histograms in the exact evaluation's layout, filled from the events."""
    empty = np.zeros((2, edges.size - 1))

    def histogram(counts_of: Mapping[tuple[int, int], np.ndarray], k: int, label: int):
        sumw, sumw2 = counts_of.get((k, label), empty)
        return Histogram(np.asarray(sumw, dtype=float), np.asarray(sumw2, dtype=float))

    folds = tuple(
        {
            name: TrainTest(
                histogram(counts.coarse_train, k, v), histogram(counts.coarse_test, k, v)
            )
            for v, name in CLASSES.items()
        }
        for k in range(n_folds)
    )
    merged = {
        name: TrainTest(
            Histogram(
                np.sum([f[name].train.sumw for f in folds], axis=0),
                np.sum([f[name].train.sumw2 for f in folds], axis=0),
            ),
            Histogram(
                np.sum([f[name].test.sumw for f in folds], axis=0),
                np.sum([f[name].test.sumw2 for f in folds], axis=0),
            ),
        )
        for name in CLASSES.values()
    }
    processes = {
        names[code]: ProcessHistogram(
            int(next(iter(counts.labels[code]))), Histogram(hist[0].copy(), hist[1].copy())
        )
        for code, hist in sorted(counts.coarse_process.items(), key=lambda c: names[c[0]])
    }
    return ClassifierScores(edges, merged, folds, processes)
