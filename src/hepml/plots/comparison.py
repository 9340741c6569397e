"""Two or more runs drawn on one canvas: what changed between them.

- :func:`plot_roc_comparison`: each run's merged out-of-fold ROC curve (background rejection
  against signal efficiency, log scale) with its fold band, and the ratio to the first run;
- :func:`plot_score_comparison`: each run's out-of-fold score shapes of signal (solid) and
  background (dashed), at unit area.

The runs are plot data read back from each run's evaluation directory (``curves.json``,
``histograms.json``); one classifier per run (by default its first, the BDT).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from hepml.plotdata.performance import ClassifierRoc, ClassifierScores
from hepml.plots.performance import background_efficiency_at, rejection_of
from hepml.plots.style import PlotStyle, styled_axes, styled_panels

__all__ = ["plot_roc_comparison", "plot_score_comparison"]


def plot_roc_comparison(runs: Mapping[str, ClassifierRoc], style: PlotStyle) -> Figure:
    """Run label -> its classifier's ROC: the merged curves with fold bands, and each run's
    rejection over the first run's below (1: no change)."""
    grid = np.linspace(0.02, 1.0, 250)
    with styled_panels(style) as (main, lower):
        main.plot(grid, 1.0 / grid, ls=":", color="grey", label="Random")
        on_grid = []
        for i, (label, roc) in enumerate(runs.items()):
            colour = f"C{i % 10}"
            merged = roc.merged
            main.plot(
                merged.signal_efficiency,
                rejection_of(merged.background_efficiency),
                color=colour,
                label=f"{label} (AUC = {roc.auc:.4f} ± {roc.auc_std_over_folds:.4f})",
            )
            folds = np.array(
                [
                    rejection_of(
                        background_efficiency_at(f.signal_efficiency, f.background_efficiency, grid)
                    )
                    for f in roc.folds
                ]
            )
            main.fill_between(
                grid, np.fmin.reduce(folds, axis=0), np.fmax.reduce(folds, axis=0),
                color=colour, alpha=0.25, linewidth=0,
            )  # fmt: skip
            on_grid.append(
                rejection_of(
                    background_efficiency_at(
                        merged.signal_efficiency, merged.background_efficiency, grid
                    )
                )
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, rejection in enumerate(on_grid):
                lower.plot(grid, rejection / on_grid[0], color=f"C{i % 10}")
        lower.axhline(1.0, color="grey", linestyle=":")
        main.set_yscale("log")
        main.set_xlim(0, 1)
        main.set_ylabel("Background rejection")
        main.legend(loc="upper right", fontsize="small", title="band: fold min-max")
        lower.set_xlabel("Signal efficiency")
        lower.set_ylabel(f"Ratio to\n{next(iter(runs))}", fontsize="small")
        main.figure.align_ylabels([main, lower])
    return main.figure


def plot_score_comparison(runs: Mapping[str, ClassifierScores], style: PlotStyle) -> Figure:
    """Run label -> its classifier's score histograms: the out-of-fold (test) shapes of
    signal (solid) and background (dashed) of every run, each at unit area."""
    with styled_axes(style) as ax:
        top = 0.0
        for i, (label, scores) in enumerate(runs.items()):
            edges = np.asarray(scores.edges, dtype=float)
            for event_class, linestyle in (("signal", "-"), ("background", "--")):
                density, _ = scores.overtraining[event_class].test.unit_area(edges)
                ax.stairs(
                    density, edges, color=f"C{i % 10}", linestyle=linestyle, linewidth=2,
                    label=f"{label}: {event_class}",
                )  # fmt: skip
                top = max(top, float(np.nanmax(density)))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.5 * top)
        ax.set_xlabel("Classifier score (out of fold)")
        ax.set_ylabel("Unit area")
        ax.legend(loc="upper center", ncols=2, fontsize="small")
    return ax.figure
