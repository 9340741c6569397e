"""Multiclass training: one ``multi:softprob`` BDT per fold against several background classes.

``training.multiclass`` groups the samples into K classes (e.g. the signal, Drell-Yan and
ttbar); model k of the K-fold scheme (:mod:`hepml.folds`: test fold k, validation fold
(k+1) mod K, the rest for training) learns the K class outputs with XGBoost's softmax
cross-entropy, early-stopping on the weighted validation log-loss (``mlogloss``), exactly as
the binary BDT of :mod:`hepml.train.bdt` does, whose booster fit it shares.

Training weights (:func:`class_training_weights`): the physics weights with the
negative-weight policy (``annihilate`` pairs events within their class), each class's
processes balanced first if it asks for it (``balance_processes``), then each class's sum set
by its ``balance``: ``physics`` keeps its expected yield, ``equal`` gives it the mean sum of
the physics classes (the common sum of all classes when none is ``physics``); mean 1 over the
events with a non-zero weight, as for the binary BDT.

The score table holds the binary columns (``label`` 1 for the signal classes, ``score`` the
discriminant of :mod:`hepml.score_outputs`), so every binary evaluation (ROC, working points,
significance scan, per process) runs on the discriminant unchanged; and the class of each
event (``class``) with the K outputs (``score_p_<class>``) for the multiclass evaluation.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from hepml.config import Config
from hepml.exceptions import DataError
from hepml.folds import SETS, fold_roles, set_masks
from hepml.score_outputs import ScoreOutputs
from hepml.tables.features import Dataset
from hepml.train.bdt import (
    FoldModel,
    fit_booster,
    fold_metadata,
    fold_weights,
    n_rounds,
    score_table,
    xgboost_params,
)
from hepml.train.curves import weighted_auc
from hepml.train.device import effective_device
from hepml.train.weights import apply_policy

__all__ = [
    "class_dataset",
    "class_labels",
    "class_training_weights",
    "multiclass_outputs",
    "train_multiclass_fold",
]

log = logging.getLogger(__name__)


def class_labels(config: Config, samples: np.ndarray) -> np.ndarray:
    """The class index (int8) of each event, from its sample."""
    multiclass = config.training.multiclass
    by_sample = multiclass.class_of_sample()
    names = np.unique(samples)
    unknown = [str(n) for n in names if str(n) not in by_sample]
    if unknown:
        msg = f"sample '{unknown[0]}' is in no class of training.multiclass; rerun with its config"
        raise DataError(msg)
    lookup = np.array([by_sample[str(n)] for n in names], dtype=np.int8)
    return lookup[np.searchsorted(names, samples)]


def class_dataset(config: Config, data: Dataset) -> Dataset:
    """``data`` with ``label`` holding the class index of each event (0..K-1)."""
    return dataclasses.replace(data, label=class_labels(config, data.sample))


def class_training_weights(config: Config, data: Dataset, mask: np.ndarray) -> np.ndarray:
    """Training weights of the events in ``mask`` (``data.label``: class indices); see the
    module docstring. Raises :class:`DataError` naming a class whose weights sum to zero."""
    classes = config.training.multiclass.classes
    label = data.label[mask]
    policy = config.training.negative_weights
    X = data.X[mask] if policy == "annihilate" else None
    w = apply_policy(data.weight[mask], label, policy, X)
    process = data.process[mask]
    sums = np.zeros(len(classes))
    for i, event_class in enumerate(classes):
        rows = label == i
        if event_class.balance_processes:
            w = _balance_processes(w, rows, process, event_class.name)
        sums[i] = w[rows].sum()
        if not sums[i] > 0:
            msg = (
                f"class '{event_class.name}' has training weights summing to {sums[i]:g} "
                f"({int(rows.sum())} events); every class needs a positive sum"
            )
            raise DataError(msg)
    physics = [i for i, c in enumerate(classes) if c.balance == "physics"]
    target = sums[physics].mean() if physics else 1.0
    scale = np.array(
        [1.0 if c.balance == "physics" else target / s for c, s in zip(classes, sums, strict=True)]
    )
    w = w * scale[label]
    return w * (np.count_nonzero(w) / w.sum())


def _balance_processes(
    w: np.ndarray, rows: np.ndarray, process: np.ndarray, name: str
) -> np.ndarray:
    """Scale each process among ``rows`` to the same share of their weight sum."""
    names = np.unique(process[rows])
    target = w[rows].sum() / max(len(names), 1)
    w = w.copy()
    for p in names:
        members = rows & (process == p)
        total = w[members].sum()
        if not total > 0:
            msg = f"process '{p}' of class '{name}' has training weights summing to {total:g}"
            raise DataError(msg)
        w[members] *= target / total
    return w


def _check_sets(config: Config, k: int, data: Dataset, masks: Mapping[str, np.ndarray]) -> None:
    """Every set of model k needs events of every class."""
    names = config.training.multiclass.names
    for role in SETS:
        counts = np.bincount(data.label[masks[role]], minlength=len(names))
        for name, count in zip(names, counts, strict=True):
            if count == 0:
                msg = (
                    f"model {k}: the {role} set has no events of class '{name}'; every set "
                    "needs every class. Use fewer folds or more events."
                )
                raise DataError(msg)


def multiclass_outputs(
    config: Config, data: Dataset, train: np.ndarray, weights: np.ndarray
) -> ScoreOutputs:
    """The outputs of a model trained on the events ``train`` (``data.label``: classes) with
    training ``weights``: its classes, signal classes and the discriminant's w_i."""
    multiclass = config.training.multiclass
    names = tuple(multiclass.names)
    signal = tuple(multiclass.signal_classes)
    if multiclass.background_weights != "physics":
        given = multiclass.background_weights
        w = tuple(0.0 if i in signal else given[n] for i, n in enumerate(names))
        return ScoreOutputs(names, signal, multiclass.discriminant, w)
    label = data.label[train]
    prior = np.bincount(label, weights=weights, minlength=len(names))
    prior = prior / prior.sum()
    yields = np.bincount(label, weights=data.weight[train], minlength=len(names))
    background = [i for i in range(len(names)) if i not in signal]
    for i in background:
        if not yields[i] > 0:
            msg = (
                f"class '{names[i]}' has an expected yield of {yields[i]:g} in the training "
                "events; the likelihood ratio's physics weights need it positive (give "
                "training.multiclass.background_weights explicitly)"
            )
            raise DataError(msg)
    prior_signal, total_background = prior[list(signal)].sum(), yields[background].sum()
    w = tuple(
        0.0 if i in signal else float(prior_signal / prior[i] * yields[i] / total_background)
        for i in range(len(names))
    )
    return ScoreOutputs(names, signal, multiclass.discriminant, w)


