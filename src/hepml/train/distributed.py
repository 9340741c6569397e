"""Train a fold model on a Dask cluster: XGBoost's Dask interface over lazily read tables.

``training.engine: dask`` trains the same model k as :func:`hepml.train.bdt.train_fold` (test fold
k, early stopping on fold (k+1) mod K, training on the rest, the same weights and booster
parameters) when the ingest tables do not fit in one machine's memory. The tables are read
with dask-awkward, one partition per Parquet row group, into Dask arrays that stay on the
workers (:mod:`hepml.train.dask_events`); the training process only ever holds a few sums per
sample and the scores of a few partitions at a time:

1. a first pass sums the policy weights (abs, drop, zero) per set, sample and class, which
   gives the class (and background-process) balancing of :func:`hepml.train.weights.group_factors`
   and checks that every set has both classes;
2. ``xgboost.dask.DaskQuantileDMatrix`` bins the training set on the workers, the validation
   set with the training cuts, and ``xgboost.dask.train`` early-stops on the validation
   weighted log-loss;
3. ``xgboost.dask.inplace_predict`` scores every event, and the scores are written partition
   by partition, in the order of :func:`hepml.train.bdt.score_table`, with its schema.

The cluster (:mod:`hepml.train.dask_cluster`) is a running scheduler given by address or a
``LocalCluster``. Not deterministic bit for bit: how the partitions are spread over the
workers decides the quantile cuts and the order of the floating-point sums of XGBoost's
histograms, and the Dask scheduler may spread them differently from run to run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepml.atomic import atomic_path
from hepml.config import Config
from hepml.exceptions import ClusterError
from hepml.folds import SETS, check_set_classes, fold_roles, set_masks
from hepml.tables.features import Dataset
from hepml.train.bdt import (
    FoldModel,
    fold_metadata,
    n_rounds,
    score_table,
    write_model,
    xgboost_params,
)
from hepml.train.curves import EarlyStopping, best_round
from hepml.train.dask_cluster import dask_client, n_workers, require_dask
from hepml.train.dask_events import Events, persist_events, read_events
from hepml.train.weights import apply_policy, group_factors

__all__ = ["SetArrays", "run_fold", "train_fold_dask", "training_sets", "write_scores"]

log = logging.getLogger(__name__)


def _set_codes(fold: np.ndarray, roles: Mapping[str, Any]) -> np.ndarray:
    """Each event's set as its index in ``SETS`` (0 train, 1 validation, 2 test)."""
    codes = np.zeros(len(fold), dtype=np.int8)
    for i, mask in enumerate(set_masks(fold, roles).values()):
        codes[mask] = i
    return codes


def _scaled(weight: np.ndarray, sample: np.ndarray, label: np.ndarray, factors: np.ndarray):
    """Policy weights times the factor of their (sample, label) group."""
    return weight * factors[sample, label]


@dataclasses.dataclass(frozen=True)
class SetArrays:
    """The lazy arrays of one set of model k: features, labels, training weights, folds."""

    X: Any
    label: Any
    weight: Any
    fold: Any  # not given to XGBoost: for checks


def training_sets(
    config: Config, events: Events, k: int
) -> tuple[dict[str, SetArrays], dict[str, int]]:
    """Model ``k``'s train and validation sets, weighted as :func:`hepml.train.bdt.model_weights`
    (one balancing over both sets), and the number of events of each set (test included).

    Computes the weight sums per set, sample and class on the cluster (a pass over the
    weight, label and fold columns). Raises :class:`DataError` if a set lacks a class.
    """
    import dask
    import dask.array as da

    roles = fold_roles(k, config.training.folds)
    codes = events.fold.map_blocks(_set_codes, roles, dtype=np.int8)
    policy = da.map_blocks(
        apply_policy,
        events.weight,
        events.label,
        config.training.negative_weights,
        dtype=np.float64,
    )
    n_samples = len(events.samples)
    key = (codes.astype(np.int64) * n_samples + events.sample) * 2 + events.label
    size = len(SETS) * n_samples * 2
    counts, nonzero, sums = (
        a.reshape(len(SETS), n_samples, 2)
        for a in dask.compute(
            da.bincount(key, minlength=size),
            da.bincount(key, weights=(policy != 0).astype(np.float64), minlength=size),
            da.bincount(key, weights=policy, minlength=size),
        )
    )
    check_set_classes(
        k, {s: (int(counts[i, :, 1].sum()), int(counts[i, :, 0].sum())) for i, s in enumerate(SETS)}
    )
    label = np.broadcast_to(np.array([0, 1]), (n_samples, 2))
    process = np.broadcast_to(np.array(events.processes)[:, None], (n_samples, 2))
    # one set of factors for the training and validation events together, as model_weights
    used = {name: values[:2].sum(axis=0) for name, values in (("counts", counts), ("sums", sums))}
    groups = used["counts"] > 0
    factors = np.zeros((n_samples, 2))
    factors[groups] = group_factors(
        used["sums"][groups],
        label[groups],
        int(nonzero[:2].sum()),
        balance=config.training.balance_classes,
        process=process[groups] if config.training.balance_backgrounds else None,
    )
    weight = da.map_blocks(_scaled, policy, events.sample, events.label, factors, dtype=float)
    sets = {}
    for i, s in enumerate(SETS[:2]):
        mask = codes == i
        sets[s] = SetArrays(events.X[mask], events.label[mask], weight[mask], events.fold[mask])
    return sets, {s: int(counts[i].sum()) for i, s in enumerate(SETS)}


