"""Train: the K-fold XGBoost BDTs, the baseline classifiers, the hyperparameter search and
the Dask engine, on the folds of :mod:`hepml.folds`.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "calibrate_fold": "hepml.train.calibrate",
    "check_baselines": "hepml.train.baselines",
    "check_category_events": "hepml.train.categories",
    "run_fold": "hepml.train.distributed",
    "run_trial": "hepml.train.tune",
    "train_baseline": "hepml.train.baselines",
    "train_fold": "hepml.train.bdt",
    "train_multiclass_fold": "hepml.train.multiclass",
    "training_weights": "hepml.train.weights",
    "tuned_parameters": "hepml.train.tune",
    "write_baseline": "hepml.train.baselines",
    "write_fold": "hepml.train.bdt",
    "write_selection": "hepml.train.tune",
    "xgboost_params": "hepml.train.bdt",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
