"""Training weights balanced once per fold model, early stopping's floor, the learning curve.

A synthetic data set whose validation fold holds background events ten times heavier than
those of the training folds (a few heavy events, as QCD multijet MC): balancing each set apart
would give the validation background the weight of the training one; balancing once keeps
their physics ratio. Expected values are computed here with numpy and scikit-learn.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from hepml.config import config_from_dict
from hepml.folds import fold_masks
from hepml.tables.features import Dataset
from hepml.train.bdt import model_weights, train_fold, write_fold
from hepml.train.curves import EarlyStopping, best_round, subsample_rows, weighted_auc


def _dataset(n=6000, seed=3, *, heavy_validation=10.0, noise_only=False) -> Dataset:
    """Three folds; model 0 tests on fold 0, validates on fold 1, trains on fold 2."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.4).astype(np.int8)
    fold = rng.integers(0, 3, n).astype(np.int8)
    shift = 0.0 if noise_only else 1.0
    X = rng.normal(size=(n, 3)).astype(np.float32) + (shift * label[:, None]).astype(np.float32)
    weight = rng.exponential(1.0, n) * np.where(label == 1, 0.01, 1.0)
    weight = np.where((label == 0) & (fold == 1), weight * heavy_validation, weight)
    weight[rng.random(n) < 0.05] *= -1  # some negative weights: abs policy
    names = np.where(label == 1, "sig", "bkg")
    return Dataset(
        ["a", "b", "c"],
        X,
        weight,
        label,
        fold,
        names,
        names,
        np.arange(n, dtype=np.uint64),
        np.zeros(n, dtype=np.int32),
        np.arange(n, dtype=np.int64),
    )


def _config(**training):
    samples = {
        "sig": {"label": "signal", "files": "sig.root"},
        "bkg": {"label": "background", "files": "bkg.root"},
    }
    base = {"folds": 3, "early_stopping_rounds": 5, "xgboost": {"n_estimators": 60}}
    return config_from_dict(
        {
            "samples": samples,
            "features": [{"name": f, "expr": f} for f in "abc"],
            "training": base | training,
        }
    )


def test_weights_are_balanced_once_over_training_and_validation():
    data = _dataset()
    cfg = _config()
    masks = fold_masks(data, 0, 3)
    weights = model_weights(cfg, data, masks)
    used = masks["train"] | masks["validation"]
    # by hand: |w|, the class sums over both sets equal, mean 1 over both sets
    w = np.abs(data.weight)
    for c in (0, 1):
        w = np.where(data.label == c, w / w[used & (data.label == c)].sum(), w)
    w *= used.sum() / w[used].sum()
    for s in ("train", "validation"):
        np.testing.assert_allclose(weights[s], w[masks[s]], rtol=1e-12)
    both = np.concatenate([weights["train"], weights["validation"]])
    label = np.concatenate([data.label[masks["train"]], data.label[masks["validation"]]])
    assert both.mean() == pytest.approx(1.0)
    assert both[label == 1].sum() == pytest.approx(both[label == 0].sum())
    # one factor per class in both sets: the heavy validation background stays 10x heavier
    for c in (0, 1):
        ratios = [
            (weights[s] / np.abs(data.weight[masks[s]]))[data.label[masks[s]] == c]
            for s in ("train", "validation")
        ]
        np.testing.assert_allclose(np.concatenate(ratios), ratios[0][0], rtol=1e-12)
    val_bkg = weights["validation"][data.label[masks["validation"]] == 0].sum()
    val_sig = weights["validation"][data.label[masks["validation"]] == 1].sum()
    assert val_bkg > 1.5 * val_sig  # balanced apart, these would be equal


def test_validation_loss_is_the_loss_under_the_shared_weights():
    data = _dataset()
    model = train_fold(_config(), data, 0)
    masks = fold_masks(data, 0, 3)
    weights = model_weights(_config(), data, masks)["validation"]
    val = masks["validation"]
    expected = log_loss(data.label[val], model.scores["score"][val], sample_weight=weights)
    logged = model.learning_curve["validation"]["logloss"][model.best_iteration]
    assert logged == pytest.approx(expected, rel=1e-4)
    apart = np.abs(data.weight[val])  # each set balanced on its own
    apart = np.where(data.label[val] == 1, apart / apart[data.label[val] == 1].sum(), apart)
    apart = np.where(data.label[val] == 0, apart / apart[data.label[val] == 0].sum(), apart)
    other = log_loss(data.label[val], model.scores["score"][val], sample_weight=apart)
    assert abs(logged - other) > 0.01


