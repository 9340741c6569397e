"""The K fold models of an analysis: loaded, checked against the config, and applied.

The one model loader: :func:`read_training_models` reads each ``model.json`` with the
``metadata.json`` beside it and verifies its SHA-256; :func:`check_models` checks them against
a config (apply, export); :func:`load_fold_models` checks them against each other (importance,
data/MC, which read their features from the models).

Model k is the one that tested on fold k: it never trained or early-stopped on the events of
fold k, so those events, and only those, are scored by it (``fold`` mode). Events that were
never used in training (collision data) may instead get the mean of all K models (``mean``).

Before any model scores anything it is verified and checked against the config: its bytes
against the SHA-256 training recorded (an edited model, or one swapped with another fold's,
is refused), its features (names and order), the training config hash it was written under,
and one model per fold. A mismatch raises :class:`~hepml.exceptions.FoldMismatch` naming the
model file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from hepml.config import Config
from hepml.exceptions import DataError, FoldMismatch, did_you_mean
from hepml.score_outputs import ScoreOutputs

__all__ = [
    "MODES",
    "FoldModels",
    "check_models",
    "load_fold_models",
    "load_fold_outputs",
    "predict",
    "predict_outputs",
    "read_training_models",
    "verify_models",
]

MODES = ("fold", "mean")


@dataclass(frozen=True)
class FoldModels:
    """The K fold models, model k at index k (it tests on fold k), checked against a config."""

    boosters: tuple[xgb.Booster, ...]
    features: tuple[str, ...]
    config_hash: str
    paths: tuple[str, ...]
    # what each model's prediction becomes (hepml.score_outputs); () for plain binary models
    outputs: tuple[ScoreOutputs, ...] = ()

    @property
    def folds(self) -> int:
        return len(self.boosters)

    @property
    def suffixes(self) -> list[str]:
        """The suffix of every output column, the score's (``""``) first."""
        return self.outputs[0].suffixes() if self.outputs else [""]


def read_training_models(paths: Sequence[str | Path]) -> list[tuple[str, xgb.Booster, dict]]:
    """Load each ``model.json`` with the ``metadata.json`` that training wrote beside it.

    Each model is verified first (:func:`verify_models`): its bytes must have the SHA-256
    that training recorded for it, so a model edited, or swapped with another fold's, never
    scores an event. The booster is loaded from the verified bytes.
    """
    read = [(Path(p), *_read_files(Path(p))) for p in paths]
    verify_models([(path, raw, meta) for path, raw, meta in read])
    return [(str(path), _load_booster(path, raw), meta) for path, raw, meta in read]


def _read_files(path: Path) -> tuple[bytes, dict]:
    """The bytes of ``path`` and the metadata.json beside it."""
    meta_path = path.with_name("metadata.json")
    for p in (path, meta_path):
        if not p.is_file():
            msg = f"model file '{p}' does not exist; run the train rule first"
            raise FoldMismatch(msg)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"'{meta_path}' is not valid JSON ({err}); rerun the train rule"
        raise FoldMismatch(msg) from err
    if not isinstance(meta, dict):
        msg = f"'{meta_path}' is not a model's metadata (a JSON object); rerun the train rule"
        raise FoldMismatch(msg)
    return path.read_bytes(), meta


def verify_models(models: Sequence[tuple[str | Path, bytes, dict]]) -> None:
    """Check that each (path, bytes, metadata) model is the one its metadata describes.

    Training records ``model_sha256`` and ``model_fold`` in every model's metadata. A model
    whose bytes have another hash raises :class:`FoldMismatch` naming the file, the fold and
    hash expected and the hash found, and the fold it belongs to when it is another given
    model (two fold models swapped: each would score the events it trained on).
    """
    recorded = {m.get("model_sha256"): m.get("model_fold") for _, _, m in models}
    for path, raw, meta in models:
        expected = meta.get("model_sha256")
        if not isinstance(expected, str):
            msg = (
                f"the metadata.json of model '{path}' records no model_sha256 (written by an "
                "older hepml, or edited), so the model cannot be verified: rerun the train rule"
            )
            raise FoldMismatch(msg)
        found = hashlib.sha256(raw).hexdigest()
        if found == expected:
            continue
        other = recorded.get(found)
        what = (
            f"which is the model of fold {other}: fold models were swapped"
            if other is not None
            else "so it was edited, truncated or replaced"
        )
        msg = (
            f"model '{path}' is not the model of fold {meta.get('model_fold')} that its "
            f"metadata.json describes: expected sha256 {expected[:16]}..., found "
            f"{found[:16]}..., {what}. Restore it or rerun the train rule."
        )
        raise FoldMismatch(msg)


