"""Plots of the input variables: signal vs background shapes, correlation matrices, and
collision data against the MC prediction (with a ratio panel, the signal region blinded).

The functions take plot data (:mod:`hepml.plotdata.inputs`: one feature of
``input_variables.json``, the matrices of ``correlations.json``, one variable of
``data_mc.json``) and return a Figure; ``draw_inputs`` / ``draw_data_mc`` write every plot
as PDF and PNG. Axis labels, process names and colours come from the style (the config),
never from the data files. The flow bins and their tick labels are drawn here
(:mod:`hepml.plots.flow`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.plotdata.inputs import (
    Correlations,
    DataMC,
    DataMCVariable,
    InputVariable,
    InputVariables,
)
from hepml.plots.flow import draw_flow_hist, flow_edges, has_flow, label_flow_ticks
from hepml.plots.style import (
    CLASS_COLOURS,
    PlotStyle,
    hatched_band,
    save_figure,
    styled_axes,
    styled_panels,
)

__all__ = [
    "LOG_DECADES",
    "draw_data_mc",
    "draw_inputs",
    "plot_correlation",
    "plot_data_mc",
    "plot_input_variable",
    "spans_decades",
]

log = logging.getLogger(__name__)

LOG_DECADES = 3.0  # shapes spanning more than this many decades get a log y axis (auto)


def _nan_note(data: InputVariable) -> str:
    """'NaN (not shown): 12% of signal, 3% of background' (empty when no class has NaN)."""
    parts = [
        f"{100 * h.nan_fraction:.3g}% of {name}"
        for name, h in data.classes.items()
        if h.nan_events and h.events
    ]
    return "NaN (not shown): " + ", ".join(parts) if parts else ""


def spans_decades(heights: np.ndarray, decades: float = LOG_DECADES) -> bool:
    """True when the positive ``heights`` span more than ``decades`` powers of ten."""
    positive = heights[np.isfinite(heights) & (heights > 0)]
    return positive.size > 1 and np.log10(positive.max() / positive.min()) > decades


def plot_input_variable(
    name: str,
    data: InputVariable,
    style: PlotStyle,
    *,
    log_y: bool | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Signal and background shapes of feature ``name``, each normalised to unit sum over its
    non-NaN events, with the underflow and overflow as extra bins at the ends (drawn only when
    some class has events there, labelled with the rounded edge values).

    ``log_y``: logarithmic y axis; None (the style's choice for the feature, else automatic)
    takes it when the shapes span more than LOG_DECADES decades. The fraction of NaN
    (missing) values of each class is given in the legend title.
    """
    flow = has_flow(data.classes.values())
    edges = flow_edges(data.edges) if flow else np.asarray(data.edges, dtype=float)
    drawn = []
    with styled_axes(style, ax) as ax:
        for cls, colour in CLASS_COLOURS.items():
            h = data.classes[cls]
            total = float(np.sum(h.sumw))
            if not total > 0:
                log.warning("%s has no positive %s yield to draw", name, cls)
                continue
            sumw = h.sumw if flow else h.sumw[1:-1]
            sumw2 = h.sumw2 if flow else h.sumw2[1:-1]
            draw_flow_hist(
                ax, sumw / total, np.sqrt(sumw2) / total, edges, colour=colour,
                filled=cls == "background", label=cls.capitalize(),
            )  # fmt: skip
            drawn.append(sumw / total)
        heights = np.concatenate(drawn) if drawn else np.zeros(1)
        use_log = style.feature_log.get(name) if log_y is None else log_y
        if use_log is None:
            use_log = spans_decades(heights)
        _set_y_range(ax, heights, log=use_log)
        ax.set_xlim(edges[0], edges[-1])
        if flow:
            label_flow_ticks(ax, data.edges)
        ax.set_xlabel(style.feature_label(name))
        ax.set_ylabel("Fraction of events / bin")
        ax.legend(loc="upper right", title=_nan_note(data) or None, fontsize="small")
    return ax.figure


