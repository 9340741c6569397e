"""Train: one XGBoost BDT per fold of a K-fold cross-validation folded on the event number.

Model k never sees fold k (its *test* fold): it early-stops on fold (k+1) mod K (its
*validation* fold) and trains on the other K-2 folds. Every event therefore gets exactly one
out-of-fold score, from the model that neither trained nor stopped on it, and the merged
out-of-fold scores are an unbiased estimate of performance on independent data.

The objective is the binary cross-entropy (``binary:logistic``). Training weights are the
physics weights with the configured negative-weight policy applied (XGBoost rejects negative
weights; see :mod:`hepml.train.weights`) and, optionally, the classes and the background processes
balanced; the validation set is weighted the same way, so the early-stopping metric (weighted
log-loss) matches the training loss. Scores handed to evaluation always carry the signed
physics weights. The fold bookkeeping here (roles, masks, score tables) is shared with the
baseline classifiers of :mod:`hepml.train.baselines`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xgboost as xgb

from hepml.atomic import atomic_path, write_json
from hepml.config import Config
from hepml.folds import SETS, fold_masks, fold_roles
from hepml.tables.features import Dataset
from hepml.tables.text import write_table
from hepml.train.curves import AucEvery, EarlyStopping, Fit, subsample_rows, weighted_auc
from hepml.train.device import check_device, effective_device
from hepml.train.progress import RoundLog
from hepml.train.weights import training_weights

__all__ = [
    "FoldModel",
    "fit_booster",
    "fold_metadata",
    "fold_weights",
    "model_record",
    "model_weights",
    "score_table",
    "train_fold",
    "training_weights",
    "write_fold",
    "write_model",
    "write_scores",
    "xgboost_params",
]

log = logging.getLogger(__name__)

BATCH_ROWS = 1 << 18  # events per batch handed to XGBoost's QuantileDMatrix


def fold_weights(config: Config, data: Dataset, mask: np.ndarray) -> np.ndarray:
    """Training weights (policy, balancing, mean 1) of the events in ``mask``, computed over
    exactly those events.

    With ``training.multiclass``, ``data.label`` holds class indices and the classes' own
    balance policies apply (:func:`hepml.train.multiclass.class_training_weights`).
    """
    if config.training.multiclass is not None:
        from hepml.train.multiclass import class_training_weights

        return class_training_weights(config, data, mask)
    return training_weights(
        data.weight[mask],
        data.label[mask],
        policy=config.training.negative_weights,
        balance=config.training.balance_classes,
        X=data.X[mask] if config.training.negative_weights == "annihilate" else None,
        process=data.process[mask] if config.training.balance_backgrounds else None,
        balance_backgrounds=config.training.balance_backgrounds,
    )


def model_weights(
    config: Config, data: Dataset, masks: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The weights of model k's training and validation events, computed once over both.

    The negative-weight policy, the class (and process) balancing and the scaling to a mean
    of 1 see the events the fold model may use (training and validation folds together,
    never the test fold), so an event has the same weight in either set and the validation
    loss that stops the training is the training loss on new events. Returns ``{"train":
    ..., "validation": ...}`` in the events' order within each mask.
    """
    used = masks["train"] | masks["validation"]
    weight = fold_weights(config, data, used)
    in_train = masks["train"][used]
    return {"train": weight[in_train], "validation": weight[~in_train]}


