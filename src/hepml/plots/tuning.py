"""The hyperparameter search, trial by trial: the validation objective of every trial
against the trial index and against each searched parameter, one colour per fold model, the
chosen trial of each model as a star.

Drawn from ``results/tune/trials.json`` (:class:`~hepml.plotdata.training.TuneTrials`), which
the tune-select job writes; nothing is recomputed.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from hepml.plotdata.training import TuneTrials
from hepml.plots.style import PlotStyle, save_figure

__all__ = ["draw_tuning", "plot_trials"]

log = logging.getLogger(__name__)


def _position(value: Any, categories: dict[str, int]) -> float:
    """A number on the axis: the value, or the index of a category (bool, text, None)."""
    if isinstance(value, bool | str) or value is None:
        return categories.setdefault(str(value), len(categories))
    return float(value)


def _spans_decades(values: list[Any]) -> bool:
    """Positive floats spanning more than a factor 20: drawn on a log axis."""
    if not values or not all(isinstance(v, float) for v in values):
        return False
    return min(values) > 0 and max(values) / min(values) > 20


def plot_trials(trials: TuneTrials, style: PlotStyle) -> Figure:
    """Objective against trial index, and against each searched parameter, per fold model;
    chosen trials are drawn as stars."""
    params = trials.parameters
    n_panels = 1 + len(params)
    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    folds = sorted({t.fold for t in trials.trials})
    with style.context():
        fig = Figure(figsize=(5.5 * ncols, 4.5 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, x_name in zip(axes, ["trial", *params], strict=False):
            categories: dict[str, int] = {}
            for k in folds:
                mine = [t for t in trials.trials if t.fold == k]
                values = [t.trial if x_name == "trial" else t.params[x_name] for t in mine]
                xs = [_position(v, categories) for v in values]
                (dots,) = ax.plot(xs, [t.objective for t in mine], "o", ms=4, label=f"Model {k}")
                best = [(x, t.objective) for x, t in zip(xs, mine, strict=True) if t.chosen]
                if best:
                    ax.plot(*zip(*best, strict=True), "*", ms=12, color=dots.get_color(), mec="k")
            if categories:
                ax.set_xticks(list(categories.values()), list(categories))
            numbers = [t.params[x_name] for t in trials.trials] if x_name != "trial" else []
            if _spans_decades(numbers):
                ax.set_xscale("log")
            ax.set_xlabel(x_name, fontsize="small")
            ax.set_ylabel(f"Validation {trials.objective}", fontsize="small")
            ax.tick_params(labelsize="x-small")
        for ax in axes[n_panels:]:
            ax.set_visible(False)
        axes[0].legend(fontsize="x-small", title="star: chosen", title_fontsize="x-small")
        style.draw_label(axes[0], fontsize=14)
        fig.draw_without_rendering()
    return fig


def draw_tuning(
    trials_path: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw tune_trials (PDF + PNG) into ``plot_dir`` from a trials.json."""
    trials = TuneTrials.read(trials_path)
    written = save_figure(plot_trials(trials, style), plot_dir, "tune_trials", style)
    log.info(
        "drew the hyperparameter trials of %d fold models", len({t.fold for t in trials.trials})
    )
    return written
