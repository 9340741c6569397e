"""hepml.evaluate.importance: SHAP and gain against hand computations from the trees themselves."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from model_helpers import FEATURES, _data, _train, _write_fold_models, _write_table

from hepml.evaluate.importance import (
    beeswarm_data,
    feature_ranking,
    fold_importance,
    gain_importance,
    importance_from_files,
    load_fold_models,
    shap_values,
    write_importance,
)
from hepml.exceptions import FoldMismatch
from hepml.tables.features import load_dataset


def test_shap_of_a_stump_is_leaf_minus_cover_weighted_mean():
    X, label = _data()
    booster = _train(X, label, rounds=1, depth=1)
    tree = booster.trees_to_dataframe()
    split = tree[tree["Feature"] != "Leaf"].iloc[0]
    leaves = tree[tree["Feature"] == "Leaf"].set_index("ID")
    yes, no = leaves.loc[split["Yes"]], leaves.loc[split["No"]]
    expected_leaf = (yes["Gain"] * yes["Cover"] + no["Gain"] * no["Cover"]) / (
        yes["Cover"] + no["Cover"]
    )
    column = FEATURES.index(split["Feature"])
    x = X[:50]
    goes_yes = x[:, column] < np.float32(split["Split"])  # XGBoost compares in float32
    leaf_value = np.where(goes_yes, yes["Gain"], no["Gain"])
    contributions = shap_values(booster, x, FEATURES)
    np.testing.assert_allclose(contributions[:, column], leaf_value - expected_leaf, atol=1e-5)
    others = [i for i in range(3) if i != column]
    np.testing.assert_array_equal(contributions[:, others], 0.0)


def test_shap_rows_sum_to_the_margin():
    X, label = _data()
    booster = _train(X, label)
    contributions = shap_values(booster, X[:200], FEATURES)
    margin = booster.predict(xgb.DMatrix(X[:200], feature_names=FEATURES), output_margin=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-4)


def test_total_gain_equals_the_sum_over_the_tree_table():
    X, label = _data()
    booster = _train(X, label)
    splits = booster.trees_to_dataframe()
    splits = splits[splits["Feature"] != "Leaf"]
    expected = [splits.loc[splits["Feature"] == f, "Gain"].sum() for f in FEATURES]
    np.testing.assert_allclose(gain_importance(booster, FEATURES), expected, rtol=1e-5)
    assert gain_importance(booster, [*FEATURES, "unused"])[-1] == 0.0


def test_ranking_puts_the_informative_features_first():
    X, label = _data()
    folds = [
        fold_importance(_train(X, label, seed=k), FEATURES, X, fold=k, max_events=1000, seed=k)
        for k in range(3)
    ]
    rows = feature_ranking(folds, FEATURES)
    assert [r["feature"] for r in rows] == ["strong", "weak", "noise"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert sum(r["shap_fraction"] for r in rows) == pytest.approx(1.0)
    assert sum(r["gain_fraction"] for r in rows) == pytest.approx(1.0)
    strong = [np.abs(f.shap[:, 0]).mean() for f in folds]
    assert rows[0]["mean_abs_shap"] == pytest.approx(np.mean(strong))
    assert rows[0]["mean_abs_shap_std_over_folds"] == pytest.approx(np.std(strong, ddof=1))
    assert all(f.shap.shape == (1000, 3) for f in folds)


def test_beeswarm_colours_are_value_ranks_with_ties_shared_and_nan_missing():
    X, label = _data(n=500)
    X[:, 1] = np.round(X[:, 1])  # a discrete feature: ties
    fold = fold_importance(_train(X, label), FEATURES, X, fold=0)
    summary = beeswarm_data([fold], FEATURES, ["weak", "noise", "strong"], n_events=300, seed=1)
    data = summary.to_json()  # what shap.json holds
    assert data["format"] == "hepml.shap_summary/2"
    assert data["features"] == ["weak", "noise", "strong"]
    assert len(data["shap"][0]) == 300
    weak = np.array([np.nan if c is None else c for c in data["colour"][0]])
    assert np.isnan(weak).sum() > 0  # the missing values of 'weak'
    noise = np.array(data["colour"][1])
    assert noise.min() == 0.0 and noise.max() == 1.0
    assert len(np.unique(noise)) == len(np.unique(np.round(noise, 12)))  # one colour per value
    assert len(np.unique(noise)) < 15


def test_importance_from_files_explains_each_model_on_its_test_fold(tmp_path):
    X, label = _data(n=3000)
    fold = np.random.default_rng(1).integers(0, 3, len(label))
    models = _write_fold_models(tmp_path, X, label, fold)
    _write_table(tmp_path / "sig.parquet", X[label == 1], label[label == 1], fold[label == 1])
    _write_table(tmp_path / "bkg.parquet", X[label == 0], label[label == 0], fold[label == 0])
    tables = {"sig": tmp_path / "sig.parquet", "bkg": tmp_path / "bkg.parquet"}
    rows, beeswarm = importance_from_files(models, tables, max_events=200, beeswarm_events=150)
    assert rows[0]["feature"] == "strong"
    assert len(beeswarm.shap[0]) == 150
    paths = write_importance(rows, beeswarm, tmp_path / "out")
    assert sorted(p.name for p in paths) == [
        "importance.csv",
        "importance.md",
        "importance.tex",
        "shap.json",
    ]
    assert "strong" in (tmp_path / "out" / "importance.tex").read_text()


def test_importance_from_files_draws_the_test_events_of_the_whole_matrix(tmp_path):
    """Read column by column, the job explains exactly the events (and gets exactly the
    numbers) that fold_importance draws from each fold of the stacked data set."""
    X, label = _data(n=3000, seed=3)
    fold = np.random.default_rng(2).integers(0, 3, len(label))
    models = _write_fold_models(tmp_path, X, label, fold)
    tables = {}
    for name, value in (("bkg", 0), ("sig", 1)):
        tables[name] = tmp_path / f"{name}.parquet"
        rows = label == value
        _write_table(tables[name], X[rows], label[rows], fold[rows])
    ranking, beeswarm = importance_from_files(models, tables, max_events=150, seed=4)
    data = load_dataset(tables, FEATURES)
    boosters, _ = load_fold_models(models)
    expected = [
        fold_importance(b, FEATURES, data.X[data.fold == k], fold=k, max_events=150, seed=4 + k)
        for k, b in enumerate(boosters)
    ]
    assert ranking == feature_ranking(expected, FEATURES)
    ranked = [r["feature"] for r in ranking]
    expected_beeswarm = beeswarm_data(expected, FEATURES, ranked, n_events=1000, seed=4)
    assert beeswarm.to_json() == expected_beeswarm.to_json()
    assert sum(len(f.X) for f in expected) == 450


def test_fold_models_must_agree(tmp_path):
    X, label = _data(n=600)
    fold = np.arange(600) % 3
    good = _write_fold_models(tmp_path / "a", X, label, fold)
    boosters, features = load_fold_models(good)
    assert len(boosters) == 3 and features == FEATURES
    swapped = _write_fold_models(tmp_path / "b", X, label, fold, wrong_fold=2)
    with pytest.raises(FoldMismatch, match="model of fold 0, given as fold 2"):
        load_fold_models(swapped)
    other = _write_fold_models(tmp_path / "c", X, label, fold, features=["a", "b", "c"])
    with pytest.raises(FoldMismatch, match="different feature lists"):
        load_fold_models([good[0], other[1]])
    with pytest.raises(FoldMismatch, match="does not exist"):
        load_fold_models([tmp_path / "missing" / "model.json"])