def xgboost_params(
    config: Config,
    k: int,
    threads: int,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Booster parameters of model ``k``: the config's, then ``overrides`` (tuned ones).

    The seed derives from the config's seed; constraints given by feature name become
    XGBoost's positional form.
    """
    params = {**config.training.xgboost, **(overrides or {})}
    params.pop("n_estimators", None)
    features = config.feature_names
    if "monotone_constraints" in params:
        signs = params["monotone_constraints"]
        params["monotone_constraints"] = f"({','.join(str(signs.get(f, 0)) for f in features)})"
    if "interaction_constraints" in params:
        groups = params["interaction_constraints"]
        params["interaction_constraints"] = str([[features.index(f) for f in g] for g in groups])
    params.update(
        objective="binary:logistic",
        eval_metric="logloss",  # the validation log-loss drives early stopping
        tree_method="hist",
        nthread=int(threads),
        seed=int(config.seed) * 100 + k,
    )
    return params


def n_rounds(config: Config, overrides: Mapping[str, Any] | None = None) -> int:
    """Maximum number of boosting rounds (``n_estimators``, possibly tuned)."""
    return int({**config.training.xgboost, **(overrides or {})}.get("n_estimators", 400))


def fit_booster(
    config: Config,
    data: Dataset,
    masks: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    *,
    num_boost_round: int,
    threads: int = 1,
    metric: str = "logloss",
    auc: Callable[[np.ndarray, np.ndarray, np.ndarray], float] = weighted_auc,
) -> Fit:
    """Train on ``masks["train"]``, early-stop on ``masks["validation"]``; nothing else is read.

    The learning curve has the weighted log-loss of every round on the validation set (the
    early-stopping metric) and on a fixed subsample of ``training.learning_curve.events``
    training events, and their AUC every ``auc_every`` rounds (see :class:`Fit` for the AUC
    at the best round). ``metric`` is XGBoost's loss metric (``mlogloss`` for multiclass
    models; the curve calls it ``logloss`` either way) and ``auc(score, label, weight)`` the
    AUC of the curve. Raises :class:`ConfigError` for ``device: cuda`` without a usable GPU
    (XGBoost would quietly train on the CPU).
    """
    check_device(params.get("device", "cpu"))
    max_bin = int(params.get("max_bin", 256))
    weights = model_weights(config, data, masks)
    rows = {s: np.flatnonzero(masks[s]) for s in ("train", "validation")}
    dtrain = _matrix(data, rows["train"], weights["train"], max_bin, threads)
    # binned with the training cuts: a fraction of the memory of a plain DMatrix
    dval = _matrix(data, rows["validation"], weights["validation"], max_bin, threads, ref=dtrain)
    curve = config.training.learning_curve
    pick = subsample_rows(len(rows["train"]), curve.events, int(params.get("seed", 0)))
    sets = {
        "train": (rows["train"][pick], data.label[rows["train"][pick]], weights["train"][pick]),
        "validation": (rows["validation"], data.label[rows["validation"]], weights["validation"]),
    }
    del weights, rows, pick
    dsample = _matrix(data, sets["train"][0], sets["train"][2], max_bin, threads, ref=dtrain)
    matrices = {"train": dsample, "validation": dval}
    every = AucEvery({s: (matrices[s], *sets[s][1:]) for s in sets}, curve.auc_every, auc=auc)
    stopping = EarlyStopping(
        config.training.early_stopping_rounds, min_rounds=config.training.min_rounds, metric=metric
    )
    history: dict[str, Any] = {}
    rounds = RoundLog(num_boost_round, stopping.patience, min_rounds=stopping.min_rounds)
    booster = xgb.train(
        {**params, "eval_metric": metric},
        dtrain,
        num_boost_round=num_boost_round,
        evals=[(dsample, "train"), (dval, "validation")],
        evals_result=history,
        callbacks=[every, stopping, rounds],
        verbose_eval=False,
    )
    n = len(history["validation"][metric])
    curves = {
        s: {
            "logloss": [float(v) for v in history[s][metric]],
            "auc": [every.values[s].get(i) for i in range(n)],
        }
        for s in sets
    }
    # exactly the model early stopping chose
    return Fit(booster[: stopping.best + 1], curves, stopping.best, sets, auc)


def _matrix(
    data: Dataset,
    rows: np.ndarray,
    weight: np.ndarray,
    max_bin: int,
    threads: int,
    ref: xgb.QuantileDMatrix | None = None,
) -> xgb.QuantileDMatrix:
    """The binned matrix of the events ``rows`` of ``data`` with their training weights."""
    batches = _RowBatches(data, rows, weight)
    return xgb.QuantileDMatrix(batches, max_bin=max_bin, ref=ref, nthread=threads)


class _RowBatches(xgb.DataIter):
    """Hands XGBoost the events ``rows`` of ``data`` in batches of ``BATCH_ROWS``.

    A ``QuantileDMatrix`` built from ``X[mask]`` would first copy the training folds whole,
    and XGBoost's quantile sketch needs memory in proportion to the batch it is given; in
    batches, the peak memory of building the matrix stays a fraction of the feature matrix.
    The batches keep the rows in their original order (bench/bench_train.py checks that the
    model is byte-identical to one trained on ``X[mask]``).
    """

    def __init__(self, data: Dataset, rows: np.ndarray, weight: np.ndarray) -> None:
        self._data, self._rows, self._weight = data, rows, weight
        self._start = 0
        super().__init__()

    def next(self, input_data: Any) -> bool:
        if self._start >= len(self._rows):
            return False
        stop = self._start + BATCH_ROWS
        rows = self._rows[self._start : stop]
        input_data(
            data=self._data.X[rows],
            label=self._data.label[rows],
            weight=self._weight[self._start : stop],
            feature_names=self._data.features,
        )
        self._start = stop
        return True

    def reset(self) -> None:
        self._start = 0


@dataclass
class FoldModel:
    """A trained fold model with everything needed to trust and reuse it."""

    booster: xgb.Booster
    roles: dict[str, Any]
    learning_curve: dict[str, dict[str, list[float]]]
    best_iteration: int
    scores: dict[str, np.ndarray]
    metadata: dict[str, Any]


def train_fold(
    config: Config,
    data: Dataset,
    k: int,
    *,
    threads: int = 1,
    params: Mapping[str, Any] | None = None,
) -> FoldModel:
    """Train model ``k`` on ``data`` and score its train, validation and test events.

    ``params`` override the config's XGBoost parameters (the tuned ones of this fold).
    """
    roles = fold_roles(k, config.training.folds)
    masks = fold_masks(data, k, config.training.folds)
    booster_params = xgboost_params(config, k, threads, params)
    fit = fit_booster(
        config,
        data,
        masks,
        booster_params,
        num_boost_round=n_rounds(config, params),
        threads=threads,
    )
    booster, best = fit.booster, fit.best
    log.info("model %d: best iteration %d of %d", k, best, len(fit.history["train"]["logloss"]))
    device = effective_device(booster)
    if device != "cpu":
        booster.set_param({"device": "cpu"})  # the events are in host memory: score there
    score = booster.inplace_predict(data.X, validate_features=False)
    fit.finish(score)
    scores = score_table(score, data, masks, k)
    events = {s: int(masks[s].sum()) for s in SETS}
    meta = fold_metadata(config, k, best, booster_params, params, events) | {"device": device}
    return FoldModel(booster, roles, fit.history, best, scores, meta)


def fold_metadata(
    config: Config,
    k: int,
    best: int,
    booster_params: Mapping[str, Any],
    tuned: Mapping[str, Any] | None,
    events: Mapping[str, int],
    *,
    engine: str = "local",
) -> dict[str, Any]:
    """The ``metadata.json`` of model ``k``: roles, features, parameters, weights, events.

    ``events`` holds the number of events of each set; ``engine`` says where it trained.
    """
    return {
        "model_fold": k,
        "folds": config.training.folds,
        "roles": fold_roles(k, config.training.folds),
        "best_iteration": best,
        "features": config.feature_names,
        "event_number": list(config.event_number),
        "fold_seed": config.seed,
        "config_hash": config.training_hash(),
        "objective": "binary:logistic",
        "xgboost_version": xgb.__version__,
        "parameters": {p: v for p, v in booster_params.items() if p != "nthread"},
        "n_estimators": n_rounds(config, tuned),
        "tuned_parameters": dict(tuned or {}),
        "training_weights": {
            "negative_weights": config.training.negative_weights,
            "balance_classes": config.training.balance_classes,
            "balance_backgrounds": config.training.balance_backgrounds,
            "computed_over": "train+validation",
            "mean": 1.0,
        },
        "early_stopping": {
            "metric": "validation logloss",
            "rounds": config.training.early_stopping_rounds,
            "min_rounds": config.training.min_rounds,
        },
        "events": {s: int(events[s]) for s in SETS},
        "engine": engine,
    }


def score_table(
    score: np.ndarray, data: Dataset, masks: Mapping[str, np.ndarray], k: int
) -> dict[str, np.ndarray]:
    """The score table of model ``k``: every event with its set and signed weight.

    ``score`` holds the model's score of every event of ``data``; rows keep the order of
    ``data`` and every column but ``score``, ``set`` and ``model_fold`` is the data set's own
    array (no copy).
    """
    role = np.empty(len(data), dtype=object)
    for s in SETS:
        role[masks[s]] = s  # three shared str objects, 8 bytes per event
    return {
        "score": np.asarray(score, dtype=np.float64),
        "label": data.label,
        "weight": data.weight,
        "fold": data.fold,
        "model_fold": np.full(len(data), k, dtype=np.int8),
        "set": role,
        "sample": data.sample,
        "process": data.process,
        "event": data.event,
        "file": data.file,
        "entry": data.entry,
    }


def write_scores(scores: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """Write a score table as Parquet (zstd), atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(dict(scores)), tmp, compression="zstd")
    return Path(path)


