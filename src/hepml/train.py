"""Train: one XGBoost BDT per fold of a K-fold cross-validation folded on the event number.

Model k never sees fold k (its *test* fold): it early-stops on fold (k+1) mod K (its
*validation* fold) and trains on the other K-2 folds. Every event therefore gets exactly one
out-of-fold score, from the model that neither trained nor stopped on it, and the merged
out-of-fold scores are an unbiased estimate of performance on independent data.

The objective is the binary cross-entropy (``binary:logistic``). Training weights are the
physics weights with the configured negative-weight policy applied (XGBoost rejects negative
weights) and, optionally, signal and background equalised; the validation set is weighted
the same way, so the early-stopping metric (weighted log-loss) matches the training loss.
Scores handed to evaluation always carry the signed physics weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from hepml.atomic import atomic_path, write_json
from hepml.config import Config
from hepml.dataset import Dataset
from hepml.exceptions import DataError, FoldMismatch
from hepml.tables import write_table

__all__ = ["FoldModel", "fold_roles", "train_fold", "training_weights", "write_fold"]

log = logging.getLogger(__name__)


def fold_roles(k: int, n_folds: int) -> dict[str, Any]:
    """The role of each fold for model ``k``: test fold k, validation (k+1) mod K, rest train."""
    if not 0 <= k < n_folds:
        msg = (
            f"fold index {k} is out of range: the config defines {n_folds} folds (0..{n_folds - 1})"
        )
        raise FoldMismatch(msg)
    validation = (k + 1) % n_folds
    train = [f for f in range(n_folds) if f not in (k, validation)]
    return {"test": k, "validation": validation, "train": train}


def training_weights(
    weight: np.ndarray, label: np.ndarray, *, policy: str, balance: bool
) -> np.ndarray:
    """Non-negative training weights from signed physics weights.

    ``policy``: ``abs`` (use |w|), ``drop``/``zero`` (negative weights become 0; rows with
    weight 0 do not contribute to the loss). With ``balance`` the signal and background sums
    are made equal; in all cases the weights are scaled to a mean of 1 so that
    ``min_child_weight`` keeps its usual meaning.
    """
    w = np.asarray(weight, dtype=np.float64)
    if policy == "abs":
        w = np.abs(w)
    elif policy in ("drop", "zero"):
        w = np.where(w < 0, 0.0, w)
    else:
        msg = f"unknown negative-weight policy '{policy}' (allowed: abs, drop, zero)"
        raise ValueError(msg)
    sig, bkg = label == 1, label == 0
    sum_sig, sum_bkg = w[sig].sum(), w[bkg].sum()
    if not (sum_sig > 0 and sum_bkg > 0):
        msg = (
            f"training weights sum to {sum_sig:g} (signal) and {sum_bkg:g} (background); "
            "both must be positive"
        )
        raise DataError(msg)
    if balance:
        w = np.where(sig, w / sum_sig, w / sum_bkg)
    return w * (np.count_nonzero(w) / w.sum())


@dataclass
class FoldModel:
    """A trained fold model with everything needed to trust and reuse it."""

    booster: xgb.Booster
    roles: dict[str, Any]
    learning_curve: dict[str, dict[str, list[float]]]
    best_iteration: int
    scores: dict[str, np.ndarray]
    metadata: dict[str, Any]


def xgboost_params(config: Config, k: int, threads: int) -> dict[str, Any]:
    """Booster parameters for fold ``k`` (seed derived from the config's seed)."""
    params = dict(config.xgboost)
    params.pop("n_estimators", None)
    params.update(
        objective="binary:logistic",
        eval_metric=["auc", "logloss"],  # the last one drives early stopping
        tree_method="hist",
        nthread=int(threads),
        seed=int(config.seed) * 100 + k,
    )
    return params


def train_fold(config: Config, data: Dataset, k: int, *, threads: int = 1) -> FoldModel:
    """Train model ``k`` on ``data`` and score its train, validation and test events."""
    roles = fold_roles(k, config.folds)
    is_test = data.fold == roles["test"]
    is_val = data.fold == roles["validation"]
    is_train = ~(is_test | is_val)
    for role, mask in (("training", is_train), ("validation", is_val), ("test", is_test)):
        n_sig = int(np.count_nonzero(data.label[mask] == 1))
        n_bkg = int(np.count_nonzero(data.label[mask] == 0))
        if n_sig == 0 or n_bkg == 0:
            msg = (
                f"model {k}: the {role} set has {n_sig} signal and {n_bkg} background events; "
                "each needs both. Use fewer folds or more events."
            )
            raise DataError(msg)
    weights = {
        name: training_weights(
            data.weight[m],
            data.label[m],
            policy=config.negative_weights,
            balance=config.balance_classes,
        )
        for name, m in (("train", is_train), ("validation", is_val))
    }
    dtrain = xgb.QuantileDMatrix(
        data.X[is_train],
        label=data.label[is_train],
        weight=weights["train"],
        feature_names=data.features,
        max_bin=config.xgboost.get("max_bin", 256),
        nthread=threads,
    )
    dval = xgb.DMatrix(
        data.X[is_val],
        label=data.label[is_val],
        weight=weights["validation"],
        feature_names=data.features,
        nthread=threads,
    )
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        xgboost_params(config, k, threads),
        dtrain,
        num_boost_round=int(config.xgboost.get("n_estimators", 400)),
        evals=[(dtrain, "train"), (dval, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        evals_result=history,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    booster = booster[: best + 1]  # keep exactly the model that early stopping chose
    log.info("model %d: best iteration %d of %d", k, best, len(history["train"]["logloss"]))
    scores = _score_sets(
        booster, data, {"train": is_train, "validation": is_val, "test": is_test}, k
    )
    meta = {
        "model_fold": k,
        "folds": config.folds,
        "roles": roles,
        "best_iteration": best,
        "features": data.features,
        "event_number": list(config.event_number),
        "fold_seed": config.seed,
        "config_hash": config.training_hash(),
        "objective": "binary:logistic",
        "xgboost_version": xgb.__version__,
        "parameters": {
            k_: v for k_, v in xgboost_params(config, k, threads).items() if k_ != "nthread"
        },
        "events": {
            "train": int(is_train.sum()),
            "validation": int(is_val.sum()),
            "test": int(is_test.sum()),
        },
    }
    return FoldModel(booster, roles, history, best, scores, meta)


def _score_sets(
    booster: xgb.Booster, data: Dataset, masks: dict[str, np.ndarray], k: int
) -> dict[str, np.ndarray]:
    """Scores of every event of every role, with its signed physics weight."""
    order = ("train", "validation", "test")
    idx = np.concatenate([np.flatnonzero(masks[s]) for s in order])
    role = np.concatenate([np.full(int(masks[s].sum()), s) for s in order])
    score = booster.inplace_predict(data.X[idx], validate_features=False)
    return {
        "score": np.asarray(score, dtype=np.float64),
        "label": data.label[idx],
        "weight": data.weight[idx],
        "fold": data.fold[idx],
        "model_fold": np.full(len(idx), k, dtype=np.int8),
        "set": role,
        "sample": data.sample[idx],
        "process": data.process[idx],
        "event": data.event[idx],
        "file": data.file[idx],
        "entry": data.entry[idx],
    }


def write_fold(model: FoldModel, output_dir: str | Path) -> list[Path]:
    """Write model.json, metadata.json, learning_curve.csv and scores.parquet for one fold."""
    out = Path(output_dir)
    paths = [
        out / "model.json",
        out / "metadata.json",
        out / "learning_curve.csv",
        out / "scores.parquet",
    ]
    with atomic_path(paths[0]) as tmp:
        tmp.write_bytes(model.booster.save_raw(raw_format="json"))
    write_json(paths[1], model.metadata)
    curve = model.learning_curve
    rows = [
        {
            "iteration": i,
            **{
                f"{s}_{m}": curve[s][m][i]
                for s in ("train", "validation")
                for m in ("logloss", "auc")
            },
        }
        for i in range(len(curve["train"]["logloss"]))
    ]
    write_table(rows, paths[2])
    with atomic_path(paths[3]) as tmp:
        pq.write_table(pa.table(model.scores), tmp, compression="zstd")
    return paths