def _set_y_range(ax: Axes, heights: np.ndarray, *, log: bool) -> None:
    """Headroom for the legend: linear from 0, or log from half the smallest positive bin."""
    finite = heights[np.isfinite(heights)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if not log:
        ax.set_ylim(0, top * 1.35)
        return
    positive = finite[finite > 0]
    bottom = float(positive.min()) / 2 if positive.size else top * 1e-3
    ax.set_yscale("log")
    ax.set_ylim(bottom, top * (top / bottom) ** 0.4)


def plot_correlation(
    correlations: Correlations,
    event_class: str,
    style: PlotStyle,
    *,
    ax: Axes | None = None,
) -> Figure:
    """A linear correlation matrix in per cent, coloured from -100 (blue) to +100 (red), every
    cell's value written large enough to read (white on the dark cells)."""
    values = np.asarray(correlations.matrices[event_class], dtype=float) * 100
    features = [style.feature_label(f) for f in correlations.features]
    n = len(features)
    size = max(8.0, 0.75 * n + 3)
    fontsize = float(np.clip(250 / max(n, 1), 8, 20))  # points: about a third of a cell
    with styled_axes(style, ax, figsize=(size, size)) as ax:
        image = ax.imshow(values, cmap="coolwarm", vmin=-100, vmax=100, origin="upper")
        for i in range(n):
            for j in range(n):
                if np.isfinite(values[i, j]):
                    ax.text(
                        j, i, f"{round(values[i, j]):d}",  # round: no "-0"
                        ha="center", va="center", fontsize=fontsize,
                        color="white" if abs(values[i, j]) > 60 else "black",
                    )  # fmt: skip
        ax.set_xticks(range(n), features, rotation=90, fontsize="small")
        ax.set_yticks(range(n), features, fontsize="small")
        ax.minorticks_off()
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
        bar.set_label(f"Linear correlation (%): {event_class}")
    return ax.figure


def _fold_flow(values: np.ndarray) -> np.ndarray:
    """Add the underflow to the first and the overflow to the last visible bin."""
    folded = np.array(values[1:-1], dtype=float)
    folded[0] += np.nan_to_num(values[0])
    folded[-1] += np.nan_to_num(values[-1])
    return folded


def _draw_mc_and_data(main: Axes, var: DataMCVariable, style: PlotStyle):
    """Stack the MC (backgrounds in the style's order, the signal on top) and the data
    points; return (mc, mc_error, data, data_error, shown)."""
    edges = np.asarray(var.edges, dtype=float)
    processes = var.processes
    backgrounds = style.stack_order(
        {n: p.histogram.total for n, p in processes.items() if p.label == 0}
    )
    signals = [n for n, p in processes.items() if p.label == 1]
    names = backgrounds + signals  # the signal stacked on top: the prediction is S + B
    stack = [_fold_flow(processes[n].histogram.sumw) for n in names]
    mc = np.sum(stack, axis=0)
    mc_error = np.sqrt(sum(_fold_flow(p.histogram.sumw2) for p in processes.values()))
    data, data_error = _fold_flow(var.data.sumw), np.sqrt(_fold_flow(var.data.sumw2))
    mplhep.histplot(
        stack, edges, stack=True, histtype="fill", ax=main,
        label=[style.process_label(n) for n in names],
        color=[style.process_colour(n, i) for i, n in enumerate(names)],
    )  # fmt: skip
    hatched_band(main, mc - mc_error, mc + mc_error, edges, "MC stat. unc.")
    centres = 0.5 * (edges[1:] + edges[:-1])
    shown = np.isfinite(data)
    main.errorbar(
        centres[shown], data[shown], yerr=data_error[shown], fmt="o", color="black",
        markersize=4, label="Data",
    )  # fmt: skip
    return mc, mc_error, data, data_error, shown


def plot_data_mc(
    var: DataMCVariable,
    style: PlotStyle,
    *,
    xlabel: str = "Classifier score",
    log: bool = False,
    blind_above: float | None = None,
) -> Figure:
    """Stacked MC backgrounds, the signal on top, data as points, and data/MC below.

    Under/overflow are added to the first/last bin. Data bins that are NaN (blinded) are not
    drawn; ``blind_above`` shades the blinded score region. The hatched band is the MC
    statistical uncertainty. Expected yields: the label gives the luminosity.
    """
    edges = np.asarray(var.edges, dtype=float)
    with styled_panels(style, data=True, lumi=True) as (main, lower):
        mc, mc_error, data, data_error, shown = _draw_mc_and_data(main, var, style)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ratio = shown & (mc > 0)  # signed MC weights can leave a bin without positive yield
        with np.errstate(divide="ignore", invalid="ignore"):
            lower.errorbar(
                centres[ratio], (data / mc)[ratio], yerr=(data_error / mc)[ratio], fmt="o",
                color="black", markersize=4,
            )  # fmt: skip
            band = np.where(mc > 0, mc_error / mc, np.nan)
        hatched_band(lower, 1 - band, 1 + band, edges)
        lower.axhline(1.0, color="grey", linestyle=":")
        if blind_above is not None:
            for axis in (main, lower):
                axis.axvspan(blind_above, edges[-1], color="grey", alpha=0.2, linewidth=0)
            main.plot([], [], color="grey", alpha=0.2, linewidth=8, label="Blinded")
        top = float(np.nanmax(np.r_[mc + mc_error, data[shown], 1e-9]))
        if log:
            positive = mc[mc > 0]
            bottom = float(positive.min()) / 3 if positive.size else 1e-3
            main.set_yscale("log")
            main.set_ylim(bottom, top * (top / bottom) ** 0.6)
        else:
            main.set_ylim(0, top * 1.8)
        main.set_xlim(edges[0], edges[-1])
        main.set_ylabel("Events / bin")
        main.legend(loc="upper right", ncols=2, fontsize="small", title=var.region)
        _set_ratio_range(lower, (data / np.where(mc > 0, mc, np.nan))[shown])
        lower.set_ylabel("Data / MC", fontsize="small")
        lower.set_xlabel(xlabel)
    return main.figure


def _set_ratio_range(ax: Axes, ratios: np.ndarray) -> None:
    """0.5 to 1.5, widened (up to 0 to 3) so that every data/MC point stays visible."""
    ratios = ratios[np.isfinite(ratios)]
    low = min(0.5, float(ratios.min()) * 0.9) if ratios.size else 0.5
    high = max(1.5, float(ratios.max()) * 1.1) if ratios.size else 1.5
    ax.set_ylim(max(low, 0.0), min(high, 3.0))


def draw_inputs(
    evaluation_dir: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw inputs/<feature> and correlation_signal/_background (PDF + PNG) into plot_dir."""
    evaluation_dir, plot_dir = Path(evaluation_dir), Path(plot_dir)
    variables = InputVariables.read(evaluation_dir / "input_variables.json")
    correlations = Correlations.read(evaluation_dir / "correlations.json")
    written = []
    for name, feature_data in variables.features.items():
        fig = plot_input_variable(name, feature_data, style)
        written += save_figure(fig, plot_dir / "inputs", name, style)
    for cls in ("signal", "background"):
        fig = plot_correlation(correlations, cls, style)
        written += save_figure(fig, plot_dir, f"correlation_{cls}", style)
    log.info("drew %d input-variable plots into %s", len(written), plot_dir)
    return written


def draw_data_mc(
    evaluation_dir: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw data_mc/<feature> and data_mc_score (PDF + PNG) from data_mc.json."""
    evaluation_dir, plot_dir = Path(evaluation_dir), Path(plot_dir)
    content = DataMC.read(evaluation_dir / "data_mc.json")
    written = []
    for name, var in content.variables.items():
        fig = plot_data_mc(var, style, xlabel=style.feature_label(name))
        written += save_figure(fig, plot_dir / "data_mc", name, style)
    fig = plot_data_mc(content.score, style, log=True, blind_above=content.blind_above)
    written += save_figure(fig, plot_dir, "data_mc_score", style)
    log.info("drew %d data/MC plots into %s", len(written), plot_dir)
    return written
