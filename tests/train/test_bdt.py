"""Training: fold roles, weights, out-of-fold integrity, early stopping, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from conftest import ingest_all

from hepml.config import config_from_dict
from hepml.exceptions import ConfigError, DataError, FoldMismatch
from hepml.folds import fold_roles
from hepml.tables.features import Dataset, load_dataset, read_scores
from hepml.train.bdt import train_fold, training_weights, write_fold
from hepml.train.weights import annihilate


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
    cfg, data, _ = ingested
    paths = []
    models = {}
    for k in range(cfg.training.folds):
        model = train_fold(cfg, data, k, threads=1)
        write_fold(model, tmp_path / f"fold{k}")
        paths.append(tmp_path / f"fold{k}" / "scores.parquet")
        models[k] = model
        meta = model.metadata
        assert meta["roles"] == fold_roles(k, cfg.training.folds)
        assert meta["events"]["test"] == int(np.sum(data.fold == k))
    scores = read_scores(paths, n_folds=cfg.training.folds)
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
    cfg, data, _ = ingested
    model = train_fold(cfg, data, 0)
    write_fold(model, tmp_path)
    booster = xgb.Booster(model_file=str(tmp_path / "model.json"))
    assert booster.num_boosted_rounds() == model.best_iteration + 1
    lines = (tmp_path / "learning_curve.csv").read_text().splitlines()
    assert lines[0] == "iteration,train_logloss,train_auc,validation_logloss,validation_auc"
    n_rounds = len(lines) - 1
    # early stopping ran for best + patience rounds unless it hit n_estimators
    assert n_rounds == min(model.best_iteration + 1 + cfg.training.early_stopping_rounds, 40)
    val_loss = [float(line.split(",")[3]) for line in lines[1:]]
    assert int(np.argmin(val_loss)) == model.best_iteration
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["objective"] == "binary:logistic"
    assert meta["features"] == cfg.feature_names
    assert meta["config_hash"] == cfg.training_hash()


def test_validation_metric_uses_weights(ingested):
    """The early-stopping log-loss equals a weighted BCE computed by hand on the validation
    set, with the weights balanced once over the training and validation events."""
    cfg, data, _ = ingested
    model = train_fold(cfg, data, 0)
    val = data.fold == model.roles["validation"]
    used = data.fold != model.roles["test"]
    w = np.abs(data.weight)
    for label in (0, 1):
        w = np.where(data.label == label, w / w[used & (data.label == label)].sum(), w)
    w = w[val] * used.sum() / w[used].sum()
    booster = model.booster
    p = np.clip(booster.inplace_predict(data.X[val]), 1e-16, 1 - 1e-16)
    y = data.label[val]
    bce = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum()
    unweighted = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    logged = model.learning_curve["validation"]["logloss"][model.best_iteration]
    assert logged == pytest.approx(bce, rel=1e-4)
    assert logged != pytest.approx(unweighted, rel=1e-4)  # the balancing weights really enter


def test_training_is_deterministic(ingested, tmp_path):
    cfg, data, _ = ingested
    write_fold(train_fold(cfg, data, 2, threads=2), tmp_path / "a")
    write_fold(train_fold(cfg, data, 2, threads=1), tmp_path / "b")
    assert (tmp_path / "a" / "model.json").read_bytes() == (
        tmp_path / "b" / "model.json"
    ).read_bytes()


def test_fold_without_signal_is_a_clear_error(ingested):
    cfg, data, _ = ingested
    no_signal_in_fold0 = ~((data.fold == 0) & (data.label == 1))
    with pytest.raises(DataError, match=r"model 0: the test set has 0 signal"):
        train_fold(cfg, data.subset(no_signal_in_fold0), 0)


def test_read_scores_detects_missing_model(ingested, tmp_path):
    cfg, data, _ = ingested
    write_fold(train_fold(cfg, data, 0), tmp_path / "fold0")
    with pytest.raises(FoldMismatch, match=r"expected the scores of models 0\.\.2"):
        read_scores([tmp_path / "fold0" / "scores.parquet"], n_folds=3)


def test_dataset_rejects_table_from_other_config(ingested):
    _, _, tables = ingested
    with pytest.raises(DataError, match=r"no column for feature 'mett'.*Did you mean 'met'"):
        load_dataset({"sig": tables["sig"]}, ["mett"])
    assert isinstance(load_dataset({"sig": tables["sig"]}, ["met"]), Dataset)


# --- negative weights: annihilation (TMVA's PairNegWeightsGlobal) ---------------------------


def test_annihilation_cancels_against_the_nearest_positive_neighbours():
    # 1-D: the negative event at x=0.1 sits next to the positive one at x=0; the one at
    # x=10 is far away and must keep its weight.
    X = np.array([[0.0], [0.1], [10.0], [10.2], [5.0]], dtype=np.float32)
    w = np.array([3.0, -1.0, 2.0, 1.0, 1.0])
    y = np.zeros(5, dtype=np.int8)
    out = annihilate(w, X, y)
    np.testing.assert_allclose(out, [2.0, 0.0, 2.0, 1.0, 1.0])
    # a negative weight larger than its nearest neighbour's takes from the next nearest
    w2 = np.array([0.5, -1.0, 2.0, 1.0, 1.0])
    out2 = annihilate(w2, X, y)
    np.testing.assert_allclose(out2, [0.0, 0.0, 2.0, 1.0, 0.5])
    assert w2[1] == -1.0  # the caller's signed weights are untouched


def test_annihilation_preserves_class_sums_and_is_deterministic():
    rng = np.random.default_rng(3)
    n = 4000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[rng.random(n) < 0.2, 2] = np.nan  # missing objects
    y = (rng.random(n) < 0.4).astype(np.int8)
    w = rng.exponential(1.0, n) * np.where(rng.random(n) < 0.15, -1.0, 1.0)
    out = annihilate(w, X, y)
    assert np.all(out >= 0)
    for c in (0, 1):
        assert out[y == c].sum() == pytest.approx(w[y == c].sum(), rel=1e-12)
    np.testing.assert_array_equal(out, annihilate(w.copy(), X.copy(), y.copy()))
    # positive events far from every negative one keep their weight: only a few changed
    changed = np.count_nonzero((out != w) & (w > 0))
    assert 0 < changed < np.count_nonzero(w > 0) / 2


def test_annihilation_of_a_net_negative_class_is_a_clear_error():
    X = np.array([[0.0], [1.0], [2.0]])
    with pytest.raises(DataError, match=r"the signal events: their weights sum to -1.*abs or drop"):
        annihilate(np.array([1.0, -2.0, 5.0]), X, np.array([1, 1, 0]))


def test_training_weights_annihilate_then_balance():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    y = np.repeat([1, 0], 150).astype(np.int8)
    w = np.where(rng.random(300) < 0.2, -0.5, 1.0)
    out = training_weights(w, y, policy="annihilate", balance=True, X=X)
    assert np.all(out >= 0)
    assert out[y == 1].sum() == pytest.approx(out[y == 0].sum())
    assert out[out > 0].mean() == pytest.approx(1.0)


def test_balance_backgrounds_gives_every_process_the_same_sum():
    y = np.array([1, 1, 0, 0, 0, 0, 0], dtype=np.int8)
    process = np.array(["h", "h", "dy", "dy", "dy", "tt", "tt"])
    w = np.array([1.0, 1.0, 10.0, 10.0, 10.0, 0.5, 1.5])
    out = training_weights(
        w, y, policy="abs", balance=True, process=process, balance_backgrounds=True
    )
    assert out[process == "dy"].sum() == pytest.approx(out[process == "tt"].sum())
    assert out[y == 1].sum() == pytest.approx(out[y == 0].sum())
    # within a process the shape is kept
    assert out[5] / out[6] == pytest.approx(0.5 / 1.5)
    off = training_weights(w, y, policy="abs", balance=True, process=process)
    assert off[process == "dy"].sum() == pytest.approx(off[process == "tt"].sum() * 15)
    with pytest.raises(DataError, match="background process 'tt'"):
        training_weights(
            np.where(process == "tt", -1.0, w),
            y,
            policy="drop",
            balance=True,
            process=process,
            balance_backgrounds=True,
        )


def test_train_fold_with_annihilation_and_process_balance(small_config, tmp_path):
    small_config["training"].update(negative_weights="annihilate", balance_backgrounds=True)
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    assert np.any(data.weight < 0)  # the background ntuples have negative weights
    model = train_fold(cfg, data, 0)
    assert model.metadata["training_weights"]["negative_weights"] == "annihilate"
    # the early-stopping loss is the BCE weighted with the validation events' weights,
    # annihilated and balanced over the training and validation events together
    used = data.fold != model.roles["test"]
    w = training_weights(
        data.weight[used], data.label[used], policy="annihilate", balance=True, X=data.X[used]
    )[data.fold[used] == model.roles["validation"]]
    val = data.fold == model.roles["validation"]
    p = np.clip(model.booster.inplace_predict(data.X[val]), 1e-16, 1 - 1e-16)
    y = data.label[val]
    bce = -(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum()
    logged = model.learning_curve["validation"]["logloss"][model.best_iteration]
    assert logged == pytest.approx(bce, rel=1e-4)


# --- XGBoost parameters from the config --------------------------------------------------


def test_monotone_constraint_by_feature_name_is_obeyed(small_config, tmp_path):
    small_config["training"]["xgboost"].update(monotone_constraints={"met": -1})
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    model = train_fold(cfg, data, 0)
    assert model.metadata["parameters"]["monotone_constraints"] == "(-1,0,0,0,0)"
    # scan met for a few events, other features fixed: the score never rises
    grid = np.linspace(0, 300, 61, dtype=np.float32)
    for row in data.X[:20]:
        x = np.repeat(row[None, :], len(grid), axis=0)
        x[:, 0] = grid
        s = model.booster.inplace_predict(x)
        assert np.all(np.diff(s) <= 1e-7)
    # the unconstrained model is not monotone in met (so the check above can fail)
    free = train_fold(config_from_dict({**small_config, "training": {"folds": 3}}), data, 0)
    rises = 0
    for row in data.X[:20]:
        x = np.repeat(row[None, :], len(grid), axis=0)
        x[:, 0] = grid
        rises += int(np.any(np.diff(free.booster.inplace_predict(x)) > 1e-6))
    assert rises > 0


def test_every_configured_xgboost_parameter_reaches_the_booster(small_config, tmp_path):
    small_config["training"]["xgboost"].update(
        max_depth=0,
        max_leaves=7,
        grow_policy="lossguide",
        colsample_bylevel=0.9,
        colsample_bynode=0.8,
        max_delta_step=2.0,
        gamma=0.1,
        alpha=0.2,
        max_bin=64,
        interaction_constraints=[["met", "ht"], ["n_jets", "jet1_eta", "mu1_pt"]],
    )
    cfg = config_from_dict(small_config)
    data, _ = ingest_all(cfg, tmp_path)
    model = train_fold(cfg, data, 0)
    conf = json.loads(model.booster.save_config())
    tree = conf["learner"]["gradient_booster"]["tree_train_param"]
    assert tree["max_leaves"] == "7"
    assert tree["grow_policy"] == "lossguide"
    assert float(tree["colsample_bylevel"]) == pytest.approx(0.9)
    assert float(tree["colsample_bynode"]) == pytest.approx(0.8)
    assert float(tree["max_delta_step"]) == pytest.approx(2.0)
    assert tree["interaction_constraints"] == "[[0, 4], [1, 2, 3]]"
    assert float(tree["reg_alpha"]) == pytest.approx(0.2)
    # no tree splits on features from two groups along a branch: check leaf-to-root paths
    for dump in model.booster.get_dump(dump_format="json"):
        for path in _paths(json.loads(dump)):
            groups = {0 if f in ("met", "ht") else 1 for f in path}
            assert len(groups) <= 1


def _paths(node, above=()):
    if "leaf" in node:
        yield above
        return
    for child in node["children"]:
        yield from _paths(child, (*above, node["split"]))


def test_constraint_on_unknown_feature_is_a_config_error(small_config):
    small_config["training"]["xgboost"]["monotone_constraints"] = {"mett": 1}
    with pytest.raises(ConfigError, match=r"monotone_constraints: no feature 'mett'.*'met'"):
        config_from_dict(small_config)


def test_tuned_parameters_override_the_config(ingested):
    cfg, data, _ = ingested
    model = train_fold(cfg, data, 1, params={"max_depth": 1, "n_estimators": 7, "eta": 0.3})
    conf = json.loads(model.booster.save_config())
    assert conf["learner"]["gradient_booster"]["tree_train_param"]["max_depth"] == "1"
    assert len(model.learning_curve["train"]["logloss"]) <= 7
    assert model.metadata["tuned_parameters"] == {"max_depth": 1, "n_estimators": 7, "eta": 0.3}
    for dump in model.booster.get_dump(dump_format="json"):
        assert all(len(p) <= 1 for p in _paths(json.loads(dump)))
