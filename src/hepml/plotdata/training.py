"""Plot data of the training: the SHAP summary of the fold models and the hyperparameter trials.

- ``shap.json`` (:class:`ShapSummary`): SHAP values and colours (feature-value rank) of a
  seeded sample of test events, one row per feature, top rank first;
- ``trials.json`` (:class:`TuneTrials`): every trial of the hyperparameter search with its
  parameters and validation objective, the chosen ones marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from hepml.plotdata.base import PlotData, floats, json_floats, json_number, number

__all__ = ["ShapSummary", "Trial", "TuneTrials"]


@dataclass(frozen=True, eq=False)
class ShapSummary(PlotData):
    """SHAP values (``units``, log-odds) per feature row; ``colour`` in [0, 1], NaN missing."""

    FORMAT, VERSION, RULE = "hepml.shap_summary", 2, "importance"
    features: tuple[str, ...]
    shap: tuple[np.ndarray, ...]
    colour: tuple[np.ndarray, ...]
    seed: int
    units: str = "log-odds"

    def _content(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "shap": [json_floats(v) for v in self.shap],
            "colour": [json_floats(c) for c in self.colour],
            "seed": self.seed,
            "units": self.units,
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        return cls(
            tuple(content["features"]),
            tuple(floats(v) for v in content["shap"]),
            tuple(floats(c) for c in content["colour"]),
            int(content["seed"]),
            str(content["units"]),
        )


@dataclass(frozen=True)
class Trial:
    """One trial of model ``fold``: its parameters and validation objective at its best
    iteration; ``chosen`` marks the trial the model was trained with."""

    fold: int
    trial: int
    params: dict[str, Any]
    objective: float
    best_iteration: int
    chosen: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "fold": self.fold,
            "trial": self.trial,
            "params": self.params,
            "objective": json_number(self.objective),
            "best_iteration": self.best_iteration,
            "chosen": self.chosen,
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> Trial:
        return cls(
            int(content["fold"]),
            int(content["trial"]),
            dict(content["params"]),
            number(content["objective"]),
            int(content["best_iteration"]),
            bool(content["chosen"]),
        )


@dataclass(frozen=True, eq=False)
class TuneTrials(PlotData):
    """``trials.json``: the search's trials, ordered by fold and trial; ``objective`` names
    the validation metric (``logloss`` or ``auc``)."""

    FORMAT, VERSION, RULE = "hepml.tune_trials", 1, "tune_select"
    method: str
    objective: str
    trials: tuple[Trial, ...]

    @property
    def parameters(self) -> list[str]:
        """The searched parameters, in the order of the first trial."""
        return list(self.trials[0].params) if self.trials else []

    def _content(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "objective": self.objective,
            "trials": [t.to_json() for t in self.trials],
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        return cls(
            str(content["method"]),
            str(content["objective"]),
            tuple(Trial.from_json(t) for t in content["trials"]),
        )
