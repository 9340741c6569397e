"""The streaming evaluation (fine score histograms) against the exact one on the same tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.config import config_from_dict
from hepml.evaluate.performance import evaluate
from hepml.evaluate.streaming import BATCH_ROWS, evaluate_scores, evaluate_streaming
from hepml.tables.scores import ScoreFiles
from hepml.train.bdt import write_scores

OPTIONS = {"working_points": WORKING_POINTS, "n_bins": 20, "n_cuts": 50}


@pytest.fixture(scope="module")
def score_files(tmp_path_factory):
    """Three fold models' score tables of 60k events, with negative weights."""
    directory = tmp_path_factory.mktemp("streaming")
    table = synthetic_table(60_000, k=3, seed=11)
    table["process"] = table["sample"]
    paths = []
    for k in range(3):
        rows = table["model_fold"] == k
        part = {c: v[rows] for c, v in table.items()}
        paths.append(write_scores(part, directory / f"fold{k}" / "scores.parquet"))
    return paths


def both(paths, monkeypatch=None, **options):
    exact = evaluate(ScoreFiles(paths, n_folds=3), **OPTIONS)
    streamed = evaluate_streaming(ScoreFiles(paths, n_folds=3), **OPTIONS, **options)
    return exact, streamed


def test_auc_agrees_with_the_exact_one_within_its_bound(score_files):
    exact, streamed = both(score_files, fine_bins=200_000)
    bound = streamed.curves.streaming["auc_error_bound"]
    assert abs(streamed.auc - exact.auc) <= bound
    assert abs(streamed.auc - exact.auc) < 1e-5
    for a, b in zip(streamed.auc_folds, exact.auc_folds, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    assert streamed.auc_unweighted == pytest.approx(exact.auc_unweighted, abs=1e-5)
    assert streamed.auc != exact.auc  # really binned: not the exact code path


def test_coarse_bins_move_the_auc_but_never_beyond_the_bound(score_files):
    exact, streamed = both(score_files, fine_bins=1000)
    bound = streamed.curves.streaming["auc_error_bound"]
    assert 1e-7 < abs(streamed.auc - exact.auc) <= bound


def test_histograms_scan_and_score_working_point_are_the_exact_ones(score_files):
    exact, streamed = both(score_files, fine_bins=20_000)
    a, b = exact.histograms, streamed.histograms
    np.testing.assert_array_equal(a.edges, b.edges)
    assert len(a.folds) == len(b.folds) == 3
    for name in ("signal", "background"):
        pairs = [(a.overtraining[name], b.overtraining[name])]
        pairs += [(fa[name], fb[name]) for fa, fb in zip(a.folds, b.folds, strict=True)]
        for ha, hb in pairs:  # summed over the fold models, and each model's own
            for kind in ("train", "test"):
                for key in ("sumw", "sumw2"):
                    np.testing.assert_allclose(
                        getattr(getattr(hb, kind), key), getattr(getattr(ha, kind), key),
                        rtol=1e-9, atol=1e-12,
                    )  # fmt: skip
    assert a.processes.keys() == b.processes.keys()
    for process, hist in a.processes.items():
        assert b.processes[process].label == hist.label
        np.testing.assert_allclose(
            b.processes[process].histogram.sumw, hist.histogram.sumw, rtol=1e-9
        )
    scan_a, scan_b = exact.significance["scan"], streamed.significance["scan"]
    for key in ("cut", "signal", "background", "signal_events", "background_events"):
        np.testing.assert_allclose(scan_b[key], scan_a[key], rtol=1e-9, atol=1e-12)
    optimum_a, optimum_b = exact.significance["optimum"], streamed.significance["optimum"]
    assert optimum_b.pop("background_by_process") == pytest.approx(
        optimum_a.pop("background_by_process")
    )
    assert optimum_b == pytest.approx(optimum_a)  # events counted, not bins
    by_score = {r.point.definition: r for r in exact.working_points}["score=0.7"]
    streamed_point = {r.point.definition: r for r in streamed.working_points}["score=0.7"]
    for key in ("tp", "fp", "tn", "fn", "sensitivity"):
        assert getattr(streamed_point.point, key) == pytest.approx(getattr(by_score.point, key))
    assert streamed_point.raw.tp == by_score.raw.tp  # counted events, not bins


def test_efficiency_working_points_ks_and_per_process_are_close(score_files):
    exact, streamed = both(score_files, fine_bins=200_000)
    for a, b in zip(exact.working_points, streamed.working_points, strict=True):
        assert b.point.sensitivity == pytest.approx(a.point.sensitivity, abs=1e-3)
        assert b.point.threshold == pytest.approx(a.point.threshold, abs=1e-3)
    for a, b in zip(exact.overtraining, streamed.overtraining, strict=True):
        assert (a.fold, a.event_class) == (b.fold, b.event_class)
        assert b.ks.statistic == pytest.approx(a.ks.statistic, abs=1e-3)
        assert b.ks.n_eff_a == pytest.approx(a.ks.n_eff_a, rel=1e-9)  # from the events
        assert b.auc_train == pytest.approx(a.auc_train, abs=1e-5)
    rows_a = {r["process"]: r for r in exact.per_process}
    rows_b = {r["process"]: r for r in streamed.per_process}
    assert rows_a.keys() == rows_b.keys()
    for name, row in rows_a.items():
        assert rows_b[name]["events"] == row["events"]
        assert rows_b[name]["yield"] == pytest.approx(row["yield"])
        assert rows_b[name]["auc"] == pytest.approx(row["auc"], abs=1e-5)


def test_memory_does_not_hold_the_events(score_files, monkeypatch):
    """The stream reads each model in batches: with batches of 5000 rows, the result is the
    one read in large batches (nothing depends on holding a model's table)."""
    _, large = both(score_files, fine_bins=20_000)
    monkeypatch.setattr("hepml.evaluate.streaming.BATCH_ROWS", 5000)
    small = evaluate_streaming(ScoreFiles(score_files, n_folds=3), **OPTIONS, fine_bins=20_000)
    assert BATCH_ROWS > 5000
    assert small.auc == pytest.approx(large.auc, abs=1e-12)
    assert json.dumps(small.histograms.to_json()["processes"]) != ""


def test_the_config_chooses_the_path_by_the_number_of_events(score_files, small_config):
    small_config["training"]["folds"] = 3
    small_config["evaluation"].update(streaming_above=100_000)
    exact = evaluate_scores(ScoreFiles(score_files, n_folds=3), config_from_dict(small_config))
    assert exact.curves.streaming is None and "streaming" not in exact.curves.to_json()
    small_config["evaluation"].update(streaming_above=0, streaming_bins=5000)
    streamed = evaluate_scores(ScoreFiles(score_files, n_folds=3), config_from_dict(small_config))
    assert streamed.curves.streaming["bins"] <= 5000 + 200
    assert streamed.curves.to_json()["streaming"] == streamed.curves.streaming
