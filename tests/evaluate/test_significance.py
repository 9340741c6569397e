"""hepml.evaluate.significance against hand computations, numpy counts and analytic Gaussian
yields."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from hepml.evaluate.significance import (
    SignificanceScan,
    asimov_significance,
    optimal_cut,
    scan_summary,
    significance_scan,
    yields_above,
)
from hepml.exceptions import ConfigError, DataError


@pytest.mark.parametrize(("s", "b"), [(10.0, 100.0), (5.0, 1.0), (3.0, 0.2), (50.0, 2500.0)])
def test_asimov_equals_the_formula_by_hand(s, b):
    by_hand = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    assert asimov_significance(s, b) == pytest.approx(by_hand, rel=1e-12)


def test_asimov_tends_to_s_over_sqrt_b_for_small_signal():
    b = 1e4
    for s in (1e-3, 0.1, 1.0, 10.0):
        # series: Z_A = s/sqrt(b) * (1 - s/(6b) + ...), so the relative gap is about s/(6b)
        ratio = asimov_significance(s, b) / (s / math.sqrt(b))
        assert ratio == pytest.approx(1 - s / (6 * b), abs=1e-9 + (s / b) ** 2)


def test_asimov_is_below_s_over_sqrt_b_and_finite_for_small_background():
    s = np.array([1.0, 5.0, 20.0])
    b = np.array([0.01, 0.5, 4.0])
    z = asimov_significance(s, b)
    assert np.all(np.isfinite(z))
    assert np.all(z < s / np.sqrt(b))


def test_asimov_edge_cases():
    z = asimov_significance([1.0, 0.0, -1.0, 1.0], [0.0, 4.0, 4.0, -2.0])
    assert math.isnan(z[0]) and math.isnan(z[3])  # no background: undefined
    assert z[1] == 0.0 and z[2] == 0.0  # no excess


def _sample(n=20000, seed=5):
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.2).astype(int)
    score = np.clip(rng.normal(0.35 + 0.3 * label, 0.15), 0, 1)
    weight = np.where(label == 1, 0.002, 0.05) * rng.uniform(0.5, 1.5, n)
    return score, label, weight


def test_scan_equals_numpy_counts():
    score, label, weight = _sample()
    cuts = np.linspace(0, 1, 51)[:-1]
    scan = significance_scan(score, label, weight, cuts)
    for i in (0, 10, 25, 40, 49):
        passed = score > cuts[i]
        s = weight[passed & (label == 1)].sum()
        b = weight[passed & (label == 0)].sum()
        assert scan.signal[i] == pytest.approx(s, rel=1e-12)
        assert scan.background[i] == pytest.approx(b, rel=1e-12)
        assert scan.signal_events[i] == np.count_nonzero(passed & (label == 1))
        assert scan.background_events[i] == np.count_nonzero(passed & (label == 0))
        assert scan.signal_efficiency[i] == pytest.approx(s / weight[label == 1].sum())
        assert scan.background_efficiency[i] == pytest.approx(b / weight[label == 0].sum())
        assert scan.purity[i] == pytest.approx(s / (s + b))
        assert scan.s_over_sqrt_b[i] == pytest.approx(s / math.sqrt(b))
        assert scan.s_over_sqrt_s_plus_b[i] == pytest.approx(s / math.sqrt(s + b))
        assert scan.asimov[i] == pytest.approx(math.sqrt(2 * ((s + b) * math.log1p(s / b) - s)))


def test_yields_above_counts_strictly_greater():
    scores = np.array([0.1, 0.5, 0.5, 0.9])
    assert yields_above(scores, np.ones(4), [0.0, 0.5, 0.9]).tolist() == [4.0, 1.0, 0.0]


def test_optimal_cut_of_two_gaussians_matches_the_analytic_optimum():
    # signal N(1, 1) with 50 expected events, background N(0, 1) with 1000: after x > c the
    # yields are 50 Q(c - 1) and 1000 Q(c), Q the normal survival function
    rng = np.random.default_rng(11)
    n_sig, n_bkg = 200_000, 400_000
    x = np.r_[rng.normal(1, 1, n_sig), rng.normal(0, 1, n_bkg)]
    label = np.r_[np.ones(n_sig), np.zeros(n_bkg)]
    weight = np.where(label == 1, 50 / n_sig, 1000 / n_bkg)
    cuts = np.linspace(-1, 4, 501)
    scan = significance_scan(x, label, weight, cuts)
    s_true, b_true = 50 * stats.norm.sf(cuts - 1), 1000 * stats.norm.sf(cuts)
    np.testing.assert_allclose(scan.signal, s_true, rtol=0.05, atol=0.2)
    np.testing.assert_allclose(scan.background, b_true, rtol=0.05, atol=0.5)

    def minus_z(c):
        return -asimov_significance(50 * stats.norm.sf(c - 1), 1000 * stats.norm.sf(c))

    best = optimize.minimize_scalar(minus_z, bounds=(-1, 4), method="bounded").x
    index = optimal_cut(scan, metric="asimov", min_background=1.0)
    assert cuts[index] == pytest.approx(best, abs=0.15)
    assert scan.asimov[index] == pytest.approx(-minus_z(best), rel=0.03)


def test_min_background_keeps_the_optimum_out_of_the_tail():
    # one background event far below the signal: without a floor the tightest cut that
    # still has background wins by dividing by a tiny b
    score = np.r_[np.full(10, 0.9), np.full(100, 0.2), [0.95]]
    label = np.r_[np.ones(10), np.zeros(101)]
    weight = np.r_[np.ones(10), np.full(100, 1.0), [1e-4]]
    scan = significance_scan(score, label, weight, np.array([0.0, 0.5, 0.92]))
    assert optimal_cut(scan, min_background=0.0) == 1
    assert optimal_cut(scan, min_background=0.0, metric="s_over_sqrt_b") == 1
    assert optimal_cut(scan, min_background=50.0) == 0
    assert optimal_cut(scan, min_background=1e6) is None


def test_unknown_metric_is_a_config_error():
    score, label, weight = _sample(n=100)
    scan = significance_scan(score, label, weight, [0.5])
    with pytest.raises(ConfigError, match=r"unknown significance metric 'z'.*asimov"):
        optimal_cut(scan, metric="z")


def test_scan_needs_positive_class_yields():
    with pytest.raises(DataError, match="background yield is 0"):
        significance_scan([0.1, 0.2], [1, 1], [1.0, 1.0], [0.5])


def test_summary_round_trips_through_json_lists():
    score, label, weight = _sample(n=3000)
    scan = significance_scan(score, label, weight, np.linspace(0, 1, 21)[:-1])
    summary = scan_summary(scan, metric="s_over_sqrt_s_plus_b", min_background=0.5)
    optimum = summary["optimum"]
    assert optimum["s_over_sqrt_s_plus_b"] == pytest.approx(np.nanmax(scan.s_over_sqrt_s_plus_b))
    again = SignificanceScan.from_dict(summary["scan"])
    np.testing.assert_array_equal(again.asimov, scan.asimov)
