"""Classifier performance broken down by physics process, beside the combined classes.

A BDT that separates the signal well from the dominant background may still be blind to a
small one; the combined AUC hides that. For each process this module gives its yield, the
AUC of the signal against that background alone (for a signal process: that signal against
all backgrounds), its spread over folds, and the efficiency of the process at each working
point's threshold. Pure functions on numpy arrays of out-of-fold (test) scores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepml.evaluate import metrics
from hepml.exceptions import DataError

__all__ = ["ALL_BACKGROUNDS", "per_process_performance"]

log = logging.getLogger(__name__)

ALL_BACKGROUNDS = "all backgrounds"


def _auc_or_nan(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, what: str) -> float:
    """Weighted AUC, NaN (with a warning) when a class has no positive yield."""
    try:
        return metrics.roc_auc(scores, labels, weights)
    except DataError as err:
        log.warning("no AUC for %s: %s", what, err)
        return math.nan


def _efficiency(scores: np.ndarray, weights: np.ndarray, threshold: float) -> float:
    """Weighted fraction with ``score > threshold``; NaN if the total is not positive."""
    total = float(weights.sum())
    return float(weights[scores > threshold].sum()) / total if total > 0 else math.nan


def _row(
    name: str,
    event_class: str,
    mask: np.ndarray,
    versus: np.ndarray,
    t: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """One row: the events in ``mask`` (one class) against those in ``versus`` (the other)."""
    both = mask | versus
    auc = _auc_or_nan(t["score"][both], t["label"][both], t["weight"][both], name)
    auc_folds = [
        _auc_or_nan(
            t["score"][both & fold], t["label"][both & fold], t["weight"][both & fold], name
        )
        for fold in (t["model_fold"] == k for k in np.unique(t["model_fold"]))
    ]
    row = {
        "process": name,
        "class": event_class,
        "events": int(t["count"][mask].sum()) if "count" in t else int(mask.sum()),
        "yield": float(t["weight"][mask].sum()),
        "auc": auc,
        "auc_std_over_folds": float(np.std(auc_folds, ddof=1)) if len(auc_folds) > 1 else math.nan,
    }
    for definition, threshold in thresholds.items():
        row[f"eff@{definition}"] = _efficiency(t["score"][mask], t["weight"][mask], threshold)
    return row


def per_process_performance(
    t: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float] | Sequence[tuple[str, float]],
    *,
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of yield, AUC and working-point efficiencies per process, then all backgrounds.

    ``t`` holds the test rows only: arrays ``score``, ``label`` (1 signal), ``weight``,
    ``model_fold`` and ``process`` (names, or codes into ``names`` when given), and
    ``count`` (events per row) when the rows are binned events.
    ``thresholds`` maps a working point's definition (e.g. ``"signal_efficiency=0.5"``) to
    its score threshold (``score > threshold`` passes).
    Signal processes come first, then backgrounds by decreasing yield, then the combined
    background, whose AUC is the overall one.
    """
    thresholds = dict(thresholds)
    signal, background = t["label"] == 1, t["label"] == 0
    if names is None:
        names, codes = np.unique(np.asarray(t["process"]).astype(str), return_inverse=True)
    else:
        codes = np.asarray(t["process"])
    names = [str(n) for n in names]
    rows = []
    for code in sorted(np.unique(codes[signal]).tolist(), key=lambda c: names[c]):
        mask = signal & (codes == code)
        rows.append(_row(names[code], "signal", mask, background, t, thresholds))
    background_codes = np.unique(codes[background]).tolist()
    yields = {c: float(t["weight"][background & (codes == c)].sum()) for c in background_codes}
    for code in sorted(background_codes, key=lambda c: (-yields[c], names[c])):
        mask = background & (codes == code)
        rows.append(_row(names[code], "background", mask, signal, t, thresholds))
    rows.append(_row(ALL_BACKGROUNDS, "background", background, signal, t, thresholds))
    return rows
