"""The multiclass plots, drawn from ``multiclass.json`` (:mod:`hepml.evaluate.multiclass_tables`).

- ``multiclass_roc``: one-vs-rest ROC curve of each class (background rejection against the
  class's efficiency), the band spanning the fold models' curves;
- ``multiclass_confusion``: the confusion matrix, each true class's row as fractions of its
  expected events (the numbers printed in the cells);
- ``multiclass_score_<class>``: the output P(class) for the events of every true class,
  shapes normalised to unit area, on the test folds;
- ``multiclass_overtraining_<class>``: P(class) on the training sets (filled) against the
  test folds (points), for the class's own events and for all others, TMVA style.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plots.style import PlotStyle, save_figure, styled_axes

__all__ = [
    "draw_multiclass",
    "plot_multiclass_confusion",
    "plot_multiclass_overtraining",
    "plot_multiclass_roc",
    "plot_multiclass_scores",
]

log = logging.getLogger(__name__)

_GRID = np.linspace(0.02, 1.0, 200)


def _rejection_on_grid(curve: Mapping[str, list[float]]) -> np.ndarray:
    """1 / background efficiency at the efficiencies of :data:`_GRID` (NaN where none)."""
    tpr = np.maximum.accumulate(np.asarray(curve["signal_efficiency"], dtype=float))
    fpr = np.asarray(curve["background_efficiency"], dtype=float)
    if tpr.size == 0:
        return np.full(_GRID.size, np.nan)
    unique, first = np.unique(tpr, return_index=True)
    eff = np.interp(_GRID, unique, fpr[first])
    with np.errstate(divide="ignore"):
        return np.where(eff > 0, 1.0 / np.where(eff > 0, eff, 1.0), np.nan)


def plot_multiclass_roc(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """One-vs-rest ROC curves of one classifier's entry of multiclass.json."""
    aucs = {row["name"]: row for row in data["ovr"]}
    with styled_axes(style) as ax:
        for name in data["classes"]:  # the JSON's keys are sorted: the classes' order
            curves = data["curves"][name]
            merged = curves["merged"]
            eff = np.asarray(merged["background_efficiency"], dtype=float)
            with np.errstate(divide="ignore"):
                rejection = np.where(eff > 0, 1.0 / np.where(eff > 0, eff, 1.0), np.nan)
            row = aucs[name]
            (line,) = ax.plot(
                merged["signal_efficiency"],
                rejection,
                label=f"{name} vs rest (AUC = {row['auc']:.3f} ± {row['auc_std_over_folds']:.3f})",
            )
            folds = np.array([_rejection_on_grid(f) for f in curves["folds"]])
            ax.fill_between(_GRID, np.fmin.reduce(folds), np.fmax.reduce(folds),
                            color=line.get_color(), alpha=0.3)  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Efficiency of the class")
        ax.set_ylabel("Rejection of the other classes")
        ax.legend(loc="upper right", title="One vs rest, band: fold min-max")
    return ax.figure


