"""The input variables as plot data: shapes per class, correlation matrices, data against MC.

- ``input_variables.json`` (:class:`InputVariables`): per feature its bin edges and the signal
  and background histograms with under/overflow and NaN counts;
- ``correlations.json`` (:class:`Correlations`): the weighted linear correlation matrix of
  each class;
- ``data_mc.json`` (:class:`DataMC`): per feature and for the score, the MC per process and
  the data (blinded bins null).

No axis label is stored: labels are presentation, which the plots take from the config, so a
changed label redraws the plots without recomputing these files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from hepml.plotdata.base import PlotData, floats, json_floats, json_number, number
from hepml.plotdata.histograms import FlowHistogram

__all__ = [
    "Correlations",
    "DataMC",
    "DataMCVariable",
    "InputVariable",
    "InputVariables",
    "ProcessFlowHistogram",
]


@dataclass(frozen=True)
class InputVariable:
    """One feature: bin ``edges`` and per class (``signal``, ``background``) its histogram."""

    edges: np.ndarray
    classes: dict[str, FlowHistogram]

    def to_json(self) -> dict[str, Any]:
        return {
            "edges": json_floats(self.edges),
            "classes": {c: h.to_json() for c, h in self.classes.items()},
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> InputVariable:
        return cls(
            floats(content["edges"]),
            {c: FlowHistogram.from_json(h) for c, h in content["classes"].items()},
        )


@dataclass(frozen=True, eq=False)
class InputVariables(PlotData):
    """``input_variables.json``: every feature's :class:`InputVariable`, in config order."""

    FORMAT, VERSION, RULE = "hepml.input_variables", 2, "inputs"
    features: dict[str, InputVariable]

    def _content(self) -> dict[str, Any]:
        return {
            "order": list(self.features),
            "features": {n: f.to_json() for n, f in self.features.items()},
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        features = content["features"]
        return cls({n: InputVariable.from_json(features[n]) for n in content["order"]})


@dataclass(frozen=True, eq=False)
class Correlations(PlotData):
    """``correlations.json``: class -> correlation matrix (features x features, NaN where a
    feature is constant), ``features`` in config order."""

    FORMAT, VERSION, RULE = "hepml.correlations", 2, "inputs"
    features: tuple[str, ...]
    matrices: dict[str, np.ndarray]

    def _content(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "matrices": {
                c: [json_floats(row) for row in np.asarray(m)] for c, m in self.matrices.items()
            },
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        return cls(
            tuple(content["features"]),
            {c: np.array([floats(r) for r in m]) for c, m in content["matrices"].items()},
        )


@dataclass(frozen=True)
class ProcessFlowHistogram:
    """One MC process of a data/MC plot: ``label`` 1 signal, 0 background."""

    label: int
    histogram: FlowHistogram

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, **self.histogram.to_json()}

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ProcessFlowHistogram:
        return cls(int(content["label"]), FlowHistogram.from_json(content))


@dataclass(frozen=True)
class DataMCVariable:
    """One variable of a data/MC comparison: MC per process, the data (NaN bins: blinded),
    and the ``region`` the events come from (e.g. ``score <= 0.5``)."""

    edges: np.ndarray
    processes: dict[str, ProcessFlowHistogram]
    data: FlowHistogram
    region: str

    def to_json(self) -> dict[str, Any]:
        return {
            "edges": json_floats(self.edges),
            "processes": {n: p.to_json() for n, p in self.processes.items()},
            "data": self.data.to_json(),
            "region": self.region,
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> DataMCVariable:
        return cls(
            floats(content["edges"]),
            {n: ProcessFlowHistogram.from_json(p) for n, p in content["processes"].items()},
            FlowHistogram.from_json(content["data"]),
            str(content["region"]),
        )


@dataclass(frozen=True, eq=False)
class DataMC(PlotData):
    """``data_mc.json``: every feature and the score; ``blind_above`` None when unblinded."""

    FORMAT, VERSION, RULE = "hepml.data_mc", 2, "data_mc"
    variables: dict[str, DataMCVariable]
    score: DataMCVariable
    blind_above: float | None
    hidden_data_events: int
    data_samples: tuple[str, ...] = ()

    def _content(self) -> dict[str, Any]:
        return {
            "order": list(self.variables),
            "variables": {n: v.to_json() for n, v in self.variables.items()},
            "score": self.score.to_json(),
            "blind_above": json_number(self.blind_above),
            "unblind": self.blind_above is None,
            "hidden_data_events": self.hidden_data_events,
            "data_samples": list(self.data_samples),
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        variables = content["variables"]
        blind = content["blind_above"]
        return cls(
            {n: DataMCVariable.from_json(variables[n]) for n in content["order"]},
            DataMCVariable.from_json(content["score"]),
            None if blind is None else number(blind),
            int(content["hidden_data_events"]),
            tuple(content.get("data_samples", ())),
        )