def train_fold_dask(
    config: Config,
    events: Events,
    k: int,
    *,
    client: Any,
    params: Mapping[str, Any] | None = None,
) -> FoldModel:
    """Train model ``k`` on the cluster of ``client``; the scores are left to :func:`write_scores`.

    ``params`` override the config's XGBoost parameters (the tuned ones of this fold). Each
    worker trains with its own number of threads. A worker lost during training (killed,
    out of memory, its node gone) makes the others' next collective step fail after
    ``training.dask.collective_timeout`` seconds; the training then starts again on the
    workers left (Dask recomputes the partitions the lost worker held), at most
    ``training.dask.retries`` times, else :class:`ClusterError` says what happened. The
    returned model's ``scores`` is empty.
    """
    attempt = 0
    while True:
        attempt += 1
        before = set(_worker_addresses(client))
        try:
            model = _train_once(config, events, k, client=client, params=params)
        except Exception as err:  # a lost worker surfaces as many error types
            _retry_or_raise(
                config,
                k,
                err,
                sorted(before - set(_worker_addresses(client))),
                len(_worker_addresses(client)),
                attempt,
            )
            continue
        model.metadata["dask"]["attempts"] = attempt
        return model


def _retry_or_raise(
    config: Config, k: int, err: Exception, lost: list[str], left: int, attempt: int
) -> None:
    """Return if model ``k`` may train again after losing the workers ``lost``; raise
    ``err`` itself when no worker was lost, :class:`ClusterError` when out of retries."""
    if not lost:
        raise err
    brief = _brief(err)
    if attempt > config.training.dask.retries or left == 0:
        msg = (
            f"training.dask: Dask worker(s) {', '.join(lost)} were lost while model {k} "
            f"trained ({brief}); {left} worker(s) left after {attempt} attempt(s). Nothing "
            "was written: rerun the job (snakemake --retries N reruns failed jobs) or raise "
            "training.dask.retries"
        )
        raise ClusterError(msg) from err
    log.warning(
        "model %d: Dask worker(s) %s lost during training (%s); training again on the %d "
        "worker(s) left",
        k,
        ", ".join(lost),
        brief,
        left,
    )


def _brief(err: Exception) -> str:
    """An error's message on one line, without XGBoost's source locations and stack trace."""
    text = str(err).split("Stack trace:")[0]
    text = re.sub(r"\[[^\]]*\]:?|\S+\.(?:cc|h|cu):\d+:?", " ", text)
    text = " ".join(text.replace(" - ", " ").split()).strip(" -:")
    return text[:200] or type(err).__name__


def _worker_addresses(client: Any) -> list[str]:
    return list(client.scheduler_info()["workers"])


