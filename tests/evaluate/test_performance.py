"""hepml.evaluate.performance on a synthetic K=3 fold score table, checked against sklearn and
numpy."""

from __future__ import annotations

import csv
import inspect
import json
import math

import numpy as np
import pytest
import sklearn.metrics
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.config import config_from_dict
from hepml.evaluate import metrics
from hepml.evaluate.performance import evaluate, evaluation_options, write_evaluation
from hepml.exceptions import ConfigError, DataError, FoldMismatch


@pytest.fixture(scope="module")
def table():
    return synthetic_table(negative_weights=False)


@pytest.fixture(scope="module")
def evaluation(table):
    return evaluate(table, working_points=WORKING_POINTS)


def _test_rows(table, fold=None):
    mask = table["set"] == "test"
    if fold is not None:
        mask &= table["model_fold"] == fold
    return table["score"][mask], table["label"][mask], table["weight"][mask]


def test_fold_and_merged_auc_equal_sklearn(table, evaluation):
    for k in range(3):
        scores, labels, weights = _test_rows(table, k)
        expected = sklearn.metrics.roc_auc_score(labels, scores, sample_weight=weights)
        assert evaluation.auc_folds[k] == pytest.approx(expected, abs=1e-12)
    scores, labels, weights = _test_rows(table)
    assert evaluation.auc == pytest.approx(
        sklearn.metrics.roc_auc_score(labels, scores, sample_weight=weights), abs=1e-12
    )
    assert evaluation.auc_unweighted == pytest.approx(
        sklearn.metrics.roc_auc_score(labels, scores), abs=1e-12
    )
    assert evaluation.auc_std_over_folds == pytest.approx(np.std(evaluation.auc_folds, ddof=1))


def test_working_points_and_their_spread_over_folds(table, evaluation):
    assert [r.point.definition for r in evaluation.working_points] == [
        "signal_efficiency=0.5",
        "background_efficiency=0.05",
        "score=0.7",
    ]
    result = evaluation.working_points[0]
    assert result.point.sensitivity == pytest.approx(0.5, abs=0.01)
    sensitivities = []
    for k in range(3):
        scores, labels, weights = _test_rows(table, k)
        passed = scores > result.point.threshold
        signal = weights[labels == 1]
        sensitivities.append(signal[passed[labels == 1]].sum() / signal.sum())
    assert result.std_over_folds["sensitivity"] == pytest.approx(np.std(sensitivities, ddof=1))


def test_overtraining_rows_are_weighted_ks_of_train_vs_test(table, evaluation):
    assert [(c.fold, c.event_class) for c in evaluation.overtraining] == [
        (k, name) for k in range(3) for name in ("signal", "background")
    ]
    check = evaluation.overtraining[3]  # fold 1, background
    model = (table["model_fold"] == 1) & (table["label"] == 0)
    train, test = model & (table["set"] == "train"), model & (table["set"] == "test")
    expected = metrics.ks_2samp_weighted(
        table["score"][train], table["score"][test], table["weight"][train], table["weight"][test]
    )
    # the same events in another order (the evaluation sorts by score): equal to rounding
    for name in ("statistic", "pvalue", "n_eff_a", "n_eff_b"):
        assert getattr(check.ks, name) == pytest.approx(getattr(expected, name), rel=1e-12)
    assert check.significant == (expected.pvalue < 0.05)
    large = expected.statistic > 0.08 or check.auc_gap > 0.04
    assert check.flagged == (check.significant and large)
    assert check.ks_expected == pytest.approx(np.sqrt(1 / expected.n_eff_a + 1 / expected.n_eff_b))
    assert check.auc_test == evaluation.auc_folds[1]
    assert check.auc_gap == pytest.approx(check.auc_train - check.auc_test)


def test_sharpened_training_scores_are_flagged():
    ev = evaluate(synthetic_table(n_events=20000, overtrain=1.0), working_points=[])
    assert all(check.flagged for check in ev.overtraining)


