"""Evaluation plots drawn from the plot data ``hepml.evaluate.tables.write_evaluation`` saved.

Every plot function takes plot-data objects (:mod:`hepml.plotdata.performance`: the content
of ``curves.json``, ``histograms.json``, ``significance.json``) and the rows of
``overtraining.csv``, draws on a ``matplotlib.figure.Figure`` (no pyplot state, no backend
choice) inside the experiment's mplhep style context, and returns the Figure. ``draw_all``
turns an evaluation directory into PDF and PNG files. The style (:class:`PlotStyle`) lives in
:mod:`hepml.plots.style`; the overtraining grid in :mod:`hepml.plots.overtraining`; the
significance, training and input-variable plots in :mod:`hepml.plots.training` and
:mod:`hepml.plots.inputs`.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plotdata.performance import (
    ClassifierRoc,
    ClassifierScores,
    RocCurves,
    ScoreHistograms,
    SignificanceScans,
)
from hepml.plots.overtraining import plot_overtraining
from hepml.plots.style import (
    PlotStyle,
    hatched_band,
    save_figure,
    style_from_config,
    styled_axes,
    styled_panels,
)
from hepml.plots.training import plot_cut_efficiencies, plot_significance

__all__ = [
    "PlotStyle",
    "draw_all",
    "plot_names",
    "plot_overtraining",
    "plot_roc",
    "plot_roc_tpr_fpr",
    "plot_score_distribution",
    "style_from_config",
]

log = logging.getLogger(__name__)

PLOT_NAMES = ("roc", "roc_tpr_fpr", "overtraining", "score", "score_log")
SIGNIFICANCE_PLOTS = ("significance", "cut_efficiencies")


def plot_names(baselines: Sequence[str] = ()) -> list[str]:
    """The plots ``draw_all`` writes (each as .pdf and .png): the BDT's, then one
    ``overtraining_<baseline>`` per baseline."""
    return [*PLOT_NAMES, *SIGNIFICANCE_PLOTS, *(f"overtraining_{b}" for b in baselines)]


def background_efficiency_at(tpr: Sequence[float], fpr: Sequence[float], grid: np.ndarray):
    """Background efficiency interpolated at ``grid`` signal efficiencies.

    Signed weights can make the curve step back; the running maximum of the signal
    efficiency (first point of each plateau, the lowest background efficiency) keeps
    ``np.interp``'s abscissa increasing.
    """
    tpr_monotone = np.maximum.accumulate(np.asarray(tpr, dtype=float))
    tpr_unique, first = np.unique(tpr_monotone, return_index=True)
    return np.interp(grid, tpr_unique, np.asarray(fpr, dtype=float)[first])


def rejection_of(background_efficiency: np.ndarray) -> np.ndarray:
    """1 / eff_B, NaN where no background passes (not drawable on a log axis)."""
    eff = np.asarray(background_efficiency, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(eff > 0, 1.0 / np.where(eff > 0, eff, 1.0), np.nan)


def _auc_label(name: str, roc: ClassifierRoc) -> str:
    return f"{name} (AUC = {roc.auc:.3f} ± {roc.auc_std_over_folds:.3f})"


def _draw_roc_curves(
    ax: Axes, classifiers: Mapping[str, ClassifierRoc], grid: np.ndarray
) -> dict[str, tuple[Any, np.ndarray]]:
    """Draw merged curves with fold bands; return name -> (colour, merged rejection on grid)."""
    ax.plot(grid, 1.0 / grid, ls=":", color="grey", label="Random")
    on_grid = {}
    for name, roc in classifiers.items():
        merged = roc.merged
        (line,) = ax.plot(
            merged.signal_efficiency,
            rejection_of(merged.background_efficiency),
            label=_auc_label(name, roc),
        )
        folds = np.array(
            [
                rejection_of(
                    background_efficiency_at(f.signal_efficiency, f.background_efficiency, grid)
                )
                for f in roc.folds
            ]
        )
        ax.fill_between(
            grid,
            np.fmin.reduce(folds, axis=0),
            np.fmax.reduce(folds, axis=0),
            color=line.get_color(),
            alpha=0.3,
            label=f"{name}: fold min-max",
        )
        merged_on_grid = background_efficiency_at(
            merged.signal_efficiency, merged.background_efficiency, grid
        )
        on_grid[name] = (line.get_color(), rejection_of(merged_on_grid))
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylabel("Background rejection (1 / background efficiency)")
    ax.legend(loc="upper right")
    return on_grid


def plot_roc(
    curves: RocCurves,
    style: PlotStyle,
    *,
    ax: Axes | None = None,
    ratio: bool | None = None,
) -> Figure:
    """Background rejection (1/eff_B, log) against signal efficiency, one curve per classifier.

    The line is the merged out-of-fold curve; the band spans the minimum to the maximum over
    the per-fold curves, interpolated on a common signal-efficiency grid. The legend gives
    the merged AUC +- the standard deviation over folds. ``ratio`` adds a lower panel with
    each classifier's rejection divided by the reference's (the first classifier); by
    default it is drawn when there are several classifiers and no ``ax`` is given.
    """
    classifiers = curves.classifiers
    if ratio is None:
        ratio = ax is None and len(classifiers) > 1
    if ratio and ax is not None:
        msg = "a ROC plot with a ratio panel makes its own Figure; do not pass ax"
        raise ValueError(msg)
    grid = np.linspace(0.02, 1.0, 250)
    if not ratio:
        with styled_axes(style, ax) as ax:
            _draw_roc_curves(ax, classifiers, grid)
            ax.set_xlabel("Signal efficiency")
        return ax.figure
    with styled_panels(style) as (main, lower):
        on_grid = _draw_roc_curves(main, classifiers, grid)
        reference, (_, reference_rejection) = next(iter(on_grid.items()))
        for colour, rejection in on_grid.values():
            with np.errstate(divide="ignore", invalid="ignore"):
                lower.plot(grid, rejection / reference_rejection, color=colour)
        lower.axhline(1.0, color="grey", linestyle=":")
        lower.set_xlabel("Signal efficiency")
        main.set_ylabel("Background rejection")  # the long label would run into the panel
        lower.set_ylabel(f"Ratio to\n{reference}", fontsize="small")
        main.figure.align_ylabels([main, lower])
    return main.figure


def plot_roc_tpr_fpr(curves: RocCurves, style: PlotStyle, *, ax: Axes | None = None) -> Figure:
    """The textbook ROC: true positive rate against false positive rate, with the diagonal."""
    with styled_axes(style, ax) as ax:
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="Random")
        for name, roc in curves.classifiers.items():
            ax.plot(
                roc.merged.background_efficiency,
                roc.merged.signal_efficiency,
                label=_auc_label(name, roc),
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("False positive rate (background efficiency)")
        ax.set_ylabel("True positive rate (signal efficiency)")
        ax.legend(loc="lower right")
    return ax.figure


def _signal_scale(signal_total: float, background_total: float) -> float:
    """A power of ten that brings the signal yield near the background's, for visibility."""
    if signal_total <= 0 or background_total <= signal_total:
        return 1.0
    return 10.0 ** round(math.log10(background_total / signal_total))


