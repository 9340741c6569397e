"""The fit templates of one channel as a figure: stacked backgrounds, signal, MC stat band,
and in a lower panel each systematic's up/down change of the total background.

Takes :class:`~hepml.stats.templates.Templates` (pre-fit) and optionally the yields of a fit
(:func:`hepml.stats.expected.fitted_yields`), returns a ``matplotlib.figure.Figure`` (no pyplot
state); the mplhep style applies only while drawing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.exceptions import DataError, did_you_mean
from hepml.stats.templates import NOMINAL, Templates

if TYPE_CHECKING:
    from hepml.plots.style import PlotStyle

__all__ = ["plot_templates"]

log = logging.getLogger(__name__)


def _stat_band(ax: Axes, total: np.ndarray, error: np.ndarray, edges: np.ndarray) -> None:
    """Grey hatched band of +-1 sigma MC statistical uncertainty around ``total``."""
    ax.stairs(
        total + error,
        edges,
        baseline=total - error,
        fill=True,
        hatch="///",
        facecolor="none",
        edgecolor="grey",
        linewidth=0,
        label="MC stat. unc.",
    )


def _draw_main(
    ax: Axes,
    templates: Templates,
    yields: Mapping[str, np.ndarray],
    fitted: bool,
    display: PlotStyle | None = None,
) -> None:
    edges = templates.edges
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    if display is not None:  # the config's processes section: order, label, colour
        backgrounds = display.stack_order(
            {p: float(yields[p].sum()) for p in templates.background_names}
        )
        names = {p: display.process_label(p) for p in templates.simulated_names}
        fills = {p: display.process_colour(p, i) for i, p in enumerate(backgrounds)}
    else:  # largest background at the bottom
        backgrounds = sorted(templates.background_names, key=lambda p: -float(yields[p].sum()))
        names = {p: p for p in templates.simulated_names}
        fills = {p: colours[i % len(colours)] for i, p in enumerate(backgrounds)}
    base = np.zeros(templates.n_bins)
    for process in backgrounds:  # each one filled between its base and its top
        top = base + yields[process]
        ax.stairs(top, edges, baseline=base, fill=True, color=fills[process], label=names[process])
        base = top
    total = base
    nominal_total, nominal_sumw2 = templates.total("background")
    # the relative MC uncertainty of the templates, carried to the (fitted) total
    relative = np.sqrt(nominal_sumw2) / nominal_total
    _stat_band(ax, total, relative * total, edges)
    if fitted:
        ax.stairs(nominal_total, edges, color="grey", linestyle="--", label="Pre-fit background")
    for process in templates.signal_names:
        ax.stairs(
            yields[process],
            edges,
            color="black",
            linewidth=2,
            label=f"{names[process]} (fitted)" if fitted else names[process],
        )
    for process in templates.data_names:
        data = templates.sumw[process][NOMINAL]
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.errorbar(
            centres,
            data,
            yerr=np.sqrt(templates.sumw2[process][NOMINAL]),
            fmt="o",
            color="black",
            label="Data",
        )
    ax.set_ylabel("Events / bin")
    ax.legend(loc="upper right", fontsize="small", ncols=2)


def _draw_variations(ax: Axes, templates: Templates, systematics: Sequence[str]) -> None:
    """Total background with each systematic up (solid) and down (dashed), over nominal."""
    nominal, _ = templates.total("background")
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, syst in enumerate(systematics):
        colour = colours[i % len(colours)]
        for direction, style in (("Up", "-"), ("Down", "--")):
            varied, _ = templates.total("background", f"{syst}{direction}")
            ax.stairs(
                varied / nominal,
                templates.edges,
                color=colour,
                linestyle=style,
                label=syst if direction == "Up" else None,
                baseline=None,  # lines: the axis range follows the ratios, not down to 0
            )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel("Var. / nom.")
    if systematics:
        ax.legend(loc="upper left", fontsize="x-small", ncols=min(len(systematics), 4))


def plot_templates(
    templates: Templates,
    *,
    fitted: Mapping[str, np.ndarray] | None = None,
    systematics: Sequence[str] | None = None,
    experiment: str | None = None,
    label: str = "Simulation",
    log_y: bool = True,
    display: PlotStyle | None = None,
) -> Figure:
    """Figure of ``templates`` (or of the ``fitted`` yields per process, if given).

    ``systematics`` selects the variations drawn in the lower panel (default: all of the
    channel's up/down systematics). ``experiment`` picks mplhep's style and label (None:
    neutral ROOT style, no label). ``display`` (the run's :class:`~hepml.plots.style.PlotStyle`)
    names, colours and stacks the processes as the config's ``processes`` section says.
    """
    chosen = templates.systematics if systematics is None else list(systematics)
    for syst in chosen:
        if syst not in templates.systematics:
            hint = did_you_mean(syst, templates.systematics)
            msg = f"no systematic '{syst}' in channel '{templates.channel}'.{hint}"
            raise DataError(msg)
    yields = {p: templates.sumw[p][NOMINAL] for p in templates.simulated_names}
    if fitted is not None:
        missing = sorted(set(yields) - set(fitted))
        if missing:
            msg = f"the fitted yields lack process '{missing[0]}' of channel '{templates.channel}'"
            raise DataError(msg)
        yields = {p: np.asarray(fitted[p], dtype=float) for p in yields}
    style = getattr(mplhep.style, experiment or "ROOT", mplhep.style.ROOT)
    with matplotlib.style.context(style):
        fig = Figure()
        main, lower = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        fig.subplots_adjust(hspace=0.07)
        _draw_main(main, templates, yields, fitted is not None, display)
        _draw_variations(lower, templates, chosen)
        if log_y:
            main.set_yscale("log")
            low, high = main.get_ylim()
            main.set_ylim(low, high * (high / low) ** 0.4)  # room for the legend above
        main.tick_params(labelbottom=False)
        lower.set_xlabel(f"Classifier score ({templates.channel})")
        lower.set_xlim(templates.edges[0], templates.edges[-1])
        if experiment:
            mplhep.label.exp_label(
                exp=experiment, llabel=label, loc=0, com=None, scilocator_adjust=False, ax=main
            )
        fig.draw_without_rendering()
    return fig
