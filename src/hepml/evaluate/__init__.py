"""Evaluate: metrics, working points, overtraining, per-process tables, significance,
feature ranking, input variables and data/MC, computed as data (no drawing).
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "asimov_significance": "hepml.evaluate.significance",
    "combine_categories": "hepml.evaluate.categories",
    "data_mc_from_files": "hepml.evaluate.data_mc",
    "evaluate": "hepml.evaluate.performance",
    "evaluate_calibration": "hepml.evaluate.calibration",
    "evaluate_multiclass": "hepml.evaluate.multiclass",
    "evaluation_options": "hepml.evaluate.performance",
    "importance_from_files": "hepml.evaluate.importance",
    "inputs_from_files": "hepml.evaluate.inputs",
    "ks_2samp_weighted": "hepml.evaluate.metrics",
    "roc_auc": "hepml.evaluate.metrics",
    "roc_curve": "hepml.evaluate.metrics",
    "significance_scan": "hepml.evaluate.significance",
    "working_point": "hepml.evaluate.metrics",
    "write_evaluation": "hepml.evaluate.tables",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
