"""Weighted histograms as plot data: bin contents and their squared weights.

:class:`Histogram` holds the in-range bins of a histogram whose edges its owner keeps;
:class:`FlowHistogram` adds the underflow and overflow bins (first and last) and counts the
NaN values apart, as the input-variable and data/MC histograms do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepml.plotdata.base import floats, json_floats, json_number, number

__all__ = ["FlowHistogram", "Histogram", "TrainTest"]


@dataclass(frozen=True)
class Histogram:
    """Sum of weights and of squared weights per bin (expected events when the weights are
    physics weights)."""

    sumw: np.ndarray
    sumw2: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "sumw", floats(self.sumw))
        object.__setattr__(self, "sumw2", floats(self.sumw2))
        if self.sumw.shape != self.sumw2.shape:
            msg = f"sumw has {self.sumw.size} bins but sumw2 {self.sumw2.size}"
            raise ValueError(msg)

    @property
    def total(self) -> float:
        """Sum over the bins (NaN bins, e.g. blinded data, left out)."""
        return float(np.nansum(self.sumw))

    @property
    def errors(self) -> np.ndarray:
        """Statistical uncertainty per bin: sqrt(sum of squared weights)."""
        return np.sqrt(self.sumw2)

    def unit_area(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(density, its uncertainty) scaled to unit area over ``edges`` (in-range bins)."""
        area = self.total * np.diff(np.asarray(edges, dtype=float))
        return self.sumw / area, self.errors / area

    def to_json(self) -> dict[str, Any]:
        return {"sumw": json_floats(self.sumw), "sumw2": json_floats(self.sumw2)}

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> Histogram:
        return cls(floats(content["sumw"]), floats(content["sumw2"]))


@dataclass(frozen=True)
class TrainTest:
    """The same class's scores on a model's training events and on its test events."""

    train: Histogram
    test: Histogram

    def to_json(self) -> dict[str, Any]:
        return {"train": self.train.to_json(), "test": self.test.to_json()}

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> TrainTest:
        return cls(Histogram.from_json(content["train"]), Histogram.from_json(content["test"]))


@dataclass(frozen=True)
class FlowHistogram(Histogram):
    """A histogram with flow bins: ``sumw``/``sumw2`` have len(edges) + 1 entries, underflow
    first and overflow last. NaN values are in no bin: ``nan_events``/``nan_yield`` count
    them; ``events``/``yield_`` count everything."""

    events: int = 0
    yield_: float = 0.0
    nan_events: int = 0
    nan_yield: float = 0.0

    @property
    def nan_fraction(self) -> float:
        """Fraction of the events (unweighted) whose value is NaN."""
        return self.nan_events / self.events if self.events else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "events": self.events,
            "yield": json_number(self.yield_),
            "nan_events": self.nan_events,
            "nan_yield": json_number(self.nan_yield),
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> FlowHistogram:
        return cls(
            floats(content["sumw"]),
            floats(content["sumw2"]),
            events=int(content["events"]),
            yield_=number(content["yield"]),
            nan_events=int(content["nan_events"]),
            nan_yield=number(content["nan_yield"]),
        )
