"""Under- and overflow bins drawn as extra bins at the ends of an axis, with readable labels.

A histogram with flow (:class:`~hepml.plotdata.histograms.FlowHistogram`, len(edges) + 1
bins) is drawn over :func:`flow_edges`: one extra bin of the neighbouring width on each side,
separated by dotted lines. :func:`label_flow_ticks` labels them ``<low`` and ``>high`` with
the edges rounded to four significant digits (``≤k`` and ``≥k`` for integer features,
binned one integer per bin), beside round ticks inside the range.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, NullLocator

from hepml.plotdata.histograms import FlowHistogram

__all__ = [
    "draw_flow_hist",
    "edge_text",
    "flow_edges",
    "flow_labels",
    "has_flow",
    "label_flow_ticks",
]


def has_flow(histograms: Iterable[FlowHistogram]) -> bool:
    """True when any histogram has a non-zero underflow or overflow bin."""
    return any(h.sumw[0] != 0 or h.sumw[-1] != 0 for h in histograms)


def flow_edges(edges: np.ndarray) -> np.ndarray:
    """``edges`` with one bin of the neighbouring width added on each side."""
    edges = np.asarray(edges, dtype=float)
    return np.r_[2 * edges[0] - edges[1], edges, 2 * edges[-1] - edges[-2]]


def edge_text(value: float) -> str:
    """An edge as a tick label: four significant digits at most, no trailing zeros."""
    text = f"{value:.4g}"
    return "0" if text == "-0" else text


def _integer_bins(edges: np.ndarray) -> bool:
    """One bin per integer: unit-width bins with edges at half-integers."""
    return bool(np.allclose(np.diff(edges), 1.0) and np.allclose(edges % 1.0, 0.5))


def flow_labels(edges: np.ndarray) -> tuple[str, str]:
    """The underflow and overflow tick labels of a histogram with ``edges``."""
    edges = np.asarray(edges, dtype=float)
    if _integer_bins(edges):
        return f"≤{edge_text(edges[0] - 0.5)}", f"≥{edge_text(edges[-1] + 0.5)}"
    return f"<{edge_text(edges[0])}", f">{edge_text(edges[-1])}"


def draw_flow_hist(
    ax: Axes,
    values: np.ndarray,
    errors: np.ndarray,
    edges: np.ndarray,
    *,
    colour: str,
    filled: bool,
    label: str,
) -> None:
    """One histogram over ``edges`` (flow bins included): a light fill, or a line with
    error bars at the bin centres."""
    if filled:
        ax.stairs(values, edges, fill=True, alpha=0.35, color=colour, label=label)
        return
    ax.stairs(values, edges, color=colour, linewidth=2, label=label)
    centres = 0.5 * (edges[1:] + edges[:-1])
    ax.errorbar(centres, values, yerr=errors, fmt="none", ecolor=colour, elinewidth=1)


def label_flow_ticks(ax: Axes, edges: np.ndarray) -> None:
    """Round ticks inside [edges[0], edges[-1]], the flow bins' labels at their centres and
    dotted lines where they begin (``ax``'s x range spans :func:`flow_edges`)."""
    edges = np.asarray(edges, dtype=float)
    low, high = edges[0], edges[-1]
    under = low - 0.5 * (edges[1] - edges[0])
    over = high + 0.5 * (edges[-1] - edges[-2])
    locator = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=_integer_bins(edges))
    span = over - under
    inner = [
        float(t)
        for t in locator.tick_values(low, high)
        if low - 1e-9 * span <= t <= high + 1e-9 * span
        and min(abs(t - under), abs(t - over)) > 0.09 * span
    ]
    under_text, over_text = flow_labels(edges)
    ax.set_xticks([under, *inner, over], [under_text, *map(edge_text, inner), over_text])
    ax.xaxis.set_minor_locator(NullLocator())
    for x in (low, high):
        ax.axvline(x, color="grey", linestyle=":", linewidth=1)
