"""Small hand-made fold models and feature tables for the importance and data/MC tests."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from hepml.evaluate.data_mc import Events

FEATURES = ["strong", "noise", "weak"]


def _data(n=4000, seed=0):
    """x0 separates strongly, x2 weakly, x1 not at all; x2 has missing values."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    X = np.column_stack(
        [rng.normal(2.0 * label, 1), rng.normal(0, 1, n), rng.normal(0.4 * label, 1)]
    ).astype(np.float32)
    X[rng.random(n) < 0.1, 2] = np.nan
    return X, label


def _write_fold_models(directory, X, label, fold, *, features=FEATURES, wrong_fold=None):
    paths = []
    for k in range(3):
        train = fold != k
        booster = _train(X[train], label[train], rounds=15, seed=k)
        out = directory / f"fold{k}"
        out.mkdir(parents=True, exist_ok=True)
        booster.save_model(out / "model.json")
        meta = {"model_fold": k if wrong_fold != k else 0, "features": list(features)}
        meta |= {"model_sha256": hashlib.sha256((out / "model.json").read_bytes()).hexdigest()}
        (out / "metadata.json").write_text(json.dumps(meta))
        paths.append(out / "model.json")
    return paths


def _write_table(path, X, label, fold):
    n = len(label)
    columns = {name: X[:, i] for i, name in enumerate(FEATURES)}
    columns |= {
        "_weight": np.ones(n),
        "_label": label.astype(np.int8),
        "_fold": fold.astype(np.int8),
        "_event": np.arange(n, dtype=np.uint64),
        "_file": np.zeros(n, dtype=np.int32),
        "_entry": np.arange(n, dtype=np.int64),
    }
    pq.write_table(pa.table(columns), path)


def _events(n, seed, *, label=0, shift=0.0, weight=1.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(shift, 1, n), rng.integers(0, 3, n).astype(float)])
    score = np.clip(rng.normal(0.3 + 0.4 * label, 0.2, n), 0, 1)
    return Events(X, np.full(n, weight), score, label)


def _train(X, label, rounds=30, depth=3, seed=0):
    matrix = xgb.DMatrix(X, label=label, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "max_depth": depth, "seed": seed, "nthread": 1}
    return xgb.train(params, matrix, num_boost_round=rounds)
