"""Plots of the input variables: signal vs background shapes, correlation matrices, and
collision data against the MC prediction (with a ratio panel, the signal region blinded).

The functions take the content of ``input_variables.json``, ``correlations.json`` and
``data_mc.json`` (one feature's entry, or one matrix) and return a Figure;
``draw_inputs`` / ``draw_data_mc`` write every plot as PDF and PNG.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hist
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plots.style import (
    CLASS_COLOURS,
    PlotStyle,
    hatched_band,
    save_figure,
    styled_axes,
    styled_panels,
)

__all__ = [
    "draw_data_mc",
    "draw_inputs",
    "plot_correlation",
    "plot_data_mc",
    "plot_input_variable",
]

log = logging.getLogger(__name__)


def _array(values: Sequence[float | None]) -> np.ndarray:
    """A float array from JSON values (None -> NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _flow_hist(edges: Sequence[float], sumw: np.ndarray, sumw2: np.ndarray) -> hist.Hist:
    """A ``hist.Hist`` holding ``sumw``/``sumw2`` including the flow bins (for mplhep)."""
    h = hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight())
    view = h.view(flow=True)
    view.value, view.variance = sumw, sumw2
    return h


def _nan_note(classes: Mapping[str, Mapping[str, Any]]) -> str:
    """'NaN: 12% of signal, 3% of background' (empty when no class has NaN)."""
    parts = [
        f"{100 * c['nan_events'] / c['events']:.3g}% of {name}"
        for name, c in classes.items()
        if c["nan_events"] and c["events"]
    ]
    return "NaN (not shown): " + ", ".join(parts) if parts else ""


