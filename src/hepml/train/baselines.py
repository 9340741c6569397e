"""Baselines: the classic classifiers trained on the same folds and weights as the BDT.

So that users see what the BDT buys, ``training.baselines`` lists classifiers physicists
learn first; each is trained by model k on exactly the events the BDT of model k trains on,
with the same training weights (:func:`hepml.train.bdt.model_weights`), and scores the same
train/validation/test events, so its out-of-fold scores go through the same evaluation:

========== ==========================================================================
method     estimator (scikit-learn unless noted)
========== ==========================================================================
fisher     Fisher's linear discriminant with event weights (LDA; by hand, below)
logistic   ``LogisticRegression``
knn        k nearest neighbours with a weighted vote (by hand on ``NearestNeighbors``)
decision_tree  a single ``DecisionTreeClassifier``
random_forest  ``RandomForestClassifier`` (bagging)
adaboost   ``AdaBoostClassifier`` of depth-3 trees (TMVA's classic BDT)
hist_gbdt  ``HistGradientBoostingClassifier``, early-stopping on the validation fold
========== ==========================================================================

Methods that need it get TMVA-style input transformations in a ``Pipeline`` fitted on the
training folds only: ``standardise`` (zero mean, unit variance), ``decorrelate`` (the
inverse square root of the covariance matrix), ``pca`` and ``gauss`` (each feature mapped to
a standard normal through its quantiles). Methods that cannot take missing values (NaN for
absent objects) get a median imputation with missing-value indicators first. Transforms are
fitted without event weights; the classifier itself is fitted with them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepml.atomic import atomic_path, write_json
from hepml.config import Baseline, Config
from hepml.exceptions import ConfigError, did_you_mean
from hepml.folds import fold_masks, fold_roles
from hepml.tables.features import Dataset
from hepml.train.bdt import model_record, model_weights, score_table, write_scores

__all__ = [
    "METHODS",
    "BaselineModel",
    "build_pipeline",
    "check_baseline",
    "check_baselines",
    "train_baseline",
    "write_baseline",
]

log = logging.getLogger(__name__)

DEFAULT_TRANSFORMS = {"logistic": ("standardise",), "knn": ("standardise",)}
NEEDS_IMPUTATION = frozenset({"fisher", "logistic", "knn", "adaboost"})
_PREDICT_CHUNK = 50_000  # events scored at once (bounds the memory of kNN queries)


def _estimators() -> dict[str, Callable[[int, int], Any]]:
    """method -> factory(seed, threads) of its default estimator (lazy imports)."""
    from sklearn.ensemble import (
        AdaBoostClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from hepml.train.estimators import FisherDiscriminant, WeightedKNN

    return {
        "fisher": lambda seed, threads: FisherDiscriminant(),
        "logistic": lambda seed, threads: LogisticRegression(max_iter=1000),
        "knn": lambda seed, threads: WeightedKNN(n_neighbors=20, n_jobs=threads),
        "decision_tree": lambda seed, threads: DecisionTreeClassifier(
            max_depth=6, min_samples_leaf=50, random_state=seed
        ),
        "random_forest": lambda seed, threads: RandomForestClassifier(
            n_estimators=200, min_samples_leaf=20, n_jobs=threads, random_state=seed
        ),
        "adaboost": lambda seed, threads: AdaBoostClassifier(
            DecisionTreeClassifier(max_depth=3, min_samples_leaf=50),
            n_estimators=200,
            learning_rate=0.5,
            random_state=seed,
        ),
        "hist_gbdt": lambda seed, threads: HistGradientBoostingClassifier(
            max_iter=500,
            early_stopping=True,
            random_state=seed,  # patience: sklearn's 10
        ),
    }


METHODS = (
    "fisher",
    "logistic",
    "knn",
    "decision_tree",
    "random_forest",
    "adaboost",
    "hist_gbdt",
)


def _transform(name: str, seed: int) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import QuantileTransformer, StandardScaler

    from hepml.train.estimators import Decorrelate

    return {
        "standardise": lambda: StandardScaler(),
        "decorrelate": lambda: Decorrelate(),
        "pca": lambda: PCA(svd_solver="full"),
        "gauss": lambda: QuantileTransformer(output_distribution="normal", random_state=seed),
    }[name]()


def transforms_of(baseline: Baseline) -> tuple[str, ...]:
    """The input transformations of ``baseline`` (its own, else its method's default)."""
    if baseline.transforms is not None:
        return baseline.transforms
    return DEFAULT_TRANSFORMS.get(baseline.method, ())


def build_pipeline(baseline: Baseline, *, seed: int = 0, threads: int = 1) -> Any:
    """The unfitted scikit-learn ``Pipeline``: [imputation], transforms, classifier."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    steps: list[tuple[str, Any]] = []
    if baseline.method in NEEDS_IMPUTATION:
        steps.append(("impute", SimpleImputer(strategy="median", add_indicator=True)))
    steps += [(name, _transform(name, seed)) for name in transforms_of(baseline)]
    classifier = _estimators()[baseline.method](seed, threads)
    classifier.set_params(**baseline.params)
    steps.append(("classifier", classifier))
    return Pipeline(steps)


def check_baselines(config: Config, source: str = "config") -> None:
    """:func:`check_baseline` for every baseline of ``config`` given explicit params."""
    for i, baseline in enumerate(config.training.baselines):
        if baseline.params:
            check_baseline(baseline, f"{source}: training.baselines[{i}]")


def check_baseline(baseline: Baseline, where: str) -> None:
    """Raise :class:`ConfigError` if ``baseline.params`` are not valid for its estimator."""
    classifier = build_pipeline(Baseline(baseline.name, baseline.method))[-1]
    valid = sorted(classifier.get_params(deep=True))
    for key in baseline.params:
        if key not in valid:
            msg = (
                f"{where}.params: '{key}' is not a parameter of {type(classifier).__name__} "
                f"(method {baseline.method}).{did_you_mean(key, valid)} "
                f"Valid: {', '.join(valid)}."
            )
            raise ConfigError(msg)
    classifier.set_params(**baseline.params)
    try:  # scikit-learn's own check of types and ranges, without fitting
        if hasattr(classifier, "_parameter_constraints"):
            classifier._validate_params()
    except (ValueError, TypeError) as err:
        msg = f"{where}.params: {err}"
        raise ConfigError(msg) from err


@dataclass
class BaselineModel:
    """A fitted baseline of one fold, with its scores and provenance."""

    pipeline: Any
    roles: dict[str, Any]
    scores: dict[str, np.ndarray]
    metadata: dict[str, Any]


def _fit(
    pipeline: Any,
    method: str,
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Fit the transforms on the training events, then the classifier with its weights."""
    if len(pipeline) > 1:
        transforms = pipeline[:-1]
        X = transforms.fit_transform(X)
    fit_kw: dict[str, Any] = {"sample_weight": w}
    if method == "hist_gbdt":  # early stopping on the validation fold, like the BDT
        Xv, yv, wv = validation
        if len(pipeline) > 1:
            Xv = transforms.transform(Xv)
        fit_kw.update(X_val=Xv, y_val=yv, sample_weight_val=wv)
    pipeline[-1].fit(X, y, **fit_kw)


def predict_scores(pipeline: Any, X: np.ndarray) -> np.ndarray:
    """Signal probability of every row of ``X``, in chunks (float64)."""
    if len(X) == 0:
        return np.empty(0)
    parts = [
        pipeline.predict_proba(X[i : i + _PREDICT_CHUNK])[:, 1]
        for i in range(0, len(X), _PREDICT_CHUNK)
    ]
    return np.concatenate(parts).astype(np.float64)


def _weighted(
    config: Config, data: Dataset, masks: dict[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per set (train, validation): the indices and training weights (the BDT's,
    :func:`hepml.train.bdt.model_weights`) of its events with a non-zero training weight."""
    weights = model_weights(config, data, masks)
    sets = {}
    for name, w in weights.items():
        idx = np.flatnonzero(masks[name])
        keep = w > 0
        sets[name] = (idx[keep], w[keep])
    return sets


def baseline_metadata(
    config: Config,
    baseline: Baseline,
    pipeline: Any,
    k: int,
    features: Sequence[str],
    masks: Mapping[str, np.ndarray],
) -> dict[str, Any]:
    """The ``metadata.json`` of baseline model ``k``: what it is, what it trained on, with
    which versions (the multiclass baselines add their outputs)."""
    import sklearn

    return {
        "classifier": baseline.name,
        "method": baseline.method,
        "steps": [name for name, _ in pipeline.steps],
        "transforms": list(transforms_of(baseline)),
        "params": baseline.params,
        "model_fold": k,
        "folds": config.training.folds,
        "roles": fold_roles(k, config.training.folds),
        "features": list(features),
        "config_hash": config.training_hash(),
        "baseline_hash": baseline_hash(config, baseline),
        "sklearn_version": sklearn.__version__,
        "events": {s: int(m.sum()) for s, m in masks.items()},
    }


def baseline_hash(config: Config, baseline: Baseline) -> str:
    """Hash of the BDT-independent settings and of this baseline's definition."""
    blob = json.dumps(
        {
            "config": config.training_hash(),
            "name": baseline.name,
            "method": baseline.method,
            "transforms": list(transforms_of(baseline)),
            "params": baseline.params,
        },
        sort_keys=True,
        default=str,
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def train_baseline(
    config: Config, data: Dataset, baseline: Baseline, k: int, *, threads: int = 1
) -> BaselineModel:
    """Train ``baseline`` as model ``k`` (the BDT's folds and weights) and score every event."""
    if config.training.multiclass is not None:  # K class outputs
        from hepml.train.multiclass_baselines import train_multiclass_baseline

        return train_multiclass_baseline(config, data, baseline, k, threads=threads)
    from threadpoolctl import threadpool_limits

    check_baseline(baseline, f"training.baselines: '{baseline.name}'")
    roles = fold_roles(k, config.training.folds)
    masks = fold_masks(data, k, config.training.folds)
    seed = int(config.seed) * 100 + k
    pipeline = build_pipeline(baseline, seed=seed, threads=threads)
    # events whose training weight is 0 (policies drop/zero/annihilate) carry no information;
    # left in, they would still be kNN neighbours and break AdaBoost's log-weights
    weighted = _weighted(config, data, masks)
    train, val = weighted["train"], weighted["validation"]
    with threadpool_limits(limits=threads):
        _fit(
            pipeline,
            baseline.method,
            data.X[train[0]],
            data.label[train[0]],
            train[1],
            (data.X[val[0]], data.label[val[0]], val[1]),
        )
        score = predict_scores(pipeline, data.X)
    log.info("%s model %d trained on %d events", baseline.name, k, len(train[0]))
    meta = baseline_metadata(config, baseline, pipeline, k, data.features, masks)
    return BaselineModel(pipeline, roles, score_table(score, data, masks, k), meta)


def write_baseline(model: BaselineModel, output_dir: str | Path) -> list[Path]:
    """Write model.joblib (the fitted Pipeline), metadata.json and scores.parquet."""
    import joblib

    out = Path(output_dir)
    paths = [out / "model.joblib", out / "metadata.json", out / "scores.parquet"]
    with atomic_path(paths[0]) as tmp:
        joblib.dump(model.pipeline, tmp, compress=3)
        raw = tmp.read_bytes()
    write_json(paths[1], model_record(model.metadata, paths[0].name, raw))
    write_scores(model.scores, paths[2])
    return paths
