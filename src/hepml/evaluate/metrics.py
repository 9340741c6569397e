"""Classifier performance with signed event weights: ROC, AUC, working points and the KS test.

HEP Monte Carlo weights are luminosity-normalised and may be negative (NLO generators), so
every function here accepts signed weights. For positive weights the results equal
``sklearn.metrics.roc_curve`` / ``roc_auc_score`` and ``scipy.stats.ks_2samp``; the tests
check that. Pure functions on numpy arrays, no I/O.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import kolmogorov

from hepml.exceptions import DataError

__all__ = [
    "KSResult",
    "WorkingPoint",
    "confusion_matrix",
    "effective_entries",
    "ks_2samp_weighted",
    "ks_result",
    "roc_auc",
    "roc_curve",
    "working_point",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WorkingPoint:
    """The confusion matrix at one cut on the classifier score, with weighted event counts.

    An event is called signal when ``score > threshold``. ``tp``/``fn`` are the signal
    yields passing/failing the cut, ``fp``/``tn`` the background ones, all in the units of
    the weights (expected events for physics weights). ``definition`` says how the cut was
    chosen, e.g. ``"signal_efficiency=0.5"``.
    """

    definition: str
    threshold: float
    tp: float
    fp: float
    tn: float
    fn: float
    sensitivity: float
    specificity: float
    precision: float
    accuracy: float
    background_efficiency: float
    background_rejection: float

    def as_dict(self) -> dict[str, float | str]:
        """Return the fields as a plain dict (for tables and JSON)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class KSResult:
    """A two-sample Kolmogorov-Smirnov test: statistic, p-value and effective sample sizes."""

    statistic: float
    pvalue: float
    n_eff_a: float
    n_eff_b: float


def _values_and_weights(
    values: ArrayLike, weights: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, weights) as flat finite float arrays; ``None`` means unit weights."""
    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.ones_like(values) if weights is None else np.asarray(weights, np.float64).ravel()
    if values.size != weights.size:
        msg = f"{values.size} values but {weights.size} weights"
        raise DataError(msg)
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(weights))):
        msg = "scores and weights must be finite (found NaN or inf)"
        raise DataError(msg)
    return values, weights


def _as_arrays(
    scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (scores, boolean signal mask, float weights) as flat arrays of one length."""
    scores, weights = _values_and_weights(scores, weights)
    is_signal = np.asarray(labels).ravel() == 1
    if is_signal.size != scores.size:
        msg = f"{scores.size} scores but {is_signal.size} labels"
        raise DataError(msg)
    return scores, is_signal, weights


def _class_total(weights: np.ndarray, mask: np.ndarray, name: str) -> float:
    """Sum of weights of one class; it normalises efficiencies, so it must be positive."""
    total = float(weights.sum(where=mask))
    if not total > 0:
        msg = f"the {name} weights sum to {total:g}; an efficiency needs a positive total"
        raise DataError(msg)
    return total