def plot_input_variable(
    feature_data: Mapping[str, Any], style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """Signal and background shapes of one feature, each normalised to unit sum over its
    non-NaN events, with the underflow and overflow as extra bins at the ends.

    ``feature_data`` is one entry of input_variables.json (``label``, ``edges``,
    ``classes`` with ``sumw``/``sumw2`` including flow, ``nan_events``, ``events``). The
    fraction of NaN (missing) values of each class is given in the legend title.
    """
    edges = feature_data["edges"]
    classes = feature_data["classes"]
    with styled_axes(style, ax) as ax:
        for name, colour in CLASS_COLOURS.items():
            sumw = np.asarray(classes[name]["sumw"], dtype=float)
            total = sumw.sum()
            if not total > 0:
                log.warning("%s has no positive %s yield to draw", feature_data["label"], name)
                continue
            sumw2 = np.asarray(classes[name]["sumw2"], dtype=float)
            mplhep.histplot(
                _flow_hist(edges, sumw / total, sumw2 / total**2),
                flow="show",
                histtype="fill" if name == "background" else "step",
                alpha=0.35 if name == "background" else 1.0,
                color=colour,
                linewidth=2,
                yerr=name == "signal",
                label=name.capitalize(),
                ax=ax,
            )
        ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
        ax.set_xlabel(feature_data["label"])
        ax.set_ylabel("Fraction of events / bin")
        ax.legend(loc="upper right", title=_nan_note(classes) or None, fontsize="small")
    return ax.figure


def plot_correlation(
    matrix: Sequence[Sequence[float | None]],
    features: Sequence[str],
    style: PlotStyle,
    *,
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """A linear correlation matrix in per cent, coloured from -100 (blue) to +100 (red)."""
    values = np.array([_array(row) for row in matrix]) * 100
    n = len(features)
    size = max(8.0, 0.6 * n + 3)
    with styled_axes(style, ax, figsize=(size, size)) as ax:
        image = ax.imshow(values, cmap="coolwarm", vmin=-100, vmax=100, origin="upper")
        for i in range(n):
            for j in range(n):
                if np.isfinite(values[i, j]):
                    text = f"{round(values[i, j]):d}"  # round: no "-0"
                    ax.text(j, i, text, ha="center", va="center", fontsize=9)
        ax.set_xticks(range(n), features, rotation=90, fontsize="small")
        ax.set_yticks(range(n), features, fontsize="small")
        ax.minorticks_off()
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
        bar.set_label(f"Linear correlation (%){': ' + title if title else ''}")
    return ax.figure


def _fold_flow(values: np.ndarray) -> np.ndarray:
    """Add the underflow to the first and the overflow to the last visible bin."""
    folded = np.array(values[1:-1], dtype=float)
    folded[0] += np.nan_to_num(values[0])
    folded[-1] += np.nan_to_num(values[-1])
    return folded


def plot_data_mc(
    var_data: Mapping[str, Any],
    style: PlotStyle,
    *,
    log: bool = False,
    blind_above: float | None = None,
) -> Figure:
    """Stacked MC backgrounds, the signal as a line, data as points, and data/MC below.

    ``var_data`` is one entry of data_mc.json (``edges``, ``processes`` with ``label``,
    ``sumw``, ``sumw2``; ``data``; ``label``, ``region``). Under/overflow are added to the
    first/last bin. Data bins that are null (blinded) are not drawn; ``blind_above`` shades
    the blinded score region. The hatched band is the MC statistical uncertainty.
    """
    edges = np.asarray(var_data["edges"], dtype=float)
    processes = var_data["processes"]
    backgrounds = sorted(
        (n for n, p in processes.items() if p["label"] == 0),
        key=lambda n: sum(processes[n]["sumw"]),
    )
    signals = [n for n, p in processes.items() if p["label"] == 1]
    names = backgrounds + signals  # the signal stacked on top: the prediction is S + B
    stack = [_fold_flow(_array(processes[n]["sumw"])) for n in names]
    mc = np.sum(stack, axis=0)
    mc_error = np.sqrt(sum(_fold_flow(_array(p["sumw2"])) for p in processes.values()))
    data = _fold_flow(_array(var_data["data"]["sumw"]))
    data_error = np.sqrt(_fold_flow(_array(var_data["data"]["sumw2"])))
    with styled_panels(style, data=True) as (main, lower):
        mplhep.histplot(stack, edges, stack=True, histtype="fill", label=names, ax=main)
        hatched_band(main, mc - mc_error, mc + mc_error, edges, "MC stat. unc.")
        centres = 0.5 * (edges[1:] + edges[:-1])
        shown = np.isfinite(data)
        main.errorbar(
            centres[shown],
            data[shown],
            yerr=data_error[shown],
            fmt="o",
            color="black",
            markersize=4,
            label="Data",
        )
        ratio = shown & (mc > 0)  # signed MC weights can leave a bin without positive yield
        with np.errstate(divide="ignore", invalid="ignore"):
            lower.errorbar(
                centres[ratio],
                (data / mc)[ratio],
                yerr=(data_error / mc)[ratio],
                fmt="o",
                color="black",
                markersize=4,
            )
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
        main.legend(loc="upper right", ncols=2, fontsize="small", title=var_data.get("region"))
        _set_ratio_range(lower, (data / np.where(mc > 0, mc, np.nan))[shown])
        lower.set_ylabel("Data / MC", fontsize="small")
        lower.set_xlabel(var_data["label"])
    return main.figure


def _set_ratio_range(ax: Axes, ratios: np.ndarray) -> None:
    """0.5 to 1.5, widened (up to 0 to 3) so that every data/MC point stays visible."""
    ratios = ratios[np.isfinite(ratios)]
    low = min(0.5, float(ratios.min()) * 0.9) if ratios.size else 0.5
    high = max(1.5, float(ratios.max()) * 1.1) if ratios.size else 1.5
    ax.set_ylim(max(low, 0.0), min(high, 3.0))


def _read_json(evaluation_dir: Path, name: str, rule: str) -> dict[str, Any]:
    path = evaluation_dir / name
    if not path.is_file():
        msg = f"{evaluation_dir} lacks {name}; run the {rule} rule first"
        raise DataError(msg)
    return json.loads(path.read_text(encoding="utf-8"))


def draw_inputs(
    evaluation_dir: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw inputs/<feature> and correlation_signal/_background (PDF + PNG) into plot_dir."""
    evaluation_dir, plot_dir = Path(evaluation_dir), Path(plot_dir)
    variables = _read_json(evaluation_dir, "input_variables.json", "inputs")["features"]
    correlations = _read_json(evaluation_dir, "correlations.json", "inputs")
    written = []
    for name, feature_data in variables.items():
        fig = plot_input_variable(feature_data, style)
        written += save_figure(fig, plot_dir / "inputs", name, style)
    for cls in ("signal", "background"):
        fig = plot_correlation(
            correlations[cls], correlations["features"], style, title=cls.capitalize()
        )
        written += save_figure(fig, plot_dir, f"correlation_{cls}", style)
    log.info("drew %d input-variable plots into %s", len(written), plot_dir)
    return written


def draw_data_mc(
    evaluation_dir: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw data_mc/<feature> and data_mc_score (PDF + PNG) from data_mc.json."""
    evaluation_dir, plot_dir = Path(evaluation_dir), Path(plot_dir)
    content = _read_json(evaluation_dir, "data_mc.json", "data_mc")
    written = []
    for name, var_data in content["variables"].items():
        fig = plot_data_mc(var_data, style)
        written += save_figure(fig, plot_dir / "data_mc", name, style)
    fig = plot_data_mc(content["score"], style, log=True, blind_above=content["blind_above"])
    written += save_figure(fig, plot_dir, "data_mc_score", style)
    log.info("drew %d data/MC plots into %s", len(written), plot_dir)
    return written
