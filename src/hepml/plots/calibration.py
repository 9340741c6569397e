"""The calibration plots, drawn from ``calibration.json`` (:mod:`hepml.evaluate.calibration`).

- ``reliability``: the reliability diagram, the weighted signal fraction against the mean
  prediction in quantile bins, for the raw score and each calibrated output, with the
  diagonal a calibrated output follows; Brier scores in the legend. Log axes: calibrated to
  the physics prior, the probabilities of signal span decades;
- ``rarity``: the rarity of background (flat when the transform works) and signal, each
  normalised to unit area.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mplhep
import numpy as np
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plots.style import CLASS_COLOURS, PlotStyle, save_figure, styled_axes

__all__ = ["draw_calibration", "plot_rarity", "plot_reliability"]

log = logging.getLogger(__name__)

_NAMES = {"score": "BDT score", "score_isotonic": "isotonic", "score_platt": "Platt"}


def plot_reliability(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """The reliability diagram of calibration.json's content."""
    brier = {row["output"]: row["brier"] for row in data["brier"]}
    low = 1.0
    with styled_axes(style) as ax:
        for name, curve in data["reliability"].items():
            predicted = np.asarray(curve["predicted"], dtype=float)
            observed = np.asarray(curve["observed"], dtype=float)
            ax.plot(
                predicted,
                observed,
                "o-",
                label=f"{_NAMES.get(name, name)} (Brier {brier[name]:.4g})",
            )
            positive = np.r_[predicted[predicted > 0], observed[observed > 0]]
            low = min(low, float(positive.min()) if positive.size else low)
        low = max(low / 2, 1e-6)
        ax.plot([low, 1], [low, 1], ls=":", color="grey", label="Calibrated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(low, 1)
        ax.set_ylim(low, 1)
        ax.set_xlabel("Mean predicted probability of signal")
        ax.set_ylabel("Fraction of signal (weighted)")
        ax.legend(loc="upper left", title=f"Test folds, prior: {data['prior']}")
    return ax.figure


def plot_rarity(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """Rarity of background and signal on the test folds, normalised to unit area."""
    rarity = data["rarity"]
    edges = np.asarray(rarity["edges"], dtype=float)
    flat = rarity["background_uniformity"]
    with styled_axes(style) as ax:
        for name in ("background", "signal"):
            h = rarity["histograms"][name]
            sumw = np.asarray(h["sumw"], dtype=float)
            area = sumw.sum() * np.diff(edges)
            if not np.all(area > 0):
                continue
            mplhep.histplot(sumw / area, edges, yerr=np.sqrt(h["sumw2"]) / area,
                            histtype="step", color=CLASS_COLOURS[name], flow="none",
                            label=name.capitalize(), ax=ax)  # fmt: skip
        ax.axhline(1.0, color="grey", ls=":", label="Flat")
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Rarity (background's cumulative distribution of the score)")
        ax.set_ylabel("Normalised to unit area")
        ax.legend(title=f"Background vs flat: KS p = {flat['ks_pvalue']:.3g}", loc="upper left")
    return ax.figure


def draw_calibration(
    evaluation_dir: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw ``reliability`` (and ``rarity`` when computed) from calibration.json as PDF and
    PNG into ``plot_dir``; return the paths."""
    path = Path(evaluation_dir) / "calibration.json"
    if not path.is_file():
        msg = f"{path} does not exist; run the evaluate_calibration rule first"
        raise DataError(msg)
    data = json.loads(path.read_text(encoding="utf-8"))
    written = []
    if data["reliability"]:
        written += save_figure(plot_reliability(data, style), plot_dir, "reliability", style)
    if "rarity" in data:
        written += save_figure(plot_rarity(data, style), plot_dir, "rarity", style)
    log.info("drew %d calibration plots into %s", len(written), plot_dir)
    return written
