"""The baselines of a multiclass analysis: scikit-learn classifiers with K class outputs.

With ``training.multiclass``, the baselines scikit-learn fits on several classes (logistic
regression, a decision tree, a random forest, AdaBoost, histogram gradient boosting) train
as model k on the classes of the BDT, with the classes' training weights
(:func:`hepml.train.multiclass.class_training_weights`, computed once over the training and
validation events as the BDT's), on exactly the BDT's training events;
their ``predict_proba`` gives the K class outputs, from which the discriminant is made as for
the BDT (:func:`hepml.train.multiclass.multiclass_outputs`). Their score tables have the
multiclass columns, so they line up beside the BDT in every evaluation. (Fisher's
discriminant and the weighted kNN are two-class methods: refused with the classes.)
"""

from __future__ import annotations

import logging

import numpy as np

from hepml.config import Baseline, Config
from hepml.folds import fold_roles, set_masks
from hepml.tables.features import Dataset
from hepml.train.baselines import (
    _PREDICT_CHUNK,
    BaselineModel,
    _fit,
    _weighted,
    baseline_metadata,
    build_pipeline,
    check_baseline,
)
from hepml.train.bdt import score_table
from hepml.train.multiclass import _check_sets, class_dataset, multiclass_outputs

__all__ = ["train_multiclass_baseline"]

log = logging.getLogger(__name__)


def _probabilities(pipeline, X: np.ndarray, n_classes: int) -> np.ndarray:
    """The (n, K) class outputs, in chunks; classes the estimator never saw get 0."""
    out = np.zeros((len(X), n_classes))
    classes = pipeline.classes_
    for i in range(0, len(X), _PREDICT_CHUNK):
        out[i : i + _PREDICT_CHUNK, classes] = pipeline.predict_proba(X[i : i + _PREDICT_CHUNK])
    return out


def train_multiclass_baseline(
    config: Config, data: Dataset, baseline: Baseline, k: int, *, threads: int = 1
) -> BaselineModel:
    """Train ``baseline`` as multiclass model ``k`` and score every event."""
    from threadpoolctl import threadpool_limits

    check_baseline(baseline, f"training.baselines: '{baseline.name}'")
    classes = class_dataset(config, data)
    roles = fold_roles(k, config.training.folds)
    masks = set_masks(data.fold, roles)
    _check_sets(config, k, classes, masks)
    pipeline = build_pipeline(baseline, seed=int(config.seed) * 100 + k, threads=threads)
    sets = _weighted(config, classes, masks)  # the BDT's weights, computed once over both sets
    train, val = sets["train"], sets["validation"]
    with threadpool_limits(limits=threads):
        _fit(pipeline, baseline.method, data.X[train[0]], classes.label[train[0]], train[1],
             (data.X[val[0]], classes.label[val[0]], val[1]))  # fmt: skip
        probabilities = _probabilities(pipeline, data.X, len(config.training.multiclass.classes))
    outputs = multiclass_outputs(config, classes, train[0], train[1])
    columns = outputs.columns(probabilities)
    scores = score_table(columns.pop(""), data, masks, k)
    scores["class"] = classes.label
    scores |= {f"score{suffix}": values for suffix, values in columns.items()}
    log.info("%s model %d trained on %d events (multiclass)", baseline.name, k, len(train[0]))
    meta = baseline_metadata(config, baseline, pipeline, k, data.features, masks) | {
        "outputs": outputs.record(),
    }
    return BaselineModel(pipeline, roles, scores, meta)
