"""The overtraining check, per fold model: training scores (filled) against test scores
(points), for signal and background, each at unit area, with that model's numbers.

Every panel is one fold model k: its own training events against its own test events (fold
k), so the KS p-value, the KS distance relative to its expected size and the train/test AUC
gap printed in the panel belong to what is drawn there. The numbers come from
``overtraining.csv`` (the evaluation's table): a column whose name holds ``effect`` (an effect
size the table may carry) is printed as it is; otherwise the KS distance D is divided by its
expected size under no overtraining, E[D] = 0.8687 sqrt((n + m) / (n m)) with the effective
numbers of training and test events n and m (the mean of Kolmogorov's distribution,
sqrt(pi/2) ln 2, over sqrt of the effective sample size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plotdata.histograms import TrainTest
from hepml.plotdata.performance import ClassifierScores
from hepml.plots.style import CLASS_COLOURS, PlotStyle

__all__ = ["ks_effect", "panel_numbers", "plot_overtraining"]

KOLMOGOROV_MEAN = math.sqrt(math.pi / 2) * math.log(2)  # E[sqrt(n) D] under the null, ~0.8687
PANEL_FONT = 10  # points: the experiment styles' 26 pt would not fit a panel


def _float(row: Mapping[str, Any], key: str) -> float:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):
        return math.nan


def ks_effect(row: Mapping[str, Any]) -> tuple[str, float]:
    """(name, value) of the KS effect size of one overtraining.csv row: the table's own
    column when it has one (a name with ``effect``), else D / E[D] computed here."""
    own = sorted(k for k in row if "effect" in k)
    if own:
        return own[0], _float(row, own[0])
    n, m = _float(row, "n_eff_train"), _float(row, "n_eff_test")
    if not (n > 0 and m > 0):
        return "D/E[D]", math.nan
    expected = KOLMOGOROV_MEAN * math.sqrt((n + m) / (n * m))
    return "D/E[D]", _float(row, "ks_statistic") / expected


def panel_numbers(rows: Sequence[Mapping[str, Any]], fold: int) -> list[str]:
    """The lines printed in fold ``fold``'s panel: per class the KS p-value and effect size,
    then the train - test AUC gap."""
    mine = {r["class"]: r for r in rows if int(r["fold"]) == fold}
    lines = []
    for event_class in CLASS_COLOURS:
        row = mine.get(event_class)
        if row is None:
            continue
        name, effect = ks_effect(row)
        flag = " (flagged)" if str(row.get("flagged", "")).lower() == "true" else ""
        lines.append(
            f"{event_class.capitalize()}: KS p = {_float(row, 'ks_pvalue'):.2g}, "
            f"{name} = {effect:.2g}{flag}"
        )
    if mine:
        gap = _float(next(iter(mine.values())), "auc_gap")
        lines.append(f"AUC train − test = {gap:+.4f}")
    return lines


def _draw_fold(ax: Axes, fold: Mapping[str, TrainTest], edges: np.ndarray) -> float:
    """Train (filled) and test (points) of both classes at unit area; return the top."""
    top = 0.0
    for event_class, colour in CLASS_COLOURS.items():
        if event_class not in fold:
            continue
        train, test = fold[event_class].train, fold[event_class].test
        if not (train.total > 0 and test.total > 0):
            msg = f"the {event_class} scores of a fold have no positive total weight to draw"
            raise DataError(msg)
        density, _ = train.unit_area(edges)
        mplhep.histplot(
            density, edges, histtype="fill", alpha=0.35, color=colour, flow="none", ax=ax,
            label=f"{event_class.capitalize()} (train)",
        )  # fmt: skip
        test_density, error = test.unit_area(edges)
        mplhep.histplot(
            test_density, edges, yerr=error, histtype="errorbar", color=colour, flow="none",
            markersize=3, ax=ax, label=f"{event_class.capitalize()} (test)",
        )  # fmt: skip
        top = max(top, float(np.nanmax(density)), float(np.nanmax(test_density + error)))
    return top


def plot_overtraining(
    scores: ClassifierScores,
    rows: Sequence[Mapping[str, Any]],
    style: PlotStyle,
    *,
    classifier: str = "",
) -> Figure:
    """One panel per fold model (see the module docstring); ``rows`` are the classifier's
    rows of overtraining.csv. The last free panel (or the title) says what is drawn."""
    edges = np.asarray(scores.edges, dtype=float)
    n = len(scores.folds)
    if n == 0:
        msg = "the score histograms hold no per-fold data; rerun the evaluate rule"
        raise DataError(msg)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    with style.context():
        fig = Figure(figsize=(5.0 * ncols, 4.0 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
        for k, (ax, fold) in enumerate(zip(axes, scores.folds, strict=False)):
            top = _draw_fold(ax, fold, edges)
            ax.set_xlim(edges[0], edges[-1])
            ax.set_ylim(0, 1.8 * top)
            text = ax.text(
                0.03, 0.97, f"Model {k} (test fold {k})\n" + "\n".join(panel_numbers(rows, k)),
                transform=ax.transAxes, va="top", ha="left", fontsize=PANEL_FONT,
            )  # fmt: skip
            text.set_in_layout(False)
            ax.set_xlabel("Classifier score", fontsize=PANEL_FONT + 3)
            ax.set_ylabel("Unit area", fontsize=PANEL_FONT + 3)
            ax.tick_params(labelsize=PANEL_FONT + 1)
        handles, labels = axes[0].get_legend_handles_labels()
        for ax in axes[n:]:
            ax.set_axis_off()
        what = (
            f"{classifier + ': ' if classifier else ''}each model's training events (filled) "
            "against its test events (points), at unit area"
        )
        if n < len(axes):
            axes[n].legend(handles, labels, loc="upper left", title=_wrap(what, 40),
                           fontsize=PANEL_FONT + 2, title_fontsize=PANEL_FONT + 2)  # fmt: skip
        else:
            fig.legend(handles, labels, loc="outside lower center", ncols=4, title=what,
                       fontsize=PANEL_FONT + 2, title_fontsize=PANEL_FONT + 2)  # fmt: skip
        style.draw_label(axes[0], fontsize=PANEL_FONT + 4)
        fig.draw_without_rendering()
    return fig


def _wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most about ``width`` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
