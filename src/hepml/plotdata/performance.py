"""The evaluation's plot data: ROC curves with their folds, score histograms, significance scans.

Each file holds one entry per classifier, in the evaluation's order (the first is the
reference of the ROC ratio panel and the one whose score plots are drawn):

- ``curves.json`` (:class:`RocCurves`): per classifier the merged out-of-fold ROC curve and
  one curve per fold (the band of the plot), the merged AUC and its spread over folds;
- ``histograms.json`` (:class:`ScoreHistograms`): per classifier the score histograms of the
  training and test events per class, merged over folds and per fold model (the overtraining
  plot), and the out-of-fold scores per process (the stacked score plot);
- ``significance.json`` (:class:`SignificanceScans`): the scan of a cut on the score and its
  optimum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import numpy as np

from hepml.exceptions import DataError, did_you_mean
from hepml.plotdata.base import PlotData, floats, json_floats, json_number, number
from hepml.plotdata.histograms import Histogram, TrainTest

__all__ = [
    "ClassifierRoc",
    "ClassifierScan",
    "ClassifierScores",
    "ProcessHistogram",
    "RocCurve",
    "RocCurves",
    "ScoreHistograms",
    "SignificanceScans",
]

T = TypeVar("T")


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve: signal and background efficiency per threshold (score > threshold)."""

    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray
    thresholds: np.ndarray
    auc: float

    def to_json(self) -> dict[str, Any]:
        return {
            "signal_efficiency": json_floats(self.signal_efficiency),
            "background_efficiency": json_floats(self.background_efficiency),
            "thresholds": json_floats(self.thresholds),
            "auc": json_number(self.auc),
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> RocCurve:
        return cls(
            floats(content["signal_efficiency"]),
            floats(content["background_efficiency"]),
            floats(content["thresholds"]),
            number(content["auc"]),
        )


@dataclass(frozen=True)
class ClassifierRoc:
    """A classifier's merged out-of-fold ROC curve and the curve of each fold model."""

    merged: RocCurve
    folds: tuple[RocCurve, ...]
    auc_std_over_folds: float
    # the streaming evaluation's fine bins and AUC error bound (hepml.evaluate.streaming);
    # None for the exact evaluation
    streaming: dict[str, Any] | None = None

    @property
    def auc(self) -> float:
        """AUC of the merged out-of-fold scores."""
        return self.merged.auc

    def to_json(self) -> dict[str, Any]:
        content = {
            "auc": json_number(self.auc),
            "auc_std_over_folds": json_number(self.auc_std_over_folds),
            "merged": self.merged.to_json(),
            "folds": [{"fold": k, **c.to_json()} for k, c in enumerate(self.folds)],
        }
        if self.streaming is not None:
            content["streaming"] = dict(self.streaming)
        return content

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ClassifierRoc:
        folds = sorted(content["folds"], key=lambda f: f["fold"])
        return cls(
            RocCurve.from_json(content["merged"]),
            tuple(RocCurve.from_json(f) for f in folds),
            number(content["auc_std_over_folds"]),
            content.get("streaming"),
        )


@dataclass(frozen=True)
class ProcessHistogram:
    """The out-of-fold score histogram of one process; ``label`` 1 signal, 0 background."""

    label: int
    histogram: Histogram

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, **self.histogram.to_json()}

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ProcessHistogram:
        return cls(int(content["label"]), Histogram.from_json(content))


