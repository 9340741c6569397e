"""Evaluation plots drawn from the data ``hepml.evaluate.performance.write_evaluation`` saved.

Every plot function takes plain dicts/arrays (the content of ``curves.json``,
``histograms.json``, ``overtraining.csv`` and ``significance.json``), draws on a
``matplotlib.figure.Figure`` (no pyplot state, no backend choice) inside the experiment's
mplhep style context, and returns the Figure. ``draw_all`` turns an evaluation directory into
PDF and PNG files. The style (:class:`PlotStyle`) lives in :mod:`hepml.plots.style`; the
significance, training and input-variable plots in :mod:`hepml.plots.training` and
:mod:`hepml.plots.inputs`.
"""

from __future__ import annotations

import csv
import json
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

from hepml.exceptions import DataError, did_you_mean
from hepml.plots.style import (
    CLASS_COLOURS,
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
    "plot_overtraining",
    "plot_roc",
    "plot_roc_tpr_fpr",
    "plot_score_distribution",
    "style_from_config",
]

log = logging.getLogger(__name__)

PLOT_NAMES = ("roc", "roc_tpr_fpr", "overtraining", "score", "score_log")
SIGNIFICANCE_PLOTS = ("significance", "cut_efficiencies")


def _signal_efficiency_grid(tpr: Sequence[float], fpr: Sequence[float], grid: np.ndarray):
    """Background efficiency interpolated at ``grid`` signal efficiencies.

    Signed weights can make the curve step back; the running maximum of the signal
    efficiency (first point of each plateau, the lowest background efficiency) keeps
    ``np.interp``'s abscissa increasing.
    """
    tpr_monotone = np.maximum.accumulate(np.asarray(tpr, dtype=float))
    tpr_unique, first = np.unique(tpr_monotone, return_index=True)
    return np.interp(grid, tpr_unique, np.asarray(fpr, dtype=float)[first])