def _train_once(
    config: Config,
    events: Events,
    k: int,
    *,
    client: Any,
    params: Mapping[str, Any] | None,
) -> FoldModel:
    """One attempt of :func:`train_fold_dask`."""
    from xgboost import dask as dxgb
    from xgboost.collective import Config as CollectiveConfig

    sets, n_events = training_sets(config, events, k)
    booster_params = xgboost_params(config, k, 1, params)
    booster_params.pop("nthread")  # each worker uses its own threads
    train, validation = (
        client.persist([sets[s].X, sets[s].label, sets[s].weight]) for s in ("train", "validation")
    )
    max_bin = int(booster_params.get("max_bin", 256))
    names = events.features
    dtrain = dxgb.DaskQuantileDMatrix(
        client, train[0], train[1], weight=train[2], max_bin=max_bin, feature_names=names
    )
    # binned with the training cuts, as the local engine does
    dval = dxgb.DaskQuantileDMatrix(
        client,
        validation[0],
        validation[1],
        weight=validation[2],
        max_bin=max_bin,
        ref=dtrain,
        feature_names=names,
    )
    stopping = EarlyStopping(
        config.training.early_stopping_rounds, min_rounds=config.training.min_rounds
    )
    result = dxgb.train(
        client,
        booster_params,
        dtrain,
        num_boost_round=n_rounds(config, params),
        evals=[(dtrain, "train"), (dval, "validation")],
        callbacks=[stopping],  # runs on every worker, on the same (allreduced) losses
        verbose_eval=False,
        coll_cfg=CollectiveConfig(timeout=config.training.dask.collective_timeout),
    )
    del dtrain, dval, train, validation  # the binned sets and their inputs leave the workers
    history = {
        s: {m: [float(v) for v in values] for m, values in curves.items()}
        for s, curves in result["history"].items()
    }
    best = best_round(history["validation"]["logloss"], config.training.min_rounds)
    log.info("model %d: best iteration %d of %d", k, best, len(history["train"]["logloss"]))
    booster = result["booster"][: best + 1]
    if booster_params.get("device") == "cuda":
        booster.set_param({"device": "cpu"})  # scored on the workers' CPUs
    meta = fold_metadata(config, k, best, booster_params, params, n_events, engine="dask")
    meta["dask"] = {
        "workers": n_workers(client),
        "partitions": int(events.weight.numblocks[0]),
    }
    return FoldModel(booster, fold_roles(k, config.training.folds), history, best, {}, meta)


def write_scores(
    model: FoldModel, events: Events, path: str | Path, *, client: Any, window: int = 0
) -> Path:
    """Score every event with ``model`` on the cluster and write the score table (zstd).

    The table is :func:`hepml.train.bdt.score_table`'s, row for row and column for column, written
    atomically one row group per partition; ``window`` partitions (default: two per worker)
    are gathered at a time, so the writing process never holds all the scores.
    """
    import dask
    from xgboost import dask as dxgb

    score = dxgb.inplace_predict(client, model.booster, events.X, validate_features=False)
    columns = [score, events.label, events.weight, events.fold, events.sample]
    columns += [events.event, events.file, events.entry]
    blocks = [
        dask.delayed(_score_block)(*parts, events.samples, events.processes, model.roles)
        # not optimised: dask 2025.3 would hand a persisted chunk over as its key, not its data
        for parts in zip(
            *(c.to_delayed(optimize_graph=False).ravel() for c in columns), strict=True
        )
    ]
    window = window or 2 * max(n_workers(client), 1)
    with atomic_path(path) as tmp:
        writer = None
        try:
            for start in range(0, len(blocks), window):
                for table in client.gather(client.compute(blocks[start : start + window])):
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                    writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
    return Path(path)


def _score_block(score, label, weight, fold, sample, event, file, entry, samples, processes, roles):
    """The score table of one partition (runs on a worker)."""
    n = len(weight)
    data = Dataset(
        [],
        np.empty((n, 0), dtype=np.float32),
        weight,
        label,
        fold,
        np.asarray(samples)[sample],
        np.asarray(processes)[sample],
        event,
        file,
        entry,
    )
    table = score_table(score, data, set_masks(fold, roles), roles["test"])
    return pa.table(dict(table))


def run_fold(
    config: Config,
    tables: Mapping[str, str | Path],
    k: int,
    output_dir: str | Path,
    *,
    threads: int = 1,
    params: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Train model ``k`` with ``training.engine: dask`` and write its four files.

    The same files as :func:`hepml.train.bdt.write_fold`: model.json, metadata.json (with
    ``"engine": "dask"``), learning_curve.csv, scores.parquet. ``threads`` are the training
    job's, shared among the workers of a LocalCluster.
    """
    require_dask()
    processes = {name: config.samples[name].process for name in tables if name in config.samples}
    events = read_events(tables, config.feature_names, processes)
    out = Path(output_dir)
    with dask_client(config.training.dask, threads) as client:
        events = persist_events(events, client)
        model = train_fold_dask(config, events, k, client=client, params=params)
        paths = write_model(model, out)
        paths.append(write_scores(model, events, out / "scores.parquet", client=client))
    return paths
