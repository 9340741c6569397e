"""Determinism: the whole workflow run twice from scratch gives identical models and numbers."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from review_runs import workflow_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    return workflow_run(tmp_path_factory, "reference"), workflow_run(tmp_path_factory, "rerun")


def _files(run, pattern):
    return sorted(p.relative_to(run) for p in (run / "results").glob(pattern))


def test_models_are_byte_identical(two_runs):
    a, b = two_runs
    models = _files(a, "train/fold*/model.json")
    assert [str(m) for m in models] == [f"results/train/fold{k}/model.json" for k in range(3)]
    assert models == _files(b, "train/fold*/model.json")
    for model in models:
        assert (a / model).read_bytes() == (b / model).read_bytes(), model
    # and they are real boosted trees, not empty files that would trivially match
    learner = json.loads((a / models[0]).read_text())["learner"]
    assert int(learner["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"]) > 1


def test_scores_and_feature_tables_are_identical(two_runs):
    a, b = two_runs
    tables = _files(a, "train/fold*/scores.parquet") + _files(a, "ingest/*.parquet")
    assert len(tables) == 6
    for table in tables:
        ta, tb = pq.read_table(a / table), pq.read_table(b / table)
        assert ta.num_rows > 0
        assert ta.equals(tb), table


def test_tables_are_identical(two_runs):
    a, b = two_runs
    tables = (
        _files(a, "evaluation/*.csv")
        + _files(a, "evaluation/*.json")
        + _files(a, "cutflow/*.csv")
        + _files(a, "train/fold*/learning_curve.csv")
    )
    names = {t.name for t in tables}
    assert {"metrics.csv", "working_points.csv", "overtraining.csv", "curves.json"} <= names
    for table in tables:
        assert (a / table).read_bytes() == (b / table).read_bytes(), table


def test_provenance_agrees_on_config_and_models(two_runs):
    a, b = (json.loads((run / "results" / "provenance.json").read_text()) for run in two_runs)
    assert a["config"]["sha256"] == b["config"]["sha256"]
    assert [m["sha256"] for m in a["training"]["models"]] == [
        m["sha256"] for m in b["training"]["models"]
    ]
    assert a["training"]["bitwise_reproducible"] is True
