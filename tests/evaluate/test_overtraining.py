"""The overtraining flag at high statistics: significant (KS p-value) and large (KS distance or
train/test AUC gap), with the KS distance's expected size checked against scipy."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.stats import ks_2samp
from synthetic_scores import synthetic_table

from hepml.evaluate.overtraining import expected_ks_distance
from hepml.evaluate.performance import evaluate, write_evaluation


def test_a_tiny_difference_at_high_statistics_is_significant_but_not_flagged(tmp_path):
    table = synthetic_table(n_events=200_000, overtrain=0.08, seed=3, negative_weights=False)
    ev = evaluate(table, working_points=[])
    assert all(c.significant for c in ev.overtraining)  # the old flag: every row
    assert not any(c.flagged for c in ev.overtraining)
    for c in ev.overtraining:
        assert c.ks.pvalue < 1e-6
        assert c.ks.statistic < 0.08 and c.auc_gap < 0.04
        assert c.ks.statistic > 2 * c.ks_expected  # beyond the statistical size
    write_evaluation(ev, tmp_path)
    with (tmp_path / "overtraining.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {"ks_statistic", "ks_expected", "ks_pvalue", "auc_gap", "significant", "flagged"} <= set(
        rows[0]
    )
    assert {r["significant"] for r in rows} == {"True"} and {r["flagged"] for r in rows} == {
        "False"
    }
    note = (tmp_path / "overtraining.md").read_text()
    assert "KS distance > 0.08 or AUC gap (train - test) > 0.04" in note


def test_a_large_significant_difference_is_flagged():
    ev = evaluate(synthetic_table(n_events=20_000, overtrain=1.0), working_points=[])
    assert all(c.flagged for c in ev.overtraining)
    assert all(c.ks.statistic > 0.08 for c in ev.overtraining)


def test_a_large_difference_without_significance_is_not_flagged():
    """A few hundred events: a large-looking distance that the statistics cannot confirm."""
    ev = evaluate(
        synthetic_table(n_events=300, overtrain=0.15, seed=1),
        working_points=[],
        ks_distance=0.0,  # every distance counts as large
    )
    assert not all(c.significant for c in ev.overtraining)
    for c in ev.overtraining:
        assert c.flagged == c.significant


def test_the_auc_gap_alone_can_make_a_significant_difference_large():
    table = synthetic_table(n_events=50_000, overtrain=0.2, seed=5)
    default = evaluate(table, working_points=[])
    strict = evaluate(table, working_points=[], ks_distance=1.0, auc_gap=0.0)
    for d, s in zip(default.overtraining, strict.overtraining, strict=True):
        assert s.flagged == (s.significant and s.auc_gap > 0)
        assert d.ks.statistic == s.ks.statistic  # the same test, another tolerance


def test_expected_ks_distance_is_the_scale_of_the_null_distribution():
    """Mean KS distance of two samples of one distribution ~ 0.87 sqrt(1/n_a + 1/n_b)."""
    rng = np.random.default_rng(0)
    n_a, n_b = 3000, 1000
    distances = [ks_2samp(rng.normal(size=n_a), rng.normal(size=n_b)).statistic for _ in range(300)]
    scale = expected_ks_distance(n_a, n_b)
    assert scale == pytest.approx(np.sqrt(1 / 3000 + 1 / 1000))
    assert np.mean(distances) / scale == pytest.approx(0.87, abs=0.05)
    assert np.quantile(distances, 0.95) / scale == pytest.approx(1.36, abs=0.12)
    assert expected_ks_distance(0.0, 10.0) == np.inf
