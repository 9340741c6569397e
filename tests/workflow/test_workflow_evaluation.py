"""End to end: the detailed evaluation of the real `snakemake` run, with a `data` sample.

The tiny demo config gets pseudo-data (a third demo file of every process, label `data`,
which no MC sample lists): it is ingested, never trained on, and drawn against the MC with the
signal region blinded.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from workflow_helpers import run_tiny_workflow

pytestmark = pytest.mark.e2e

TABLES = ["metrics", "working_points", "confusion", "overtraining", "per_process", "significance"]
BLIND_ABOVE = 0.6


def _with_pseudo_data(cfg: dict) -> None:
    cfg["demo"]["files_per_process"] = 3
    for name, sample in cfg["samples"].items():  # the MC keeps files 0 and 1
        sample["files"] = f"{cfg['demo']['directory']}/{name}_[01].root"
    cfg["samples"]["data"] = {
        "label": "data",
        "files": f"{cfg['demo']['directory']}/*_2.root",
        "tree": "events",
    }
    cfg["evaluation"].update(blind_above=BLIND_ABOVE, shap_events=200)
    cfg["plotting"]["data_label"] = "Work in progress"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e_evaluation")
    return workdir, run_tiny_workflow(workdir, _with_pseudo_data)


def _csv(path):
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_every_new_output_exists(run):
    workdir, cfg = run
    results = workdir / "results"
    features = [f["name"] for f in cfg["features"]]
    expected = [results / "evaluation" / f"{t}.{e}" for t in TABLES for e in ("csv", "md", "tex")]
    expected += [results / "evaluation" / f"importance.{e}" for e in ("csv", "md", "tex")]
    for name in ("significance", "input_variables", "correlations", "shap", "data_mc"):
        expected.append(results / "evaluation" / f"{name}.json")
    plots = ["significance", "cut_efficiencies", "learning_curves", "importance"]
    plots += ["shap_beeswarm", "correlation_signal", "correlation_background", "data_mc_score"]
    plots += [f"inputs/{f}" for f in features] + [f"data_mc/{f}" for f in features]
    expected += [results / "plots" / f"{p}.{e}" for p in plots for e in ("pdf", "png")]
    missing = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not missing
    assert not list(results.rglob(".*.tmp"))


def test_data_is_ingested_but_never_trained_on(run):
    workdir, _ = run
    results = workdir / "results"
    assert (results / "ingest" / "data.parquet").is_file()
    for k in range(3):
        scores = pq.read_table(results / "train" / f"fold{k}" / "scores.parquet")
        assert "data" not in set(scores.column("sample").to_pylist())


def test_optimal_cut_yields_match_the_out_of_fold_scores(run):
    workdir, _ = run
    tables = [
        pq.read_table(workdir / "results" / "train" / f"fold{k}" / "scores.parquet")
        for k in range(3)
    ]
    columns = {
        c: np.concatenate([t.column(c).to_numpy(zero_copy_only=False) for t in tables])
        for c in ("score", "label", "weight", "set")
    }
    test = columns["set"].astype(str) == "test"
    rows = _csv(workdir / "results" / "evaluation" / "significance.csv")
    assert rows[0]["classifier"] == "xgboost"  # the BDT first, then the baselines
    row = rows[0]
    passed = test & (columns["score"] > float(row["cut"]))
    s = columns["weight"][passed & (columns["label"] == 1)].sum()
    b = columns["weight"][passed & (columns["label"] == 0)].sum()
    assert float(row["signal"]) == pytest.approx(s, rel=1e-9)
    assert float(row["background"]) == pytest.approx(b, rel=1e-9)
    assert float(row["asimov"]) == pytest.approx(
        math.sqrt(2 * ((s + b) * math.log1p(s / b) - s)), rel=1e-9
    )
    assert float(row["background_dy"]) + float(row["background_ttbar"]) == pytest.approx(b)


def test_data_mc_is_blinded_and_counts_the_data_scored_by_the_fold_models(run):
    workdir, cfg = run
    results = workdir / "results"
    features = [f["name"] for f in cfg["features"]]
    data = pq.read_table(results / "ingest" / "data.parquet")
    X = np.column_stack([data.column(f).to_numpy().astype(np.float32) for f in features])
    fold = data.column("_fold").to_numpy()
    score = np.empty(len(fold))
    for k in range(3):
        booster = xgb.Booster(model_file=str(results / "train" / f"fold{k}" / "model.json"))
        matrix = xgb.DMatrix(X[fold == k], feature_names=features)
        score[fold == k] = booster.predict(matrix)
    content = json.loads((results / "evaluation" / "data_mc.json").read_text())
    assert content["blind_above"] == BLIND_ABOVE
    assert content["hidden_data_events"] == np.count_nonzero(score > BLIND_ABOVE)
    edges = np.asarray(content["score"]["edges"])
    shown = content["score"]["data"]["sumw"][1:-1]
    hidden = np.array([v is None for v in shown])
    assert hidden.any() and not hidden[0]
    assert np.all(hidden[np.argmax(hidden) :])  # one blinded region, up to a score of 1
    assert edges[np.argmax(hidden)] <= BLIND_ABOVE + 1e-9 < edges[np.argmax(hidden) + 1]
    counts, _ = np.histogram(score, bins=edges)
    assert [v for v in shown if v is not None] == pytest.approx(counts[~hidden].tolist())
    mll = content["variables"]["mll"]
    visible = np.count_nonzero(score <= BLIND_ABOVE)
    assert sum(mll["data"]["sumw"]) + mll["data"]["nan_yield"] == pytest.approx(visible)


def test_roc_has_a_ratio_panel_when_baselines_are_evaluated(run):
    workdir, cfg = run
    curves = json.loads((workdir / "results" / "evaluation" / "curves.json").read_text())
    assert curves["order"][0] == "xgboost"
    assert len(curves["order"]) == 1 + len(cfg["training"].get("baselines", []))


def test_importance_ranks_every_feature(run):
    workdir, cfg = run
    rows = _csv(workdir / "results" / "evaluation" / "importance.csv")
    assert sorted(r["feature"] for r in rows) == sorted(f["name"] for f in cfg["features"])
    assert sum(float(r["shap_fraction"]) for r in rows) == pytest.approx(1.0)