def roc_curve(
    scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (background_efficiency, signal_efficiency, thresholds) of the ROC curve.

    Point ``i`` counts the events with ``score >= thresholds[i]``; the first point is
    ``(0, 0)`` at threshold ``+inf``, as in ``sklearn.metrics.roc_curve(...,
    drop_intermediate=False)``, which this equals for non-negative weights. Labels are
    1 for signal, 0 for background.
    """
    # Written by hand (sorted cumulative sums, the algorithm sklearn uses) because sklearn
    # rejects or mishandles negative weights: its AUC raises on a non-monotone curve.
    scores, is_signal, weights = _as_arrays(scores, labels, weights)
    if not np.all(weights):  # zero-weight events cannot move the curve; sklearn drops them too
        keep = weights != 0
        scores, is_signal, weights = scores[keep], is_signal[keep], weights[keep]
    _class_total(weights, is_signal, "signal")
    _class_total(weights, ~is_signal, "background")

    # the evaluation hands over scores already in decreasing order: no sort, no copies
    if not np.all(scores[:-1] >= scores[1:]):
        order = np.argsort(-scores, kind="stable")
        scores, is_signal, weights = scores[order], is_signal[order], weights[order]
        del order
    # the last event of each group of tied scores: the curve moves once per distinct score
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    true_pos = np.cumsum(np.where(is_signal, weights, 0.0))[last_of_tie]
    false_pos = np.cumsum(np.where(is_signal, 0.0, weights))[last_of_tie]
    # normalise by the cumulative sums' own totals so that the curve ends exactly at (1, 1)
    background_efficiency = np.r_[0.0, false_pos] / false_pos[-1]
    signal_efficiency = np.r_[0.0, true_pos] / true_pos[-1]
    thresholds = np.r_[np.inf, scores[last_of_tie]]
    return background_efficiency, signal_efficiency, thresholds


def roc_auc(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> float:
    """Area under the ROC curve (trapezoid rule over ``roc_curve``), ties counted as 1/2.

    Equals ``sklearn.metrics.roc_auc_score`` for non-negative weights. With signed weights
    the curve may step backwards; the signed area is still well defined (it is the weighted
    probability that a signal event outscores a background event) and is returned.
    """
    background_efficiency, signal_efficiency, _ = roc_curve(scores, labels, weights)
    return float(np.trapezoid(signal_efficiency, background_efficiency))


def _efficiency_above(
    scores: np.ndarray, weights: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Weighted fraction of events with ``score > c`` for each candidate threshold ``c``."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # tail[i] = sum of the weights of the events ranked i and above (tail[n] = 0)
    tail = np.r_[np.cumsum(weights[order][::-1])[::-1], 0.0]
    return tail[np.searchsorted(sorted_scores, candidates, side="right")] / tail[0]


def _threshold_for(
    scores: np.ndarray,
    is_signal: np.ndarray,
    weights: np.ndarray,
    target: float,
    *,
    signal: bool,
) -> float:
    """The cut whose signal (or background) efficiency is closest to ``target``.

    Candidates are ``-inf`` (keep all) and every distinct score; with a discrete sample the
    target is met only as closely as the sample allows.
    """
    mask = is_signal if signal else ~is_signal
    _class_total(weights, mask, "signal" if signal else "background")
    candidates = np.r_[-np.inf, np.unique(scores[mask])]
    efficiency = _efficiency_above(scores[mask], weights[mask], candidates)
    return float(candidates[np.argmin(np.abs(efficiency - target))])


def _safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN where the denominator is zero."""
    return numerator / denominator if denominator != 0 else math.nan


def working_point(
    scores: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike | None,
    *,
    signal_efficiency: float | None = None,
    background_efficiency: float | None = None,
    score: float | None = None,
) -> WorkingPoint:
    """Weighted confusion matrix at a cut chosen by exactly one of the keyword arguments.

    ``signal_efficiency`` / ``background_efficiency`` pick the distinct score whose
    efficiency (fraction of the class weight with ``score > threshold``) is closest to the
    target; ``score`` sets the threshold directly. Background rejection is ``1/eff_B``
    (``inf`` when no background passes, or its signed yield is not positive).
    """
    given = {
        "signal_efficiency": signal_efficiency,
        "background_efficiency": background_efficiency,
        "score": score,
    }
    chosen = {key: value for key, value in given.items() if value is not None}
    if len(chosen) != 1:
        msg = f"give exactly one of {sorted(given)} to define a working point; got {chosen}"
        raise ValueError(msg)
    ((key, value),) = chosen.items()
    scores, is_signal, weights = _as_arrays(scores, labels, weights)
    if key == "score":
        threshold = float(value)
    else:
        threshold = _threshold_for(
            scores, is_signal, weights, float(value), signal=key == "signal_efficiency"
        )
    passed = scores > threshold
    tp = float(weights[passed & is_signal].sum())
    fp = float(weights[passed & ~is_signal].sum())
    fn = float(weights[~passed & is_signal].sum())
    tn = float(weights[~passed & ~is_signal].sum())
    eff_b = _safe_ratio(fp, fp + tn)
    return WorkingPoint(
        definition=f"{key}={value:g}",
        threshold=threshold,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        sensitivity=_safe_ratio(tp, tp + fn),
        specificity=_safe_ratio(tn, tn + fp),
        precision=_safe_ratio(tp, tp + fp),
        accuracy=_safe_ratio(tp + tn, tp + tn + fp + fn),
        background_efficiency=eff_b,
        background_rejection=1.0 / eff_b if eff_b > 0 else math.inf,
    )


def confusion_matrix(
    scores: ArrayLike, labels: ArrayLike, weights: ArrayLike | None, threshold: float
) -> np.ndarray:
    """The 2x2 confusion matrix ``[[tn, fp], [fn, tp]]`` for the cut ``score > threshold``.

    Rows are the true class (0 background, 1 signal), columns the predicted one, as in
    ``sklearn.metrics.confusion_matrix``; entries are summed weights (signed), or event
    counts for ``weights=None``.
    """
    scores, is_signal, weights = _as_arrays(scores, labels, weights)
    passed = scores > threshold
    return np.array(
        [
            [weights[~is_signal & ~passed].sum(), weights[~is_signal & passed].sum()],
            [weights[is_signal & ~passed].sum(), weights[is_signal & passed].sum()],
        ]
    )


def effective_entries(weights: ArrayLike) -> float:
    """Kish effective sample size ``(sum|w|)^2 / sum w^2`` (equals n for unit weights)."""
    weights = np.abs(np.asarray(weights, dtype=np.float64))
    sum_w2 = float(np.sum(weights**2))
    return float(np.sum(weights)) ** 2 / sum_w2 if sum_w2 > 0 else 0.0


def _ecdf_distance(a: np.ndarray, w_a: np.ndarray, b: np.ndarray, w_b: np.ndarray) -> np.ndarray:
    """|ECDF_a - ECDF_b| (weighted, right-continuous) at every distinct value of a and b.

    One stable sort of the pooled values (fast when a and b are each already ascending: two
    runs to merge) and one cumulative sum per sample; each ECDF is its cumulative weight over
    its total, so for unit weights it is count / n exactly, as in scipy.
    """
    values = np.concatenate([a, b])
    order = np.argsort(values, kind="stable")
    values = values[order]
    from_a = order < a.size
    weights = np.concatenate([w_a, w_b])[order]
    del order
    cumulative = {
        "a": np.cumsum(np.where(from_a, weights, 0.0)),
        "b": np.cumsum(np.where(from_a, 0.0, weights)),
    }
    for name, c in cumulative.items():
        if not c[-1] > 0:
            msg = f"sample {name} has weight sum {c[-1]:g}; its ECDF needs a positive total"
            raise DataError(msg)
    # the ECDFs step at the last of each group of tied values
    last_of_tie = np.r_[np.flatnonzero(np.diff(values)), values.size - 1]
    a_cdf = cumulative["a"][last_of_tie] / cumulative["a"][-1]
    return np.abs(a_cdf - cumulative["b"][last_of_tie] / cumulative["b"][-1])


def ks_2samp_weighted(
    a: ArrayLike,
    b: ArrayLike,
    weights_a: ArrayLike | None = None,
    weights_b: ArrayLike | None = None,
) -> KSResult:
    """Two-sided, unbinned two-sample KS test with event weights.

    The statistic is the largest distance between the weighted ECDFs (signed weights, each
    ECDF normalised to its signed total, so with negative weights it may leave [0, 1]).
    The p-value is the asymptotic Kolmogorov distribution, ``kstwobign.sf(z)``, at Stephens'
    finite-size corrected ``z = (sqrt(n) + 0.12 + 0.11 / sqrt(n)) * D`` (Numerical Recipes
    14.3) with ``n = n_a n_b / (n_a + n_b)`` built from the Kish effective sizes
    ``(sum|w|)^2 / sum w^2`` (|w|, so cancelling signed weights do not shrink n to zero).
    Approximations: weighted events are treated as ``n_eff`` unweighted ones, and for unit
    weights the p-value is within a few per cent (relative, for p > 1e-4) of scipy's
    ``ks_2samp(method="asymp")``, which evaluates ``kstwo`` at the rounded integer n.
    For unit weights the statistic equals ``scipy.stats.ks_2samp``'s exactly.
    """
    a_values, w_a = _values_and_weights(a, weights_a)
    b_values, w_b = _values_and_weights(b, weights_b)
    if a_values.size == 0 or b_values.size == 0:
        msg = f"KS test needs two non-empty samples; got sizes {a_values.size} and {b_values.size}"
        raise DataError(msg)
    statistic = float(_ecdf_distance(a_values, w_a, b_values, w_b).max())
    return ks_result(statistic, effective_entries(w_a), effective_entries(w_b))


def ks_result(statistic: float, n_eff_a: float, n_eff_b: float) -> KSResult:
    """The KS test's p-value for ``statistic`` and the samples' effective sizes (see
    :func:`ks_2samp_weighted`); also for a statistic taken from binned samples."""
    n_eff = n_eff_a * n_eff_b / (n_eff_a + n_eff_b)
    sqrt_n = math.sqrt(n_eff)
    # scipy.special.kolmogorov is kstwobign.sf itself, without scipy.stats' 1-2 s import
    pvalue = float(kolmogorov((sqrt_n + 0.12 + 0.11 / sqrt_n) * statistic))
    return KSResult(statistic=statistic, pvalue=pvalue, n_eff_a=n_eff_a, n_eff_b=n_eff_b)
