"""hepml.evaluate.metrics against sklearn, scipy, brute force and a known analytic AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics
from scipy import stats

from hepml.evaluate import metrics
from hepml.exceptions import DataError


def _sample(n=3000, seed=1, *, ties=True, negative=False):
    """Scores (rounded to create ties), 0/1 labels and weights (optionally some negative)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = rng.normal(labels, 1.0)
    if ties:
        scores = np.round(scores, 1)
    weights = rng.uniform(0.1, 2.0, n)
    if negative:
        weights[rng.random(n) < 0.15] *= -0.5
    return scores, labels, weights


def _brute_force_auc(scores, labels, weights):
    """Weighted P(signal score > background score), ties 1/2: the AUC's definition."""
    s, b = labels == 1, labels == 0
    diff = scores[s][:, None] - scores[b][None, :]
    wins = (diff > 0) + 0.5 * (diff == 0)
    pair_weights = weights[s][:, None] * weights[b][None, :]
    return float((wins * pair_weights).sum() / pair_weights.sum())


def test_roc_curve_equals_sklearn_unweighted():
    scores, labels, _ = _sample()
    ours = metrics.roc_curve(scores, labels)
    theirs = sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_roc_curve_equals_sklearn_with_positive_weights():
    scores, labels, weights = _sample()
    weights[:10] = 0.0  # zero weights are dropped by both
    ours = metrics.roc_curve(scores, labels, weights)
    theirs = sklearn.metrics.roc_curve(
        labels, scores, sample_weight=weights, drop_intermediate=False
    )
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_equals_sklearn(weighted):
    scores, labels, weights = _sample(ties=False)
    weights = weights if weighted else None
    expected = sklearn.metrics.roc_auc_score(labels, scores, sample_weight=weights)
    assert metrics.roc_auc(scores, labels, weights) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_is_pair_probability_with_signed_weights():
    scores, labels, weights = _sample(n=600, negative=True)
    auc = metrics.roc_auc(scores, labels, weights)
    assert auc == pytest.approx(_brute_force_auc(scores, labels, weights), abs=1e-12)


def test_roc_auc_of_two_gaussians_matches_analytic_value():
    rng = np.random.default_rng(42)
    n, delta_mu, sigma = 20000, 1.0, 1.5
    scores = np.r_[rng.normal(delta_mu, sigma, n), rng.normal(0.0, sigma, n)]
    labels = np.r_[np.ones(n), np.zeros(n)]
    expected = stats.norm.cdf(delta_mu / (sigma * math.sqrt(2)))
    # Hanley & McNeil (1982) standard error of an empirical AUC
    q1, q2 = expected / (2 - expected), 2 * expected**2 / (1 + expected)
    variance = (
        expected * (1 - expected) + (n - 1) * (q1 - expected**2) + (n - 1) * (q2 - expected**2)
    ) / n**2
    assert metrics.roc_auc(scores, labels) == pytest.approx(expected, abs=5 * math.sqrt(variance))


def test_roc_needs_both_classes():
    with pytest.raises(DataError, match="background weights sum to 0"):
        metrics.roc_auc([0.1, 0.2], [1, 1])


def _counts(scores, labels, weights, threshold):
    """(tp, fp, tn, fn) for the cut score > threshold, by plain numpy masks."""
    passed = scores > threshold
    signal = labels == 1
    return tuple(
        float(weights[mask].sum())
        for mask in (passed & signal, passed & ~signal, ~passed & ~signal, ~passed & signal)
    )


def test_working_point_at_fixed_score_counts_by_hand():
    scores, labels, weights = _sample(negative=True)
    point = metrics.working_point(scores, labels, weights, score=0.5)
    tp, fp, tn, fn = _counts(scores, labels, weights, 0.5)
    assert point.threshold == 0.5
    assert (point.tp, point.fp, point.tn, point.fn) == pytest.approx((tp, fp, tn, fn))
    assert point.sensitivity == pytest.approx(tp / (tp + fn))
    assert point.specificity == pytest.approx(tn / (tn + fp))
    assert point.precision == pytest.approx(tp / (tp + fp))
    assert point.accuracy == pytest.approx((tp + tn) / (tp + fp + tn + fn))
    assert point.background_efficiency == pytest.approx(fp / (fp + tn))
    assert point.background_rejection == pytest.approx((fp + tn) / fp)
    assert point.definition == "score=0.5"


@pytest.mark.parametrize(
    ("key", "target", "signal"),
    [("signal_efficiency", 0.5, True), ("background_efficiency", 0.1, False)],
)
def test_working_point_efficiency_is_closest_achievable(key, target, signal):
    scores, labels, weights = _sample(n=800)
    point = metrics.working_point(scores, labels, weights, **{key: target})
    mask = (labels == 1) if signal else (labels == 0)

    def efficiency(threshold):
        return weights[mask & (scores > threshold)].sum() / weights[mask].sum()

    achieved = efficiency(point.threshold)
    best = min(abs(efficiency(t) - target) for t in np.r_[-np.inf, np.unique(scores)])
    assert abs(achieved - target) == pytest.approx(best)
    measured = point.sensitivity if signal else point.background_efficiency
    assert measured == pytest.approx(achieved)


