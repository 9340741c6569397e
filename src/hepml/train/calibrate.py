"""The calibration of a trained fold model, fitted in its training job on its validation fold.

With a ``calibration`` section, model k's calibrated outputs and rarity
(:mod:`hepml.calibration`) are fitted on the scores model k gave its *validation* fold, the
events it early-stopped on but never trained on, and never on its test fold, whose calibrated
scores the evaluation then judges. They are written with the model: ``metadata.json`` records
them (``outputs``, from which apply, export and ``hepml score`` compute the same columns) and
``scores.parquet`` gains a column ``score_<method>`` for every event of the model.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from hepml.calibration import calibration_weights, fit_calibration
from hepml.config import Config
from hepml.score_outputs import CALIBRATION_SUFFIXES, ScoreOutputs
from hepml.train.bdt import FoldModel

__all__ = ["calibrate_fold"]

log = logging.getLogger(__name__)


def calibrate_fold(config: Config, model: FoldModel) -> FoldModel:
    """``model`` with its calibration fitted on its validation scores (no-op without a
    ``calibration`` section); its score table and metadata extended."""
    settings = config.calibration
    if settings is None:
        return model
    scores = model.scores
    validation = np.asarray(scores["set"] == "validation")
    label = np.asarray(scores["label"])
    weights = calibration_weights(
        scores["weight"][validation],
        label[validation],
        policy=config.training.negative_weights,
        prior=settings.prior,
    )
    base = ScoreOutputs.from_record(model.metadata.get("outputs"))
    outputs = fit_calibration(
        base,
        scores["score"][validation],
        label[validation],
        weights,
        methods=settings.methods,
        rarity=settings.rarity,
    )
    calibrated = outputs.calibrated(np.asarray(scores["score"], dtype=np.float64))
    extended = dict(scores) | {f"score{suffix}": calibrated[suffix] for suffix in calibrated}
    metadata = model.metadata | {
        "outputs": outputs.record(),
        "calibration": {
            "methods": list(settings.methods),
            "rarity": settings.rarity,
            "prior": settings.prior,
            "fitted_on": {"set": "validation", "fold": model.roles["validation"]},
            "events": int(validation.sum()),
            "columns": [f"score{CALIBRATION_SUFFIXES[m]}" for m in outputs.calibrations],
        },
    }
    log.info("model %d: calibration fitted on validation fold %d", model.metadata["model_fold"],
             model.roles["validation"])  # fmt: skip
    return dataclasses.replace(model, scores=extended, metadata=metadata)
