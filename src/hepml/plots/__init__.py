"""Plots: figures drawn from the data files the evaluation wrote (drawing only)."""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "PlotStyle": "hepml.plots.style",
    "check_labels": "hepml.plots.labels",
    "draw_all": "hepml.plots.performance",
    "draw_calibration": "hepml.plots.calibration",
    "draw_categories": "hepml.plots.categories",
    "draw_data_mc": "hepml.plots.inputs",
    "draw_inputs": "hepml.plots.inputs",
    "draw_multiclass": "hepml.plots.multiclass",
    "draw_training": "hepml.plots.training",
    "plot_templates": "hepml.plots.templates",
    "style_from_config": "hepml.plots.style",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
