"""Training: fold roles, weights, out-of-fold integrity, early stopping, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb

from hepml.config import config_from_dict
from hepml.dataset import Dataset, load_dataset, read_scores
from hepml.exceptions import DataError, FoldMismatch
from hepml.ingest import ingest_sample
from hepml.train import fold_roles, train_fold, training_weights, write_fold


@pytest.fixture
def ingested(small_config, tmp_path):
    cfg = config_from_dict(small_config)
    tables = {}
    for name in cfg.samples:
        tables[name] = tmp_path / f"{name}.parquet"
        ingest_sample(cfg, name, tables[name])
    return cfg, load_dataset(tables, cfg.feature_names)


@pytest.mark.parametrize("k", [3, 5, 20])
def test_fold_roles_partition(k):
    for model in range(k):
        roles = fold_roles(model, k)
        assert roles["test"] == model
        assert roles["validation"] == (model + 1) % k
        assert sorted([roles["test"], roles["validation"], *roles["train"]]) == list(range(k))
    with pytest.raises(FoldMismatch, match="out of range"):
        fold_roles(k, k)


def test_training_weights_policies():
    w = np.array([2.0, -1.0, 3.0, 1.0, -4.0, 5.0])
    y = np.array([1, 1, 1, 0, 0, 0])
    a = training_weights(w, y, policy="abs", balance=True)
    assert np.all(a >= 0)
    assert a[y == 1].sum() == pytest.approx(a[y == 0].sum())
    assert a.mean() == pytest.approx(1.0)
    d = training_weights(w, y, policy="drop", balance=False)
    assert d[1] == 0 and d[4] == 0
    np.testing.assert_allclose(d[[0, 2, 3, 5]] / d[0], np.array([2.0, 3.0, 1.0, 5.0]) / 2.0)
    with pytest.raises(DataError, match="both must be positive"):
        training_weights(np.array([-1.0, 1.0]), np.array([1, 0]), policy="drop", balance=True)


def test_out_of_fold_scores_come_from_models_that_never_saw_the_event(ingested, tmp_path):
    cfg, data = ingested
    paths = []
    models = {}
    for k in range(cfg.folds):
        model = train_fold(cfg, data, k, threads=1)
        write_fold(model, tmp_path / f"fold{k}")
        paths.append(tmp_path / f"fold{k}" / "scores.parquet")
        models[k] = model
        meta = model.metadata
        assert meta["roles"] == fold_roles(k, cfg.folds)
        assert meta["events"]["test"] == int(np.sum(data.fold == k))
    scores = read_scores(paths, n_folds=cfg.folds)
    test = scores["set"] == "test"
    # every selected event has exactly one out-of-fold score
    keys = list(
        zip(scores["sample"][test], scores["file"][test], scores["entry"][test], strict=True)
    )
    assert len(keys) == len(set(keys)) == len(data)
    # and it comes from the model whose test fold holds it, i.e. trained without it
    np.testing.assert_array_equal(scores["model_fold"][test], scores["fold"][test])
    for k, model in models.items():
        trained_on = set(model.roles["train"]) | {model.roles["validation"]}
        assert k not in trained_on
        mine = test & (scores["model_fold"] == k)
        assert not set(np.unique(scores["fold"][mine])) & trained_on
    # rescoring the test events with the saved model reproduces the stored scores
    booster = xgb.Booster(model_file=str(tmp_path / "fold1" / "model.json"))
    mine = test & (scores["model_fold"] == 1)
    x = data.X[data.fold == 1]
    np.testing.assert_allclose(
        np.sort(booster.inplace_predict(x)), np.sort(scores["score"][mine]), rtol=1e-6
    )


def test_saved_model_is_the_best_iteration_and_curve_is_complete(ingested, tmp_path):
    cfg, data = ingested
    model = train_fold(cfg, data, 0)
    write_fold(model, tmp_path)
    booster = xgb.Booster(model_file=str(tmp_path / "model.json"))
    assert booster.num_boosted_rounds() == model.best_iteration + 1
    lines = (tmp_path / "learning_curve.csv").read_text().splitlines()
    assert lines[0] == "iteration,train_logloss,train_auc,validation_logloss,validation_auc"
    n_rounds = len(lines) - 1
    # early stopping ran for best + patience rounds unless it hit n_estimators
    assert n_rounds == min(model.best_iteration + 1 + cfg.early_stopping_rounds, 40)
    val_loss = [float(line.split(",")[3]) for line in lines[1:]]
    assert int(np.argmin(val_loss)) == model.best_iteration
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["objective"] == "binary:logistic"
    assert meta["features"] == cfg.feature_names
    assert meta["config_hash"] == cfg.training_hash()


def test_validation_metric_uses_weights(ingested):
    """The early-stopping log-loss equals a weighted BCE computed by hand on the validation set."""
    cfg, data = ingested
    model = train_fold(cfg, data, 0)
    val = data.fold == model.roles["validation"]
    w = training_weights(
        data.weight[val], data.label[val], policy=cfg.negative_weights, balance=True
    )
    booster = model.booster
    p = np.clip(booster.inplace_predict(data.X[val]), 1e-16, 1 - 1e-16)
    y = data.label[val]
    bce = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum()
    unweighted = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    logged = model.learning_curve["validation"]["logloss"][model.best_iteration]
    assert logged == pytest.approx(bce, rel=1e-4)
    assert abs(logged - unweighted) > 1e-3  # the balancing weights really enter


def test_training_is_deterministic(ingested, tmp_path):
    cfg, data = ingested
    write_fold(train_fold(cfg, data, 2, threads=2), tmp_path / "a")
    write_fold(train_fold(cfg, data, 2, threads=1), tmp_path / "b")
    assert (tmp_path / "a" / "model.json").read_bytes() == (
        tmp_path / "b" / "model.json"
    ).read_bytes()


def test_fold_without_signal_is_a_clear_error(ingested):
    cfg, data = ingested
    no_signal_in_fold0 = ~((data.fold == 0) & (data.label == 1))
    with pytest.raises(DataError, match=r"model 0: the test set has 0 signal"):
        train_fold(cfg, data.subset(no_signal_in_fold0), 0)


def test_read_scores_detects_missing_model(ingested, tmp_path):
    cfg, data = ingested
    write_fold(train_fold(cfg, data, 0), tmp_path / "fold0")
    with pytest.raises(FoldMismatch, match=r"expected the scores of models 0\.\.2"):
        read_scores([tmp_path / "fold0" / "scores.parquet"], n_folds=3)


def test_dataset_rejects_table_from_other_config(ingested, tmp_path):
    _cfg, _ = ingested
    with pytest.raises(DataError, match=r"no column for feature 'mett'.*Did you mean 'met'"):
        load_dataset({"sig": tmp_path / "sig.parquet"}, ["mett"])
    assert isinstance(load_dataset({"sig": tmp_path / "sig.parquet"}, ["met"]), Dataset)