def test_best_round_never_comes_before_min_rounds():
    loss = [0.9, 0.5, 0.7, 0.8, 0.6, 0.55, 0.52, 0.56, 0.58, 0.6]
    assert best_round(loss, 1) == 1
    assert best_round(loss, 4) == 6  # the lowest loss from round 3 on
    assert best_round(loss, 20) == 9  # fewer rounds than the floor: all of them
    # the callback takes the same decisions round by round, and stops patience rounds later
    stop = EarlyStopping(3, min_rounds=4)
    history = {"validation": {"logloss": []}}
    stopped = None
    for epoch, value in enumerate(loss):
        history["validation"]["logloss"].append(value)
        if stop.after_iteration(None, epoch, history):
            stopped = epoch
            break
    assert stop.best == 6 and stopped == 9


def test_min_rounds_keeps_trees_where_the_validation_loss_rises_at_once():
    """Labels independent of the features: the validation loss is lowest after a few trees;
    the floor keeps min_rounds of them."""
    data = _dataset(noise_only=True, heavy_validation=1.0)
    early = train_fold(_config(min_rounds=1), data, 0)
    floored = train_fold(_config(min_rounds=25), data, 0)
    assert early.best_iteration < 24
    assert floored.best_iteration >= 24
    assert floored.booster.num_boosted_rounds() == floored.best_iteration + 1
    curve = floored.learning_curve["validation"]["logloss"]
    assert floored.best_iteration == 24 + int(np.argmin(curve[24:]))
    assert floored.metadata["early_stopping"]["min_rounds"] == 25


def test_learning_curve_is_the_subsample_loss_and_auc_every_n_rounds(tmp_path):
    data = _dataset()
    cfg = _config(learning_curve={"events": 500, "auc_every": 4}, min_rounds=1)
    model = train_fold(cfg, data, 0)
    masks = fold_masks(data, 0, 3)
    weights = model_weights(cfg, data, masks)
    seed = cfg.seed * 100
    pick = subsample_rows(int(masks["train"].sum()), 500, seed)
    assert len(pick) == 500 and len(np.unique(pick)) == 500
    rows = np.flatnonzero(masks["train"])[pick]
    assert np.all(data.fold[rows] == 2)  # training events only
    curve = model.learning_curve
    best = model.best_iteration
    score = model.scores["score"]
    # the training curve is the subsample's weighted log-loss, at the best round here
    assert curve["train"]["logloss"][best] == pytest.approx(
        log_loss(data.label[rows], score[rows], sample_weight=weights["train"][pick]), rel=1e-4
    )
    val = masks["validation"]
    assert curve["validation"]["auc"][best] == pytest.approx(
        roc_auc_score(data.label[val], score[val], sample_weight=weights["validation"])
    )
    assert curve["train"]["auc"][best] == pytest.approx(
        roc_auc_score(data.label[rows], score[rows], sample_weight=weights["train"][pick])
    )
    n = len(curve["validation"]["logloss"])
    for s in ("train", "validation"):
        computed = [i for i, v in enumerate(curve[s]["auc"]) if v is not None]
        assert computed == sorted({*range(0, n, 4), best})
        assert all(v is not None for v in curve[s]["logloss"])
    write_fold(model, tmp_path)
    lines = (tmp_path / "learning_curve.csv").read_text().splitlines()
    assert lines[0] == "iteration,train_logloss,train_auc,validation_logloss,validation_auc"
    assert lines[2].split(",")[2] == "" and lines[1].split(",")[2] != ""  # AUC at 0, not at 1
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["training_weights"]["computed_over"] == "train+validation"


def test_weighted_auc_equals_sklearn():
    rng = np.random.default_rng(0)
    score = np.round(rng.random(3000), 2)  # ties
    label = rng.integers(0, 2, 3000)
    weight = rng.exponential(size=3000)
    assert weighted_auc(score, label, weight) == pytest.approx(
        roc_auc_score(label, score, sample_weight=weight), rel=1e-12
    )
    assert np.isnan(weighted_auc(score, np.zeros(3000), weight))
