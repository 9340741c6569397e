"""The categories' significances beside their combination and the inclusive BDT, drawn from
``combined.json`` (:mod:`hepml.evaluate.categories`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plots.style import PlotStyle, save_figure, styled_axes

__all__ = ["draw_categories", "plot_categories"]

log = logging.getLogger(__name__)

_COLOURS = {"category": "tab:blue", "sqrt(sum Z_i^2)": "tab:green", "inclusive BDT": "tab:grey"}


def plot_categories(data: Mapping[str, Any], style: PlotStyle) -> Figure:
    """One bar per category, then the combination and the inclusive BDT."""
    rows = data["rows"]
    with styled_axes(style) as ax:
        positions = range(len(rows))
        bars = ax.bar(
            positions,
            [r["significance"] for r in rows],
            color=[_COLOURS.get(r["kind"], "tab:blue") for r in rows],
        )
        ax.bar_label(bars, fmt="%.3g")
        ax.set_xticks(list(positions), [r["name"] for r in rows], rotation=30, ha="right")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
        ax.set_ylabel(f"Expected significance ({data['metric']})")
    return ax.figure


def draw_categories(
    combined: str | os.PathLike[str], plot_dir: str | os.PathLike[str], style: PlotStyle
) -> list[Path]:
    """Draw ``categories_significance`` (PDF and PNG) from ``combined`` (combined.json)."""
    path = Path(combined)
    if not path.is_file():
        msg = f"{path} does not exist; run the combine_categories rule first"
        raise DataError(msg)
    data = json.loads(path.read_text(encoding="utf-8"))
    return save_figure(plot_categories(data, style), plot_dir, "categories_significance", style)