def test_histograms_sum_to_the_class_and_process_yields(table, evaluation):
    hists = evaluation.histograms
    assert len(hists.edges) == 41
    test = table["set"] == "test"
    for sample, data in hists.processes.items():
        rows = test & (table["sample"] == sample)
        assert data.histogram.sumw.sum() == pytest.approx(table["weight"][rows].sum())
        assert data.histogram.sumw2.sum() == pytest.approx((table["weight"][rows] ** 2).sum())
    train_signal = (table["set"] == "train") & (table["label"] == 1)
    total = hists.overtraining["signal"].train.sumw.sum()
    assert total == pytest.approx(table["weight"][train_signal].sum())


def test_per_fold_histograms_are_each_models_own_train_and_test_events(table, evaluation):
    """The overtraining plot draws model k's training events against its test fold: the
    histograms numpy fills from exactly those rows, and they add up to the merged ones."""
    hists = evaluation.histograms
    assert len(hists.folds) == 3
    edges = hists.edges
    for k, fold in enumerate(hists.folds):
        for value, name in ((1, "signal"), (0, "background")):
            for role in ("train", "test"):
                rows = (table["model_fold"] == k) & (table["label"] == value)
                rows &= table["set"] == role
                expected, _ = np.histogram(
                    table["score"][rows], bins=edges, weights=table["weight"][rows]
                )
                got = getattr(fold[name], role).sumw
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for name in ("signal", "background"):
        for role in ("train", "test"):
            summed = sum(getattr(f[name], role).sumw for f in hists.folds)
            merged = getattr(hists.overtraining[name], role).sumw
            np.testing.assert_allclose(summed, merged, rtol=1e-12, atol=1e-9)


def test_signed_weights_give_finite_results():
    ev = evaluate(synthetic_table(negative_weights=True), working_points=WORKING_POINTS)
    assert 0.5 < ev.auc < 1
    assert all(np.isfinite(c.ks.pvalue) for c in ev.overtraining)


def test_write_evaluation_files(tmp_path, evaluation):
    paths = write_evaluation(evaluation, tmp_path)
    tables = ["metrics", "working_points", "confusion", "overtraining", "per_process"]
    assert sorted(p.name for p in paths) == sorted(
        [f"{t}.{e}" for t in [*tables, "significance"] for e in ("csv", "md", "tex")]
        + ["curves.json", "histograms.json", "significance.json"]
    )
    assert all(p.is_file() for p in paths)
    with (tmp_path / "metrics.csv").open() as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["classifier"] == "xgboost"
    assert float(row["auc_fold_2"]) == pytest.approx(evaluation.auc_folds[2])
    assert "significant and large" in (tmp_path / "overtraining.md").read_text()
    assert (tmp_path / "working_points.md").read_text().count("| xgboost |") == 3
    content = json.loads((tmp_path / "curves.json").read_text())
    assert content["format"] == "hepml.roc_curves/2" and content["order"] == ["xgboost"]
    curves = content["classifiers"]["xgboost"]
    merged = curves["merged"]
    assert len(merged["signal_efficiency"]) <= 500
    assert merged["signal_efficiency"][0] == 0 and merged["signal_efficiency"][-1] == 1
    assert len(curves["folds"]) == 3


def test_empty_table_is_a_data_error():
    empty = {c: np.array([]) for c in synthetic_table(n_events=10)}
    with pytest.raises(DataError, match="empty"):
        evaluate(empty, working_points=[])


def test_fold_without_signal_is_a_data_error():
    table = synthetic_table(n_events=600)
    drop = (table["fold"] == 2) & (table["label"] == 1)
    table = {c: v[~drop] for c, v in table.items()}
    with pytest.raises(DataError, match="test fold 2 has no signal events"):
        evaluate(table, working_points=[])


def test_missing_column_is_named():
    table = synthetic_table(n_events=100)
    table["wieght"] = table.pop("weight")
    with pytest.raises(DataError, match=r"lacks column.*'weight'.*Did you mean 'wieght'"):
        evaluate(table, working_points=[])


def test_test_rows_from_the_wrong_model_are_a_fold_mismatch():
    table = synthetic_table(n_events=100)
    table["fold"] = (table["fold"] + 1) % 3
    with pytest.raises(FoldMismatch, match="test fold is not"):
        evaluate(table, working_points=[])