def _load_booster(path: str | Path, raw: bytes | None = None) -> xgb.Booster:
    try:
        return xgb.Booster(model_file=bytearray(raw) if raw is not None else str(path))
    except xgb.core.XGBoostError as err:
        msg = f"'{path}' is not a readable XGBoost model ({str(err).splitlines()[0]})"
        raise FoldMismatch(msg) from err


def check_models(
    config: Config, models: list[tuple[str, xgb.Booster, dict]], *, threads: int = 1
) -> FoldModels:
    """Check that ``models`` (path, booster, metadata) are the K models of this config.

    Raises :class:`FoldMismatch` naming the model file when its features (names or order)
    differ from the config's, when it was trained under another configuration (hash), or
    when the models do not cover the folds 0..K-1 exactly once.
    """
    expected = config.feature_names
    by_fold: dict[int, tuple[str, xgb.Booster]] = {}
    outputs: dict[int, ScoreOutputs] = {}
    for path, booster, meta in models:
        _check_features(path, list(meta.get("features", [])), expected)
        if booster.feature_names is not None:
            _check_features(path, list(booster.feature_names), expected)
        if meta.get("config_hash") != config.training_hash():
            msg = (
                f"model '{path}' was trained under config hash {meta.get('config_hash')!r}, but "
                f"the config gives {config.training_hash()!r}: MC samples, features, selection, "
                "event_number, training, seed or luminosity changed since. Retrain (rerun "
                "snakemake), or pass the config the model was trained with."
            )
            raise FoldMismatch(msg)
        fold = int(meta["model_fold"])
        if fold in by_fold:
            msg = f"models '{by_fold[fold][0]}' and '{path}' are both the model of fold {fold}"
            raise FoldMismatch(msg)
        by_fold[fold] = (path, booster)
        outputs[fold] = ScoreOutputs.from_record(meta.get("outputs"))
    folds = config.training.folds
    if sorted(by_fold) != list(range(folds)):
        msg = (
            f"expected the models of folds 0..{folds - 1} (the config has {folds} folds), "
            f"got folds {sorted(by_fold)} from {len(models)} file(s)"
        )
        raise FoldMismatch(msg)
    boosters = tuple(by_fold[k][1] for k in range(config.training.folds))
    for booster in boosters:
        booster.set_param({"nthread": int(threads)})
    return FoldModels(
        boosters,
        tuple(expected),
        config.training_hash(),
        tuple(by_fold[k][0] for k in range(config.training.folds)),
        _common_outputs([outputs[k] for k in range(folds)], [by_fold[k][0] for k in range(folds)]),
    )


def _common_outputs(outputs: list[ScoreOutputs], paths: list[str]) -> tuple[ScoreOutputs, ...]:
    """The models' outputs (``()`` when all are plain binary), which must be the same columns."""
    if all(o.plain for o in outputs):
        return ()
    for path, o in zip(paths, outputs, strict=True):
        if o.suffixes() != outputs[0].suffixes():
            msg = (
                f"model '{path}' has the outputs {o.suffixes()}, model '{paths[0]}' "
                f"{outputs[0].suffixes()}: the fold models were not trained together"
            )
            raise FoldMismatch(msg)
    return tuple(outputs)


def _check_features(path: str, model: list[str], config: list[str]) -> None:
    if model == config:
        return
    missing = [f for f in config if f not in model]
    extra = [f for f in model if f not in config]
    if missing:
        hint = did_you_mean(missing[0], extra or model)
        what = f"the config's feature '{missing[0]}' is not among its features.{hint}"
    elif extra:
        what = f"its feature '{extra[0]}' is not in the config."
    else:
        i = next(i for i, (a, b) in enumerate(zip(model, config, strict=True)) if a != b)
        what = (
            f"the feature order differs: position {i} is '{model[i]}' in the model but "
            f"'{config[i]}' in the config."
        )
    msg = (
        f"model '{path}' does not fit the config: {what} Model features: {', '.join(model)}; "
        f"config features: {', '.join(config)}."
    )
    raise FoldMismatch(msg)


