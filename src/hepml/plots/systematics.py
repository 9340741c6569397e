"""The fit's figures: the templates as fitted, and each variation against the nominal.

:func:`plot_variation` draws one process's nominal score template with the up and down
templates of one systematic, and below them the ratios up/nominal and down/nominal with the
nominal's MC statistical band. :func:`draw_fit` writes every figure of the fit stage:
``fit_templates`` (:func:`hepml.plots.templates.plot_templates`, with the fitted yields) and
``systematics/<process>_<systematic>`` for each process and variation that affects it. All
drawn from the templates and fitted-yields files, never recomputed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hepml.exceptions import DataError, did_you_mean
from hepml.plots.style import PlotStyle, hatched_band, save_figure, styled_panels
from hepml.plots.templates import plot_templates
from hepml.stats.templates import NOMINAL, Templates

__all__ = ["draw_fit", "plot_variation", "variation_plot_names"]

log = logging.getLogger(__name__)

_COLOURS = {"Up": "tab:red", "Down": "tab:blue"}


def _ratio(values: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """``values / nominal``, 1 where the nominal bin is empty (nothing to compare)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nominal != 0, values / nominal, 1.0)


def plot_variation(templates: Templates, process: str, systematic: str, style: PlotStyle) -> Figure:
    """Nominal, up and down score templates of ``process`` for ``systematic``, ratio panel."""
    if process not in templates.roles:
        msg = f"no process '{process}' in the templates.{did_you_mean(process, templates.roles)}"
        raise DataError(msg)
    if systematic not in templates.systematics_of(process):
        known = templates.systematics_of(process)
        hint = did_you_mean(systematic, known)
        msg = f"systematic '{systematic}' does not affect '{process}'.{hint}"
        raise DataError(msg)
    edges = templates.edges
    nominal = templates.sumw[process][NOMINAL]
    error = np.sqrt(templates.sumw2[process][NOMINAL])
    with styled_panels(style) as (main, lower):
        main.stairs(
            nominal,
            edges,
            color="black",
            linewidth=1.5,
            label=f"{style.process_label(process)} nominal",
            baseline=None,
        )
        hatched_band(main, nominal - error, nominal + error, edges, label="MC stat. unc.")
        hatched_band(lower, _ratio(nominal - error, nominal), _ratio(nominal + error, nominal),
                     edges)  # fmt: skip
        for direction, colour in _COLOURS.items():
            varied = templates.sumw[process][f"{systematic}{direction}"]
            change = 100.0 * (varied.sum() / nominal.sum() - 1.0)
            change = change if abs(change) >= 0.05 else 0.0  # no "-0.0%" from rounding noise
            label = f"{systematic} {direction.lower()} ({change:+.1f}%)"
            main.stairs(varied, edges, color=colour, label=label, baseline=None)
            lower.stairs(_ratio(varied, nominal), edges, color=colour, baseline=None)
        lower.axhline(1.0, color="black", linewidth=0.8)
        main.set_ylabel("Events / bin")
        if np.all(nominal > 0):  # a log scale shows the low-background bins of the fit
            main.set_yscale("log")
            main.set_ylim(float(nominal.min()) * 0.5, float(nominal.max()) * 30)
        main.legend(loc="upper right", fontsize="small")
        lower.set_ylabel("Var. / nom.")
        lower.set_xlabel(f"Classifier score ({templates.channel})")
        lower.set_xlim(edges[0], edges[-1])
    return main.figure


def variation_plot_names(templates: Templates) -> list[str]:
    """``systematics/<process>_<systematic>`` for every process and systematic on it."""
    return [
        f"systematics/{process}_{syst}"
        for process in templates.simulated_names
        for syst in templates.systematics_of(process)
    ]


def draw_fit(
    templates: Templates,
    fitted: Mapping[str, np.ndarray] | None,
    style: PlotStyle,
    plot_dir: str | os.PathLike[str],
) -> list[Path]:
    """Write ``fit_templates`` (with the ``fitted`` yields when given) and every variation
    plot into ``plot_dir`` (PDF and PNG); return the paths."""
    plot_dir = Path(plot_dir)
    (plot_dir / "systematics").mkdir(parents=True, exist_ok=True)
    fig = plot_templates(
        templates,
        fitted=fitted,
        experiment=style.experiment,
        label=style.label or "",
        display=style,
    )
    written = save_figure(fig, plot_dir, "fit_templates", style)
    for process in templates.simulated_names:
        for syst in templates.systematics_of(process):
            fig = plot_variation(templates, process, syst, style)
            written += save_figure(fig, plot_dir, f"systematics/{process}_{syst}", style)
    log.info("drew %d fit figures into %s", len(written) // 2, plot_dir)
    return written