def write_fold(model: FoldModel, output_dir: str | Path) -> list[Path]:
    """Write model.json, metadata.json, learning_curve.csv and scores.parquet for one fold."""
    out = Path(output_dir)
    return [*write_model(model, out), write_scores(model.scores, out / "scores.parquet")]


def model_record(metadata: Mapping[str, Any], name: str, raw: bytes) -> dict[str, Any]:
    """``metadata`` plus the model file's name and SHA-256, by which every command that loads
    the model verifies it is this fold's, unedited (:func:`hepml.models.verify_models`)."""
    return {**metadata, "model_file": name, "model_sha256": hashlib.sha256(raw).hexdigest()}


def write_model(model: FoldModel, output_dir: str | Path) -> list[Path]:
    """Write model.json, metadata.json and learning_curve.csv of one fold (not its scores)."""
    out = Path(output_dir)
    paths = [out / "model.json", out / "metadata.json", out / "learning_curve.csv"]
    raw = bytes(model.booster.save_raw(raw_format="json"))
    with atomic_path(paths[0]) as tmp:
        tmp.write_bytes(raw)
    write_json(paths[1], model_record(model.metadata, paths[0].name, raw))
    curve = model.learning_curve
    n = len(curve["validation"]["logloss"])
    columns = {
        f"{s}_{m}": curve[s].get(m) or [None] * n
        for s in ("train", "validation")
        for m in ("logloss", "auc")
    }
    rows = [{"iteration": i, **{c: v[i] for c, v in columns.items()}} for i in range(n)]
    write_table(rows, paths[2])
    return paths