def _rejection(background_efficiency: np.ndarray) -> np.ndarray:
    """1 / eff_B, NaN where no background passes (not drawable on a log axis)."""
    eff = np.asarray(background_efficiency, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(eff > 0, 1.0 / np.where(eff > 0, eff, 1.0), np.nan)


def _classifiers(curves_data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The per-classifier part of curves.json (accepts the whole file or that part), in the
    evaluation's order (the file's ``order``; its keys are sorted)."""
    classifiers = curves_data.get("classifiers", curves_data)
    order = curves_data.get("order") or list(classifiers)
    return {name: classifiers[name] for name in order if name in classifiers}


def _draw_roc_curves(
    ax: Axes, classifiers: Mapping[str, Any], grid: np.ndarray
) -> dict[str, tuple[Any, np.ndarray]]:
    """Draw merged curves with fold bands; return name -> (colour, merged rejection on grid)."""
    ax.plot(grid, 1.0 / grid, ls=":", color="grey", label="Random")
    on_grid = {}
    for name, data in classifiers.items():
        merged = data["merged"]
        (line,) = ax.plot(
            merged["signal_efficiency"],
            _rejection(merged["background_efficiency"]),
            label=f"{name} (AUC = {data['auc']:.3f} ± {data['auc_std_over_folds']:.3f})",
        )
        folds = np.array(
            [
                _rejection(
                    _signal_efficiency_grid(
                        f["signal_efficiency"], f["background_efficiency"], grid
                    )
                )
                for f in data["folds"]
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
        merged_on_grid = _signal_efficiency_grid(
            merged["signal_efficiency"], merged["background_efficiency"], grid
        )
        on_grid[name] = (line.get_color(), _rejection(merged_on_grid))
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylabel("Background rejection (1 / background efficiency)")
    ax.legend(loc="upper right")
    return on_grid


def plot_roc(
    curves_data: Mapping[str, Any],
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
    classifiers = _classifiers(curves_data)
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


def plot_roc_tpr_fpr(
    curves_data: Mapping[str, Any], style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """The textbook ROC: true positive rate against false positive rate, with the diagonal."""
    with styled_axes(style, ax) as ax:
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="Random")
        for name, data in _classifiers(curves_data).items():
            merged = data["merged"]
            ax.plot(
                merged["background_efficiency"],
                merged["signal_efficiency"],
                label=f"{name} (AUC = {data['auc']:.3f} ± {data['auc_std_over_folds']:.3f})",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("False positive rate (background efficiency)")
        ax.set_ylabel("True positive rate (signal efficiency)")
        ax.legend(loc="lower right")
    return ax.figure


def _normalised(sumw: Sequence[float], sumw2: Sequence[float], edges: np.ndarray):
    """(density, its uncertainty) of a weighted histogram scaled to unit area."""
    sumw, sumw2 = np.asarray(sumw, dtype=float), np.asarray(sumw2, dtype=float)
    area = sumw.sum() * np.diff(edges)
    if not np.all(area > 0):
        msg = "a score histogram has a non-positive total weight; cannot normalise it"
        raise DataError(msg)
    return sumw / area, np.sqrt(sumw2) / area


def _min_ks_pvalue(ks_rows: Sequence[Mapping[str, Any]], event_class: str) -> float:
    """Smallest KS p-value over folds for one class (NaN when no row has that class)."""
    pvalues = [float(row["ks_pvalue"]) for row in ks_rows if row["class"] == event_class]
    return min(pvalues) if pvalues else math.nan


def plot_overtraining(
    hist_data: Mapping[str, Any],
    ks_rows: Sequence[Mapping[str, Any]],
    style: PlotStyle,
    *,
    ax: Axes | None = None,
) -> Figure:
    """TMVA-style overtraining plot: train as filled histograms, test as points.

    ``hist_data`` is one classifier's entry of histograms.json, ``ks_rows`` its rows of
    overtraining.csv. Shapes are normalised to unit area; the legend shows, per class, the
    smallest KS p-value over the folds (the most significant train/test difference).
    """
    edges = np.asarray(hist_data["edges"], dtype=float)
    n_folds = len({row["fold"] for row in ks_rows})
    with styled_axes(style, ax) as ax:
        for event_class, colour in CLASS_COLOURS.items():
            train = hist_data["overtraining"][event_class]["train"]
            test = hist_data["overtraining"][event_class]["test"]
            density, _ = _normalised(train["sumw"], train["sumw2"], edges)
            mplhep.histplot(
                density,
                edges,
                histtype="fill",
                alpha=0.35,
                color=colour,
                flow="none",
                label=f"{event_class.capitalize()} (train)",
                ax=ax,
            )
            density, error = _normalised(test["sumw"], test["sumw2"], edges)
            pvalue = _min_ks_pvalue(ks_rows, event_class)
            mplhep.histplot(
                density,
                edges,
                yerr=error,
                histtype="errorbar",
                color=colour,
                flow="none",
                label=f"{event_class.capitalize()} (test), KS p = {pvalue:.3g}",
                ax=ax,
            )
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.4)
        ax.set_xlabel("Classifier score")
        ax.set_ylabel("Normalised to unit area")
        ax.legend(title=f"KS p-value: minimum over {n_folds} folds", loc="upper center")
    return ax.figure


def _signal_scale(signal_total: float, background_total: float) -> float:
    """A power of ten that brings the signal yield near the background's, for visibility."""
    if signal_total <= 0 or background_total <= signal_total:
        return 1.0
    return 10.0 ** round(math.log10(background_total / signal_total))


def _draw_backgrounds(ax: Axes, processes: Mapping[str, Any], edges: np.ndarray) -> np.ndarray:
    """Stack the background processes (largest on top) with a hatched stat. uncertainty band.

    Returns every drawn bin height, for choosing the y range.
    """
    names = sorted(
        (name for name, p in processes.items() if p["label"] == 0),
        key=lambda name: sum(processes[name]["sumw"]),
    )
    stack = [np.asarray(processes[n]["sumw"], dtype=float) for n in names]
    total = np.sum(stack, axis=0)
    error = np.sqrt(np.sum([processes[n]["sumw2"] for n in names], axis=0))
    mplhep.histplot(stack, edges, stack=True, histtype="fill", label=names, flow="none", ax=ax)
    hatched_band(ax, total - error, total + error, edges, "Background stat. unc.")
    return np.concatenate([total + error, *stack])


def _draw_signal(
    ax: Axes, processes: Mapping[str, Any], edges: np.ndarray, background_total: float
) -> np.ndarray:
    """Draw the summed signal processes as a line, scaled to be visible; return its bins."""
    names = [name for name, p in processes.items() if p["label"] == 1]
    signal = np.sum([processes[n]["sumw"] for n in names], axis=0)
    scale = _signal_scale(float(signal.sum()), background_total)
    name = " + ".join(names) if len(names) <= 2 else "Signal"
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
    hist_data: Mapping[str, Any],
    style: PlotStyle,
    *,
    log: bool = False,
    cut: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Out-of-fold scores in expected events: backgrounds stacked by process, signal as a line.

    ``hist_data`` is one classifier's entry of histograms.json. The signal is scaled by a
    power of ten (given in the legend) so it is visible; the hatched band is the statistical
    uncertainty of the total background; ``cut`` draws a vertical line at a score threshold.
    """
    edges = np.asarray(hist_data["edges"], dtype=float)
    processes = hist_data["processes"]
    background_total = sum(sum(p["sumw"]) for p in processes.values() if p["label"] == 0)
    with styled_axes(style, ax) as ax:
        heights = _draw_backgrounds(ax, processes, edges)
        heights = np.r_[heights, _draw_signal(ax, processes, edges, background_total)]
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


def _read_evaluation(evaluation_dir: Path) -> tuple[dict, dict, list[dict[str, str]]]:
    """Load curves.json, histograms.json and overtraining.csv from ``evaluation_dir``."""
    paths = [evaluation_dir / n for n in ("curves.json", "histograms.json", "overtraining.csv")]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        msg = f"{evaluation_dir} lacks {missing}; run the evaluation stage first"
        raise DataError(msg)
    curves = json.loads(paths[0].read_text(encoding="utf-8"))
    histograms = json.loads(paths[1].read_text(encoding="utf-8"))
    with paths[2].open(newline="", encoding="utf-8") as stream:
        ks_rows = list(csv.DictReader(stream))
    return curves, histograms, ks_rows


def _read_significance(evaluation_dir: Path) -> dict[str, Any]:
    """The per-classifier entries of significance.json ({} when the file is absent)."""
    path = evaluation_dir / "significance.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["classifiers"]


def draw_all(
    evaluation_dir: str | os.PathLike[str],
    plot_dir: str | os.PathLike[str],
    style: PlotStyle,
    *,
    classifier: str | None = None,
    cut: float | None = None,
) -> list[Path]:
    """Draw every evaluation plot as PDF and PNG into ``plot_dir``; return the paths.

    Files: roc, roc_tpr_fpr (all classifiers), overtraining, score, score_log (for
    ``classifier``, by default the first evaluated, e.g. the BDT) with suffix .pdf and .png; with
    a significance.json also significance and cut_efficiencies. ``cut`` is marked on the
    score plots; by default the optimal cut of significance.json, if any.
    """
    evaluation_dir = Path(evaluation_dir)
    curves, histograms, ks_rows = _read_evaluation(evaluation_dir)
    names = list(_classifiers(histograms))
    classifier = classifier or names[0]
    if classifier not in names:
        msg = f"no histograms for classifier '{classifier}'; have {names}."
        raise DataError(msg + did_you_mean(classifier, names))
    hist_data = histograms["classifiers"][classifier]
    ks_rows = [row for row in ks_rows if row["classifier"] == classifier]
    sig_data = _read_significance(evaluation_dir).get(classifier)
    if cut is None and sig_data is not None and sig_data["optimum"] is not None:
        cut = sig_data["optimum"]["cut"]
    draw = {
        "roc": lambda: plot_roc(curves, style),
        "roc_tpr_fpr": lambda: plot_roc_tpr_fpr(curves, style),
        "overtraining": lambda: plot_overtraining(hist_data, ks_rows, style),
        "score": lambda: plot_score_distribution(hist_data, style, cut=cut),
        "score_log": lambda: plot_score_distribution(hist_data, style, log=True, cut=cut),
    }
    if sig_data is not None:
        draw["significance"] = lambda: plot_significance(sig_data, style)
        draw["cut_efficiencies"] = lambda: plot_cut_efficiencies(sig_data, style)
    written = [
        path for name, plot in draw.items() for path in save_figure(plot(), plot_dir, name, style)
    ]
    log.info("drew %d plots for %s into %s", len(written), classifier, plot_dir)
    return written