def _draw_backgrounds(
    ax: Axes, scores: ClassifierScores, edges: np.ndarray, style: PlotStyle
) -> np.ndarray:
    """Stack the background processes in the style's order (configured ``order``, then by
    increasing yield) with a hatched stat. uncertainty band; return every drawn bin height."""
    backgrounds = {n: p.histogram for n, p in scores.processes.items() if p.label == 0}
    names = style.stack_order({n: h.total for n, h in backgrounds.items()})
    stack = [backgrounds[n].sumw for n in names]
    total = np.sum(stack, axis=0)
    error = np.sqrt(np.sum([backgrounds[n].sumw2 for n in names], axis=0))
    mplhep.histplot(
        stack,
        edges,
        stack=True,
        histtype="fill",
        label=[style.process_label(n) for n in names],
        color=[style.process_colour(n, i) for i, n in enumerate(names)],
        flow="none",
        ax=ax,
    )
    hatched_band(ax, total - error, total + error, edges, "Background stat. unc.")
    return np.concatenate([total + error, *stack])


def _draw_signal(
    ax: Axes, scores: ClassifierScores, edges: np.ndarray, background_total: float, style
) -> np.ndarray:
    """Draw the summed signal processes as a line, scaled to be visible; return its bins."""
    names = [name for name, p in scores.processes.items() if p.label == 1]
    signal = np.sum([scores.processes[n].histogram.sumw for n in names], axis=0)
    scale = _signal_scale(float(signal.sum()), background_total)
    labels = [style.process_label(n) for n in names]
    name = " + ".join(labels) if len(names) <= 2 else "Signal"
    mplhep.histplot(
        signal * scale,
        edges,
        histtype="step",
        color="black",
        linewidth=2,
        flow="none",
        label=f"{name} × {scale:g}" if scale != 1 else name,
        ax=ax,
    )
    return signal * scale


