"""Fold dispatch of the scoring step: each row scored by its fold's model, whatever the layout."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from hepml.models import FoldModels, predict


@pytest.fixture(scope="module")
def models() -> FoldModels:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=2000) > 0).astype(float)
    boosters = tuple(
        xgb.train(
            {"objective": "binary:logistic", "max_depth": 3, "seed": k, "subsample": 0.7},
            xgb.DMatrix(X, label=y),
            num_boost_round=5 + 3 * k,
        )
        for k in range(3)
    )
    return FoldModels(boosters, ("a", "b", "c", "d"), "", ())


def expected(models: FoldModels, X: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Row by row: the fold's model on a DMatrix of that single row."""
    return np.array(
        [models.boosters[k].predict(xgb.DMatrix(X[i : i + 1]))[0] for i, k in enumerate(fold)]
    )


@pytest.mark.parametrize("layout", ["interleaved", "grouped", "one_fold", "grouped_unsorted"])
def test_each_row_is_scored_by_its_fold_model(models, layout):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    fold = rng.integers(0, 3, 300).astype(np.int8)
    if layout == "grouped":
        fold = np.sort(fold)
    elif layout == "one_fold":
        fold[:] = 2
    elif layout == "grouped_unsorted":
        fold = np.concatenate([np.full(100, 2), np.full(150, 0), np.full(50, 1)]).astype(np.int8)
    got = predict(models, X, fold, "fold")
    np.testing.assert_allclose(got, expected(models, X, fold), rtol=1e-6)
    # the models differ, so a wrong dispatch could not pass
    assert not np.allclose(got, predict(models, X, (fold + 1) % 3, "fold"))


def test_mean_mode_averages_all_models(models):
    X = np.random.default_rng(6).normal(size=(50, 4)).astype(np.float32)
    means = np.mean([b.predict(xgb.DMatrix(X)) for b in models.boosters], axis=0)
    np.testing.assert_allclose(predict(models, X, np.zeros(50, np.int8), "mean"), means, rtol=1e-6)


def test_no_rows(models):
    assert predict(models, np.empty((0, 4), np.float32), np.empty(0, np.int8), "fold").shape == (0,)