@pytest.mark.parametrize(
    "definition", [{}, {"score": 0.5, "signal_efficiency": 0.5}, {"sig_eff": 0.5}]
)
def test_bad_working_point_is_a_config_error(definition):
    with pytest.raises(ConfigError, match=r"working_points\[0\]"):
        evaluate(synthetic_table(n_events=100), working_points=[definition])


def test_raw_confusion_counts_are_event_counts_at_the_weighted_threshold(table, evaluation):
    scores, labels, _ = _test_rows(table)
    for result in evaluation.working_points:
        passed = scores > result.point.threshold
        raw = result.raw
        assert raw.tp == np.count_nonzero(passed & (labels == 1))
        assert raw.fp == np.count_nonzero(passed & (labels == 0))
        assert raw.tn == np.count_nonzero(~passed & (labels == 0))
        assert raw.fn == np.count_nonzero(~passed & (labels == 1))


def test_significance_optimum_has_the_yields_of_its_cut(table, evaluation):
    summary = evaluation.significance
    assert summary["metric"] == "asimov"
    assert len(summary["scan"]["cut"]) == 200
    optimum = summary["optimum"]
    scores, labels, weights = _test_rows(table)
    passed = scores > optimum["cut"]
    s = weights[passed & (labels == 1)].sum()
    b = weights[passed & (labels == 0)].sum()
    assert optimum["signal"] == pytest.approx(s)
    assert optimum["background"] == pytest.approx(b)
    assert optimum["asimov"] == pytest.approx(math.sqrt(2 * ((s + b) * math.log1p(s / b) - s)))
    assert optimum["asimov"] == pytest.approx(np.nanmax(summary["scan"]["asimov"]))
    by_process = optimum["background_by_process"]
    assert sorted(by_process) == ["ttbar", "wjets"]
    assert sum(by_process.values()) == pytest.approx(b)


def test_significance_settings_are_passed_on(table):
    ev = evaluate(table, significance_metric="s_over_sqrt_b", min_background=1e9, n_cuts=50)
    assert ev.significance["metric"] == "s_over_sqrt_b"
    assert len(ev.significance["scan"]["cut"]) == 50
    assert ev.significance["optimum"] is None  # no cut keeps 1e9 background events


def test_process_column_groups_samples_in_the_per_process_rows(table):
    grouped = dict(table, process=np.where(table["sample"] == "ggH", "higgs", "other_bkg"))
    rows = evaluate(grouped, working_points=WORKING_POINTS).per_process
    assert [(r["process"], r["class"]) for r in rows] == [
        ("higgs", "signal"),
        ("other_bkg", "background"),
        ("all backgrounds", "background"),
    ]


def test_evaluation_options_pass_every_setting_of_the_config(small_config):
    """Every keyword of `evaluate` but the classifier's name comes from the config, as set."""
    small_config["evaluation"] = {
        "working_points": [{"background_efficiency": 0.02}, {"score": 0.8}],
        "ks_threshold": 0.01,
        "ks_distance": 0.2,
        "auc_gap": 0.03,
        "bins": 17,
        "significance": {"metric": "s_over_sqrt_b", "min_background": 3.0, "cuts": 50},
    }
    options = evaluation_options(config_from_dict(small_config))
    keywords = inspect.signature(evaluate).parameters
    assert set(options) == {n for n, p in keywords.items() if p.kind == p.KEYWORD_ONLY} - {
        "classifier"
    }
    assert options == {
        "working_points": [{"background_efficiency": 0.02}, {"score": 0.8}],
        "ks_threshold": 0.01,
        "ks_distance": 0.2,
        "auc_gap": 0.03,
        "n_bins": 17,
        "significance_metric": "s_over_sqrt_b",
        "min_background": 3.0,
        "n_cuts": 50,
    }
    ev = evaluate(synthetic_table(), **options)
    assert [r.point.definition for r in ev.working_points] == [
        "background_efficiency=0.02",
        "score=0.8",
    ]