def test_working_point_rejection_is_infinite_when_no_background_passes():
    point = metrics.working_point([0.9, 0.2, 0.1], [1, 0, 0], None, score=0.5)
    assert point.background_efficiency == 0
    assert point.background_rejection == math.inf
    assert point.precision == 1


@pytest.mark.parametrize("kwargs", [{}, {"score": 0.5, "signal_efficiency": 0.5}])
def test_working_point_needs_exactly_one_definition(kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        metrics.working_point([0.1, 0.9], [0, 1], None, **kwargs)


@pytest.mark.parametrize(("n_a", "n_b"), [(300, 500), (2000, 3000), (5000, 800)])
def test_ks_matches_scipy_for_unit_weights(n_a, n_b):
    rng = np.random.default_rng(n_a)
    a, b = rng.normal(0, 1, n_a), rng.normal(0.15, 1, n_b)
    ours = metrics.ks_2samp_weighted(a, b)
    theirs = stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == theirs.statistic
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=0.05)
    assert (ours.n_eff_a, ours.n_eff_b) == (n_a, n_b)


def test_ks_with_integer_weights_equals_repeated_samples():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 400), rng.normal(0.2, 1.2, 300)
    w_a, w_b = rng.integers(1, 5, a.size), rng.integers(1, 5, b.size)
    weighted = metrics.ks_2samp_weighted(a, b, w_a, w_b)
    repeated = stats.ks_2samp(np.repeat(a, w_a), np.repeat(b, w_b), method="asymp")
    assert weighted.statistic == pytest.approx(repeated.statistic, abs=1e-14)
    assert weighted.n_eff_a == pytest.approx(w_a.sum() ** 2 / (w_a**2).sum())


def test_ks_with_negative_weights_is_finite():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    w_a = np.where(rng.random(500) < 0.2, -1.0, 1.0)
    result = metrics.ks_2samp_weighted(a, b, w_a, None)
    assert math.isfinite(result.statistic)
    assert 0 <= result.pvalue <= 1
    assert result.n_eff_a == pytest.approx(500)  # |w| = 1 for every event


def test_ks_rejects_an_empty_sample():
    with pytest.raises(DataError, match="non-empty"):
        metrics.ks_2samp_weighted([], [0.1, 0.2])


def test_weighted_auc_of_two_gaussians_matches_analytic_value():
    # weights that depend on the class but not on the score leave the shapes, hence the
    # AUC, unchanged; weights that depend on the score reshape them: with w = exp(a x) a
    # Gaussian N(mu, s^2) becomes N(mu + a s^2, s^2), so the AUC follows analytically too
    rng = np.random.default_rng(3)
    n, sigma, a = 40000, 1.0, 0.5
    scores = np.r_[rng.normal(1.0, sigma, n), rng.normal(0.0, sigma, n)]
    labels = np.r_[np.ones(n), np.zeros(n)]
    class_weights = np.where(labels == 1, 0.01, 3.0) * rng.uniform(0.5, 1.5, 2 * n)
    expected = stats.norm.cdf(1.0 / (sigma * math.sqrt(2)))
    assert metrics.roc_auc(scores, labels, class_weights) == pytest.approx(expected, abs=0.006)
    tilted = np.where(labels == 1, 1.0, np.exp(a * scores))  # background shifted by +a
    expected = stats.norm.cdf((1.0 - a * sigma**2) / (sigma * math.sqrt(2)))
    assert metrics.roc_auc(scores, labels, tilted) == pytest.approx(expected, abs=0.006)
    sk = sklearn.metrics.roc_auc_score(labels, scores, sample_weight=tilted)
    assert metrics.roc_auc(scores, labels, tilted) == pytest.approx(sk, abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_equals_sklearn(weighted):
    scores, labels, weights = _sample(n=2000)
    weights = weights if weighted else None
    threshold = 0.4
    expected = sklearn.metrics.confusion_matrix(
        labels, (scores > threshold).astype(int), sample_weight=weights
    )
    got = metrics.confusion_matrix(scores, labels, weights, threshold)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if not weighted:
        assert got.sum() == 2000


def test_confusion_matrix_agrees_with_working_point_with_signed_weights():
    scores, labels, weights = _sample(n=1500, negative=True)
    point = metrics.working_point(scores, labels, weights, score=0.5)
    (tn, fp), (fn, tp) = metrics.confusion_matrix(scores, labels, weights, 0.5)
    assert (tp, fp, tn, fn) == pytest.approx(_counts(scores, labels, weights, 0.5))
    assert (tp, fp, tn, fn) == pytest.approx((point.tp, point.fp, point.tn, point.fn))