@dataclass(frozen=True)
class ClassifierScores:
    """A classifier's score histograms on ``edges``.

    ``overtraining``: class (``signal``/``background``) -> training and test events, summed
    over the fold models; ``folds[k]``: the same for model k alone (its KS test's data);
    ``processes``: out-of-fold scores per process, in expected events.
    """

    edges: np.ndarray
    overtraining: dict[str, TrainTest]
    folds: tuple[dict[str, TrainTest], ...]
    processes: dict[str, ProcessHistogram]

    def to_json(self) -> dict[str, Any]:
        return {
            "edges": json_floats(self.edges),
            "overtraining": {c: h.to_json() for c, h in self.overtraining.items()},
            "folds": [
                {"fold": k, "classes": {c: h.to_json() for c, h in fold.items()}}
                for k, fold in enumerate(self.folds)
            ],
            "processes": {n: p.to_json() for n, p in self.processes.items()},
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ClassifierScores:
        folds = sorted(content["folds"], key=lambda f: f["fold"])
        return cls(
            floats(content["edges"]),
            {c: TrainTest.from_json(h) for c, h in content["overtraining"].items()},
            tuple({c: TrainTest.from_json(h) for c, h in f["classes"].items()} for f in folds),
            {n: ProcessHistogram.from_json(p) for n, p in content["processes"].items()},
        )


@dataclass(frozen=True)
class ClassifierScan:
    """The scan of ``score > cut``: ``scan`` maps a quantity (``cut``, ``signal``,
    ``background``, efficiencies, ``purity``, the significances) to its value per cut;
    ``optimum`` is the row of the best cut (None when no cut keeps ``min_background``)."""

    metric: str
    min_background: float
    scan: dict[str, np.ndarray]
    optimum: dict[str, Any] | None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> ClassifierScan:
        """From :func:`hepml.evaluate.significance.scan_summary`'s dict."""
        return cls(
            summary["metric"],
            float(summary["min_background"]),
            {k: floats(v) for k, v in summary["scan"].items()},
            dict(summary["optimum"]) if summary["optimum"] is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "min_background": self.min_background,
            "scan": {k: json_floats(v) for k, v in self.scan.items()},
            "optimum": _json_tree(self.optimum),
        }

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> ClassifierScan:
        scan = cls.from_summary(content)
        if scan.optimum is not None:  # null (a NaN written) back to NaN
            scan.optimum.update({k: np.nan for k, v in scan.optimum.items() if v is None})
        return scan


def _json_tree(value: Any) -> Any:
    """Nested dicts of numbers made JSON-ready (NaN -> None)."""
    if isinstance(value, Mapping):
        return {k: _json_tree(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return json_number(value)
    return value


class _PerClassifier(PlotData, Generic[T]):
    """A plot-data file with one entry per classifier, in the evaluation's order."""

    ITEM: ClassVar[type]
    RULE = "evaluate"

    def __init__(self, classifiers: Mapping[str, T]) -> None:
        if not classifiers:
            msg = f"{self.FORMAT} needs at least one classifier"
            raise DataError(msg)
        self.classifiers: dict[str, T] = dict(classifiers)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    @property
    def names(self) -> list[str]:
        """The classifiers, the first (the reference) first."""
        return list(self.classifiers)

    def __getitem__(self, name: str) -> T:
        if name not in self.classifiers:
            msg = f"no {self.FORMAT} data for classifier '{name}'; have {self.names}."
            raise DataError(msg + did_you_mean(name, self.names))
        return self.classifiers[name]

    def _content(self) -> dict[str, Any]:
        # JSON keys are written sorted: "order" keeps the classifiers' order
        return {
            "order": self.names,
            "classifiers": {n: c.to_json() for n, c in self.classifiers.items()},  # type: ignore[attr-defined]
        }

    @classmethod
    def _from_content(cls, content: Mapping[str, Any]) -> Self:
        classifiers = content["classifiers"]
        order: Sequence[str] = content["order"]
        return cls({n: cls.ITEM.from_json(classifiers[n]) for n in order})


class RocCurves(_PerClassifier[ClassifierRoc]):
    """``curves.json``: the ROC curves of every classifier."""

    FORMAT, VERSION, ITEM = "hepml.roc_curves", 2, ClassifierRoc


class ScoreHistograms(_PerClassifier[ClassifierScores]):
    """``histograms.json``: the score histograms of every classifier."""

    FORMAT, VERSION, ITEM = "hepml.score_histograms", 2, ClassifierScores


class SignificanceScans(_PerClassifier[ClassifierScan]):
    """``significance.json``: the significance scan of every classifier."""

    FORMAT, VERSION, ITEM = "hepml.significance_scans", 2, ClassifierScan
