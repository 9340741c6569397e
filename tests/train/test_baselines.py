"""Baselines: same folds and weights as the BDT, checked against independently built sklearn
models; the hand-written estimators against scikit-learn / numpy; config errors; evaluation."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import (
    AdaBoostClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from hepml.cli.app import main
from hepml.config import Baseline, config_from_dict
from hepml.exceptions import ConfigError
from hepml.tables.features import read_scores
from hepml.train.baselines import (
    METHODS,
    build_pipeline,
    check_baselines,
    train_baseline,
    write_baseline,
)
from hepml.train.bdt import train_fold, write_fold
from hepml.train.estimators import Decorrelate, FisherDiscriminant, WeightedKNN


def _independent_weights(weight, label, used, mask):
    """abs policy + class balance + mean 1 over the model's events ``used`` (training and
    validation), written out again here; the weights of the events in ``mask``."""
    w = np.abs(weight)
    sums = {c: w[used & (label == c)].sum() for c in (0, 1)}
    w = np.where(label == 1, w / sums[1], w / sums[0])
    return (w / w[used].mean())[mask]


def _split(data, k, n_folds):
    test, val = data.fold == k, data.fold == (k + 1) % n_folds
    return ~(test | val), val, test


def _imputer():
    return SimpleImputer(strategy="median", add_indicator=True)


INDEPENDENT = {
    "logistic": lambda seed: make_pipeline(
        _imputer(), StandardScaler(), LogisticRegression(max_iter=1000)
    ),
    "decision_tree": lambda seed: DecisionTreeClassifier(
        max_depth=6, min_samples_leaf=50, random_state=seed
    ),
    "random_forest": lambda seed: RandomForestClassifier(
        n_estimators=20, min_samples_leaf=20, random_state=seed
    ),
    "adaboost": lambda seed: make_pipeline(
        _imputer(),
        AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=3, min_samples_leaf=50),
            n_estimators=20,
            learning_rate=0.5,
            random_state=seed,
        ),
    ),
}
PARAMS = {"random_forest": {"n_estimators": 20}, "adaboost": {"n_estimators": 20}}


@pytest.mark.parametrize("method", sorted(INDEPENDENT))
def test_baseline_matches_an_independent_sklearn_model_on_the_same_fold(ingested, method):
    cfg, data, _ = ingested
    k = 1
    model = train_baseline(cfg, data, Baseline(method, method, params=PARAMS.get(method, {})), k)
    train, _, test = _split(data, k, cfg.training.folds)
    ref = INDEPENDENT[method](cfg.seed * 100 + k)
    fit_kw = {"sample_weight": _independent_weights(data.weight, data.label, ~test, train)}
    if hasattr(ref, "steps"):
        fit_kw = {f"{ref.steps[-1][0]}__sample_weight": fit_kw["sample_weight"]}
    ref.fit(data.X[train], data.label[train], **fit_kw)
    expected = roc_auc_score(data.label[test], ref.predict_proba(data.X[test])[:, 1])
    s = model.scores
    mine = s["set"] == "test"
    assert roc_auc_score(s["label"][mine], s["score"][mine]) == pytest.approx(expected, abs=1e-12)
    assert 0.55 < expected < 0.9  # learns something, far from perfect
    # the pipeline was fitted on the training folds only
    assert model.metadata["events"]["train"] == int(train.sum())


def test_hist_gbdt_early_stops_on_the_validation_fold(ingested):
    cfg, data, _ = ingested
    k = 0
    model = train_baseline(cfg, data, Baseline("hist_gbdt", "hist_gbdt"), k)
    train, val, test = _split(data, k, cfg.training.folds)
    ref = HistGradientBoostingClassifier(
        max_iter=500, early_stopping=True, n_iter_no_change=10, random_state=cfg.seed * 100
    )
    ref.fit(
        data.X[train],
        data.label[train],
        sample_weight=_independent_weights(data.weight, data.label, ~test, train),
        X_val=data.X[val],
        y_val=data.label[val],
        sample_weight_val=_independent_weights(data.weight, data.label, ~test, val),
    )
    assert model.pipeline[-1].n_iter_ == ref.n_iter_ < 500
    s = model.scores
    mine = s["set"] == "test"
    np.testing.assert_allclose(
        np.sort(s["score"][mine]), np.sort(ref.predict_proba(data.X[test])[:, 1]), rtol=1e-12
    )


def test_fisher_equals_lda_with_unit_weights_on_the_same_fold(ingested):
    cfg, data, _ = ingested
    cfg = dataclasses.replace(
        cfg, training=dataclasses.replace(cfg.training, balance_classes=False)
    )
    data = dataclasses.replace(data, weight=np.ones(len(data)))
    model = train_baseline(cfg, data, Baseline("fisher", "fisher"), 2)
    train, _, test = _split(data, 2, cfg.training.folds)
    ref = make_pipeline(_imputer(), LinearDiscriminantAnalysis(solver="lsqr"))
    X = data.X.astype(np.float64)  # sklearn's LDA keeps float32 input in float32
    ref.fit(X[train], data.label[train])
    s = model.scores
    mine = s["set"] == "test"
    order = np.argsort(s["entry"][mine] + 10**7 * (s["sample"][mine] == "sig"))
    ref_order = np.argsort(data.entry[test] + 10**7 * (data.sample[test] == "sig"))
    np.testing.assert_allclose(
        s["score"][mine][order], ref.predict_proba(X[test])[ref_order, 1], rtol=1e-9
    )


def test_weighted_fisher_equals_lda_on_replicated_events():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(0.7, 1.3, (150, 3))])
    y = np.repeat([0, 1], [200, 150])
    w = rng.integers(1, 4, len(y))
    mine = FisherDiscriminant().fit(X, y, sample_weight=w.astype(float))
    ref = LinearDiscriminantAnalysis(solver="lsqr").fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(mine.predict_proba(X), ref.predict_proba(X), rtol=1e-9)


def test_weighted_knn_equals_sklearn_with_equal_weights_and_brute_force_with_weights():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(300, 2)), rng.integers(0, 2, 300)
    Xq = rng.normal(size=(50, 2))
    mine = WeightedKNN(n_neighbors=7).fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=7).fit(X, y)
    np.testing.assert_allclose(mine.predict_proba(Xq), ref.predict_proba(Xq))
    w = rng.uniform(0.1, 3.0, 300)
    weighted = WeightedKNN(n_neighbors=7).fit(X, y, sample_weight=w)
    d = ((Xq[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1)[:, :7]
    expected = (w[nearest] * (y[nearest] == 1)).sum(1) / w[nearest].sum(1)
    np.testing.assert_allclose(weighted.predict_proba(Xq)[:, 1], expected)


def test_decorrelation_gives_unit_covariance_and_stays_near_the_axes():
    rng = np.random.default_rng(3)
    X = rng.multivariate_normal([1, 2, 3], [[2, 1.2, 0], [1.2, 1.5, 0.3], [0, 0.3, 0.5]], 5000)
    Z = Decorrelate().fit(X).transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    # symmetric square root: each output is most correlated with its own input
    corr = np.corrcoef(np.hstack([X, Z]), rowvar=False)[:3, 3:]
    assert np.all(np.argmax(np.abs(corr), axis=1) == [0, 1, 2])


@pytest.mark.parametrize("transforms", [["standardise"], ["decorrelate"], ["pca"], ["gauss"]])
def test_transforms_are_fitted_on_the_training_folds_only(ingested, transforms):
    cfg, data, _ = ingested
    b = Baseline("lin", "logistic", tuple(transforms))
    model = train_baseline(cfg, data, b, 0)
    train, _, _ = _split(data, 0, cfg.training.folds)
    assert [n for n, _ in model.pipeline.steps] == ["impute", *transforms, "classifier"]
    imputed = _imputer().fit(data.X[train]).transform(data.X[train])
    step = model.pipeline.named_steps[transforms[0]]
    if hasattr(step, "mean_"):
        np.testing.assert_allclose(step.mean_, imputed.mean(axis=0, dtype=np.float64), rtol=1e-5)
    else:  # gauss: quantiles of the training events
        np.testing.assert_allclose(
            step.quantiles_[-1], imputed.max(axis=0), rtol=1e-6
        )  # the largest quantile is the largest training value


def test_baseline_scores_are_read_by_evaluation_beside_the_bdt(ingested, tmp_path):
    cfg, data, tables = ingested
    config_path = tmp_path / "c.yaml"
    import yaml

    raw = dict(cfg.raw)
    raw["training"] = {**raw["training"], "baselines": ["fisher"]}
    config_path.write_text(yaml.safe_dump(raw))
    table_args = [f"{n}={p}" for n, p in tables.items()]
    bdt, fisher = [], []
    for k in range(cfg.training.folds):
        write_fold(train_fold(cfg, data, k), tmp_path / "bdt" / f"fold{k}")
        bdt.append(str(tmp_path / "bdt" / f"fold{k}" / "scores.parquet"))
        out = tmp_path / "fisher" / f"fold{k}"
        args = ["train", "-c", str(config_path), "--classifier", "fisher", "--fold", str(k)]
        assert main([*args, "--tables", *table_args, "--output-dir", str(out)]) == 0
        fisher.append(str(out / "scores.parquet"))
        assert (out / "model.joblib").stat().st_size > 0
        assert json.loads((out / "metadata.json").read_text())["method"] == "fisher"
    oof = read_scores(fisher, n_folds=cfg.training.folds)
    test = oof["set"] == "test"
    assert test.sum() == len(data)  # one out-of-fold score per event
    ev_dir = tmp_path / "evaluation"
    args = ["evaluate", "-c", str(config_path), "--scores", *bdt, "--baseline", "fisher"]
    assert main([*args, *fisher, "--output-dir", str(ev_dir)]) == 0
    with open(ev_dir / "metrics.csv") as f:
        rows = {r["classifier"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["xgboost", "fisher"]
    expected = roc_auc_score(oof["label"][test], oof["score"][test])
    assert float(rows["fisher"]["auc_unweighted"]) == pytest.approx(expected, abs=1e-9)
    curves = json.loads((ev_dir / "curves.json").read_text())
    assert set(curves["classifiers"]) == {"xgboost", "fisher"}


def test_unknown_classifier_on_the_command_line(ingested, tmp_path, capsys):
    cfg, _, tables = ingested
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**cfg.raw, "training": {**cfg.raw["training"]}}))
    args = ["train", "-c", str(path), "--classifier", "fishr", "--fold", "0", "--tables"]
    code = main([*args, *(f"{n}={p}" for n, p in tables.items()), "--output-dir", "x"])
    assert code == 2
    assert "no classifier 'fishr'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("baselines", "message"),
    [
        (["fishr"], r"training\.baselines\[0\] is 'fishr'.*Did you mean 'fisher'"),
        (
            [{"method": "knn", "params": {"n_neighbour": 5}}],
            r"baselines\[0\]\.params: 'n_neighbour' is not a parameter.*'n_neighbors'",
        ),
        (
            [{"method": "random_forest", "params": {"n_estimators": -3}}],
            r"baselines\[0\]\.params: .*n_estimators",
        ),
        (["fisher", {"method": "logistic", "name": "fisher"}], "'fisher' is used twice"),
        ([{"method": "logistic", "name": "xgboost"}], "'xgboost' is the BDT's"),
        ([{"method": "logistic", "transforms": ["whiten"]}], r"transforms\[0\] is 'whiten'"),
    ],
)
def test_baseline_config_errors_name_the_key(small_config, baselines, message):
    """Caught when the config is read, or (params, against scikit-learn) by hepml validate
    and when the workflow starts."""
    small_config["training"]["baselines"] = baselines
    with pytest.raises(ConfigError, match=message):
        check_baselines(config_from_dict(small_config))


def test_every_method_builds_and_imputes_where_needed():
    needs = {"fisher", "logistic", "knn", "adaboost"}
    for method in METHODS:
        steps = [n for n, _ in build_pipeline(Baseline(method, method)).steps]
        assert (steps[0] == "impute") == (method in needs), method
        assert steps[-1] == "classifier"


def test_knn_and_zero_weight_policy_in_write(ingested, tmp_path):
    cfg, data, _ = ingested
    cfg = dataclasses.replace(
        cfg, training=dataclasses.replace(cfg.training, negative_weights="drop")
    )
    model = train_baseline(cfg, data, Baseline("knn", "knn", params={"n_neighbors": 15}), 0)
    train, _, test = _split(data, 0, cfg.training.folds)
    # events with a dropped (negative) weight are not neighbours
    kept = int((data.weight[train] > 0).sum())
    assert model.pipeline[-1].weight_.shape == (kept,)
    paths = write_baseline(model, tmp_path / "knn")
    assert all(p.stat().st_size > 0 for p in paths)
    s = model.scores
    assert roc_auc_score(s["label"][s["set"] == "test"], s["score"][s["set"] == "test"]) > 0.5
    assert int((s["set"] == "test").sum()) == int(test.sum())