def plot_multiclass_confusion(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """The confusion matrix, rows normalised to each true class's expected events."""
    names = data["classes"]
    expected = np.asarray(data["confusion"]["expected"], dtype=float)
    totals = expected.sum(axis=1, keepdims=True)
    fractions = np.divide(expected, totals, out=np.zeros_like(expected), where=totals != 0)
    with styled_axes(style) as ax:
        image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                colour = "white" if fractions[i, j] > 0.6 else "black"
                ax.text(j, i, f"{fractions[i, j]:.2f}", ha="center", va="center", color=colour)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Called class (largest output)")
        ax.set_ylabel("True class")
        ax.figure.colorbar(image, ax=ax, label="Fraction of the true class's expected events")
    return ax.figure


def _density(h: Mapping[str, list[float]], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sumw = np.asarray(h["sumw"], dtype=float)
    area = sumw.sum() * np.diff(edges)
    if not np.all(area > 0):
        return np.zeros_like(sumw), np.zeros_like(sumw)
    return sumw / area, np.sqrt(np.asarray(h["sumw2"], dtype=float)) / area


def plot_multiclass_scores(data: Mapping[str, Any], output: str, style: PlotStyle) -> Figure:
    """Output P(``output``) for the events of each true class (test folds, unit area)."""
    edges = np.asarray(data["histograms"]["edges"], dtype=float)
    test = data["histograms"]["outputs"][output]["test"]
    with styled_axes(style) as ax:
        for true in data["classes"]:
            density, error = _density(test[true], edges)
            mplhep.histplot(density, edges, yerr=error, histtype="step", flow="none",
                            linewidth=2 if true == output else 1, label=true, ax=ax)  # fmt: skip
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
        ax.set_xlabel(f"Output P({output})")
        ax.set_ylabel("Normalised to unit area")
        ax.legend(title="True class", loc="upper center", ncols=2)
    return ax.figure


def plot_multiclass_overtraining(data: Mapping[str, Any], output: str, style: PlotStyle) -> Figure:
    """P(``output``) on training (filled) and test (points) events, own class and the rest."""
    edges = np.asarray(data["histograms"]["edges"], dtype=float)
    histograms = data["histograms"]["outputs"][output]
    pvalues = [r["ks_pvalue"] for r in data["overtraining"] if r["class"] == output]
    with styled_axes(style) as ax:
        for group, colour in (("own", "tab:blue"), ("rest", "tab:red")):
            label = output if group == "own" else "other classes"
            for kind, histtype in (("train", "fill"), ("test", "errorbar")):
                h = _grouped(histograms[kind], output, group)
                density, error = _density(h, edges)
                extra = {"alpha": 0.35} if histtype == "fill" else {"yerr": error}
                mplhep.histplot(density, edges, histtype=histtype, color=colour, flow="none",
                                label=f"{label} ({kind})", ax=ax, **extra)  # fmt: skip
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.4)
        ax.set_xlabel(f"Output P({output})")
        ax.set_ylabel("Normalised to unit area")
        title = f"KS p ({output}, train vs test): min {min(pvalues):.3g}" if pvalues else None
        ax.legend(loc="upper center", title=title)
    return ax.figure


def _grouped(by_class: Mapping[str, Mapping[str, list[float]]], output: str, group: str):
    """The histogram of the class ``output`` (own) or of every other class summed (rest)."""
    names = [n for n in by_class if (n == output) == (group == "own")]
    return {key: np.sum([by_class[n][key] for n in names], axis=0) for key in ("sumw", "sumw2")}


def draw_multiclass(
    evaluation_dir: str | os.PathLike[str],
    plot_dir: str | os.PathLike[str],
    style: PlotStyle,
    *,
    classifier: str | None = None,
) -> list[Path]:
    """Draw the multiclass plots of ``classifier`` (default: the first, the BDT) from
    ``evaluation_dir/multiclass.json`` into ``plot_dir`` (PDF and PNG); return the paths."""
    path = Path(evaluation_dir) / "multiclass.json"
    if not path.is_file():
        msg = f"{path} does not exist; run the evaluate_multiclass rule first"
        raise DataError(msg)
    content = json.loads(path.read_text(encoding="utf-8"))
    classifier = classifier or content["order"][0]
    data = content["classifiers"][classifier]
    draw = {
        "multiclass_roc": lambda: plot_multiclass_roc(data, style),
        "multiclass_confusion": lambda: plot_multiclass_confusion(data, style),
    }
    for name in data["classes"]:
        draw[f"multiclass_score_{name}"] = lambda n=name: plot_multiclass_scores(data, n, style)
        draw[f"multiclass_overtraining_{name}"] = lambda n=name: plot_multiclass_overtraining(
            data, n, style
        )
    written = [p for name, plot in draw.items() for p in save_figure(plot(), plot_dir, name, style)]
    log.info("drew %d multiclass plots into %s", len(written), plot_dir)
    return written