def plot_score_distribution(
    scores: ClassifierScores,
    style: PlotStyle,
    *,
    log: bool = False,
    cut: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Out-of-fold scores in expected events: backgrounds stacked by process, signal as a line.

    ``scores`` is one classifier's score histograms. Processes are named, coloured and
    stacked as the style says (the config's ``processes``). The signal is scaled by a power
    of ten (given in the legend) so it is visible; the hatched band is the statistical
    uncertainty of the total background; ``cut`` draws a vertical line at a score threshold.
    """
    edges = np.asarray(scores.edges, dtype=float)
    background_total = sum(p.histogram.total for p in scores.processes.values() if p.label == 0)
    with styled_axes(style, ax, lumi=True) as ax:
        heights = _draw_backgrounds(ax, scores, edges, style)
        heights = np.r_[heights, _draw_signal(ax, scores, edges, background_total, style)]
        if cut is not None:
            ax.axvline(cut, color="grey", linestyle="--", label=f"score > {cut:g}")
        _set_score_yscale(ax, heights, log=log)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("Classifier score")
        ax.set_ylabel("Expected events / bin")
        ax.legend(loc="upper center", ncols=2)
    return ax.figure


def _set_score_yscale(ax: Axes, heights: np.ndarray, *, log: bool) -> None:
    """Y range with headroom for the legend; on a log axis from the smallest positive bin."""
    top = float(np.max(heights)) if heights.size else 1.0
    if not log:
        ax.set_ylim(0, 1.5 * top)
        return
    positive = heights[heights > 0]
    bottom = float(positive.min()) / 2 if positive.size else 1e-3
    ax.set_yscale("log")
    ax.set_ylim(bottom, top * (top / bottom) ** 0.6)


def read_overtraining_rows(path: Path) -> list[dict[str, str]]:
    """The rows of overtraining.csv (DataError naming the rule when it is absent)."""
    if not path.is_file():
        msg = f"'{path}' does not exist; run the evaluate rule first"
        raise DataError(msg)
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def draw_all(
    evaluation_dir: str | os.PathLike[str],
    plot_dir: str | os.PathLike[str],
    style: PlotStyle,
    *,
    classifier: str | None = None,
    cut: float | None = None,
) -> list[Path]:
    """Draw every evaluation plot as PDF and PNG into ``plot_dir``; return the paths.

    Files: roc, roc_tpr_fpr (all classifiers); overtraining, score, score_log, significance
    and cut_efficiencies for ``classifier``, by default the first evaluated (the BDT); and
    ``overtraining_<name>`` for every other classifier (the baselines). ``cut`` is marked on
    the score plots; by default the optimal cut of significance.json, if any.
    """
    evaluation_dir = Path(evaluation_dir)
    curves = RocCurves.read(evaluation_dir / "curves.json")
    histograms = ScoreHistograms.read(evaluation_dir / "histograms.json")
    scans = SignificanceScans.read(evaluation_dir / "significance.json")
    ks_rows = read_overtraining_rows(evaluation_dir / "overtraining.csv")
    classifier = classifier or histograms.names[0]
    scores = histograms[classifier]
    scan = scans.classifiers.get(classifier)
    if cut is None and scan is not None and scan.optimum is not None:
        cut = scan.optimum["cut"]

    def overtraining(name: str):
        rows = [row for row in ks_rows if row["classifier"] == name]
        return lambda: plot_overtraining(histograms[name], rows, style, classifier=name)

    draw = {
        "roc": lambda: plot_roc(curves, style),
        "roc_tpr_fpr": lambda: plot_roc_tpr_fpr(curves, style),
        "overtraining": overtraining(classifier),
        "score": lambda: plot_score_distribution(scores, style, cut=cut),
        "score_log": lambda: plot_score_distribution(scores, style, log=True, cut=cut),
    }
    if scan is not None:
        draw["significance"] = lambda: plot_significance(scan, style)
        draw["cut_efficiencies"] = lambda: plot_cut_efficiencies(scan, style)
    for name in histograms.names:
        if name != classifier:
            draw[f"overtraining_{name}"] = overtraining(name)
    written = [
        path for name, plot in draw.items() for path in save_figure(plot(), plot_dir, name, style)
    ]
    log.info("drew %d plots for %s into %s", len(written), classifier, plot_dir)
    return written