def multiclass_auc(probabilities: np.ndarray, label: np.ndarray, weight: np.ndarray) -> float:
    """The learning curve's AUC of a multiclass model: each class's one-vs-rest weighted AUC
    (:func:`hepml.train.curves.weighted_auc`) averaged with the classes' weight fractions, as
    XGBoost's multiclass ``auc`` metric; NaN when no class can be told from the rest."""
    probabilities = np.asarray(probabilities).reshape(len(label), -1)
    total = float(np.sum(weight))
    aucs, fractions = [], []
    for c in range(probabilities.shape[1]):
        is_class = label == c
        auc = weighted_auc(probabilities[:, c], is_class.astype(np.int8), weight)
        if np.isfinite(auc):
            aucs.append(auc)
            fractions.append(float(np.sum(weight[is_class])) / total if total > 0 else 0.0)
    if not aucs or sum(fractions) <= 0:
        return float("nan")
    return float(np.average(aucs, weights=fractions))


def _params(config: Config, k: int, threads: int, overrides: Mapping[str, Any] | None) -> dict:
    params = xgboost_params(config, k, threads, overrides)
    params.update(
        objective="multi:softprob",
        num_class=len(config.training.multiclass.classes),
        eval_metric="mlogloss",  # drives early stopping (fit_booster's metric)
    )
    return params


def train_multiclass_fold(
    config: Config,
    data: Dataset,
    k: int,
    *,
    threads: int = 1,
    params: Mapping[str, Any] | None = None,
) -> FoldModel:
    """Train multiclass model ``k`` on ``data`` and score every event (see the module
    docstring); the :class:`FoldModel` of the binary BDT, written the same way."""
    multiclass = config.training.multiclass
    classes = class_dataset(config, data)
    masks = set_masks(data.fold, fold_roles(k, config.training.folds))
    _check_sets(config, k, classes, masks)
    booster_params = _params(config, k, threads, params)
    fit = fit_booster(
        config,
        classes,
        masks,
        booster_params,
        num_boost_round=n_rounds(config, params),
        threads=threads,
        metric="mlogloss",  # the curve's logloss column, as for the binary BDT
        auc=multiclass_auc,
    )
    booster, history, best = fit.booster, fit.history, fit.best
    log.info("model %d: best iteration %d of %d", k, best, len(history["train"]["logloss"]))
    device = effective_device(booster)
    if device != "cpu":
        booster.set_param({"device": "cpu"})
    outputs = multiclass_outputs(
        config, classes, masks["train"], fold_weights(config, classes, masks["train"])
    )
    probabilities = booster.inplace_predict(data.X, validate_features=False)
    fit.finish(probabilities)
    columns = outputs.columns(probabilities)
    scores = score_table(columns.pop(""), data, masks, k)
    scores["class"] = classes.label
    scores |= {f"score{suffix}": values for suffix, values in columns.items()}
    events = {s: int(masks[s].sum()) for s in SETS}
    meta = fold_metadata(config, k, best, booster_params, params, events) | {
        "device": device,
        "objective": "multi:softprob",
        "classes": {c.name: list(c.samples) for c in multiclass.classes},
        "class_balance": {
            c.name: {"balance": c.balance, "balance_processes": c.balance_processes}
            for c in multiclass.classes
        },
        "outputs": outputs.record(),
    }
    return FoldModel(booster, fold_roles(k, config.training.folds), history, best, scores, meta)