def predict(models: FoldModels, X: np.ndarray, fold: np.ndarray, mode: str) -> np.ndarray:
    """The score of each row of ``X`` (float32, features in order), as float64: the
    booster's prediction (of a binary model; :func:`predict_outputs` for all outputs).

    ``fold``: model k scores the rows of fold k. ``mean``: the mean of all K models.
    Rows grouped by fold (as :func:`hepml.apply.scoring.feature_chunks` hands them over) are scored
    in place, block by block; otherwise each fold's rows are gathered first (a copy).
    """
    if mode == "mean":
        total = np.zeros(len(X), dtype=np.float64)
        for booster in models.boosters:
            total += booster.inplace_predict(X, validate_features=False)
        return total / models.folds
    out = np.empty(len(X), dtype=np.float64)
    blocks = _fold_blocks(fold)
    if blocks is not None:
        for k, start, stop in blocks:
            out[start:stop] = models.boosters[k].inplace_predict(
                X[start:stop], validate_features=False
            )
        return out
    for k, booster in enumerate(models.boosters):
        rows = fold == k
        if rows.any():
            out[rows] = booster.inplace_predict(X[rows], validate_features=False)
    return out


def predict_outputs(
    models: FoldModels, X: np.ndarray, fold: np.ndarray, mode: str
) -> dict[str, np.ndarray]:
    """Suffix -> values (float64) of every output of each row of ``X`` (see
    :mod:`hepml.score_outputs`): ``{"": score}`` for plain binary models (:func:`predict`).

    ``fold``: model k's outputs for the rows of fold k. ``mean``: each output's mean over
    the K models.
    """
    if not models.outputs:
        return {"": predict(models, X, fold, mode)}
    out = {s: np.zeros(len(X), dtype=np.float64) for s in models.suffixes}
    if mode == "mean":
        for booster, outputs in zip(models.boosters, models.outputs, strict=True):
            columns = outputs.columns(booster.inplace_predict(X, validate_features=False))
            for suffix, values in columns.items():
                out[suffix] += values / models.folds
        return out
    blocks = _fold_blocks(fold)
    if blocks is None:  # rows not grouped by fold: one mask per model
        blocks = [(k, rows) for k in range(models.folds) if (rows := fold == k).any()]
    else:
        blocks = [(k, slice(start, stop)) for k, start, stop in blocks]
    for k, rows in blocks:
        raw = models.boosters[k].inplace_predict(X[rows], validate_features=False)
        for suffix, values in models.outputs[k].columns(raw).items():
            out[suffix][rows] = values
    return out


def _fold_blocks(fold: np.ndarray) -> list[tuple[int, int, int]] | None:
    """(fold, start, stop) of each run of equal folds, if every fold forms a single run."""
    if len(fold) == 0:
        return []
    edges = np.flatnonzero(fold[1:] != fold[:-1]) + 1
    starts = np.concatenate([[0], edges])
    folds = fold[starts]
    if len(np.unique(folds)) != len(folds):
        return None
    stops = np.concatenate([edges, [len(fold)]])
    return [(int(k), int(a), int(b)) for k, a, b in zip(folds, starts, stops, strict=True)]


def load_fold_models(
    model_paths: Sequence[str | os.PathLike],
) -> tuple[list[xgb.Booster], list[str]]:
    """The boosters of the fold models (model k at index k) and their common feature list,
    read with the metadata.json beside each model.json and verified against the SHA-256
    training recorded (:func:`hepml.models.read_training_models`)."""
    if not model_paths:
        msg = "no fold models given"
        raise DataError(msg)
    models = read_training_models(model_paths)
    for k, (path, _, meta) in enumerate(models):
        if int(meta.get("model_fold", k)) != k:
            msg = f"'{path}' is the model of fold {meta['model_fold']}, given as fold {k}"
            raise FoldMismatch(msg)
    features = list(models[0][2].get("features", []))
    if any(list(meta.get("features", [])) != features for _, _, meta in models):
        msg = "the fold models were trained on different feature lists; retrain them together"
        raise FoldMismatch(msg)
    return [booster for _, booster, _ in models], features


def load_fold_outputs(model_paths: Sequence[str | os.PathLike]) -> list[ScoreOutputs]:
    """What each fold model's prediction becomes (:mod:`hepml.score_outputs`), from the
    ``outputs`` of the metadata.json beside each model (plain binary models: no record)."""
    outputs = []
    for path in model_paths:
        _, meta = _read_files(Path(path))
        outputs.append(ScoreOutputs.from_record(meta.get("outputs")))
    return outputs
