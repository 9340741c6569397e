"""hepml.evaluate.per_process: AUC and efficiencies per process, against sklearn and numpy
counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics
from scipy import stats

from hepml.evaluate.per_process import ALL_BACKGROUNDS, per_process_performance


def _test_rows(n=30000, seed=3):
    """Out-of-fold rows: signal N(1, 1); backgrounds 'near' N(0.5, 1) and 'far' N(-1, 1)."""
    rng = np.random.default_rng(seed)
    process = rng.choice(["sig", "near", "far"], n, p=[0.3, 0.5, 0.2])
    mean = {"sig": 1.0, "near": 0.5, "far": -1.0}
    score = rng.normal([mean[p] for p in process], 1.0)
    label = (process == "sig").astype(int)
    weight = np.where(label == 1, 0.01, rng.uniform(0.5, 1.5, n))
    return {
        "score": score,
        "label": label,
        "weight": weight,
        "model_fold": rng.integers(0, 3, n),
        "process": process,
    }


THRESHOLDS = {"signal_efficiency=0.5": 1.0, "score=0.2": 0.2}


@pytest.fixture(scope="module")
def rows():
    t = _test_rows()
    return t, {r["process"]: r for r in per_process_performance(t, THRESHOLDS)}


def test_rows_are_signal_then_backgrounds_by_yield_then_the_total(rows):
    t, by_name = rows
    assert list(by_name) == ["sig", "near", "far", ALL_BACKGROUNDS]
    assert by_name["near"]["yield"] > by_name["far"]["yield"]
    assert by_name[ALL_BACKGROUNDS]["yield"] == pytest.approx(t["weight"][t["label"] == 0].sum())
    assert by_name["far"]["events"] == np.count_nonzero(t["process"] == "far")


@pytest.mark.parametrize("background", ["near", "far"])
def test_auc_against_one_background_equals_sklearn_and_the_analytic_value(rows, background):
    t, by_name = rows
    rows_used = (t["process"] == "sig") | (t["process"] == background)
    expected = sklearn.metrics.roc_auc_score(
        t["label"][rows_used], t["score"][rows_used], sample_weight=t["weight"][rows_used]
    )
    assert by_name[background]["auc"] == pytest.approx(expected, abs=1e-12)
    delta = 1.0 - {"near": 0.5, "far": -1.0}[background]
    assert by_name[background]["auc"] == pytest.approx(
        stats.norm.cdf(delta / math.sqrt(2)), abs=0.01
    )
    per_fold = [
        sklearn.metrics.roc_auc_score(
            t["label"][rows_used & (t["model_fold"] == k)],
            t["score"][rows_used & (t["model_fold"] == k)],
            sample_weight=t["weight"][rows_used & (t["model_fold"] == k)],
        )
        for k in range(3)
    ]
    assert by_name[background]["auc_std_over_folds"] == pytest.approx(np.std(per_fold, ddof=1))


def test_total_background_auc_is_the_overall_auc(rows):
    t, by_name = rows
    expected = sklearn.metrics.roc_auc_score(t["label"], t["score"], sample_weight=t["weight"])
    assert by_name[ALL_BACKGROUNDS]["auc"] == pytest.approx(expected, abs=1e-12)
    assert by_name["sig"]["auc"] == pytest.approx(expected, abs=1e-12)  # one signal process


def test_efficiencies_equal_numpy_counts(rows):
    t, by_name = rows
    for name, row in by_name.items():
        mask = t["label"] == 0 if name == ALL_BACKGROUNDS else t["process"] == name
        for definition, threshold in THRESHOLDS.items():
            passed = mask & (t["score"] > threshold)
            expected = t["weight"][passed].sum() / t["weight"][mask].sum()
            assert row[f"eff@{definition}"] == pytest.approx(expected, rel=1e-12)


def test_a_process_without_positive_yield_gets_nan_not_an_error():
    t = _test_rows(n=3000)
    t["weight"] = np.where(t["process"] == "far", -1.0, t["weight"])
    rows = {r["process"]: r for r in per_process_performance(t, THRESHOLDS)}
    assert math.isnan(rows["far"]["auc"])
    assert math.isnan(rows["far"]["eff@score=0.2"])
    assert math.isfinite(rows["near"]["auc"])
