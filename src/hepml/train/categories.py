"""The events of an analysis category, checked before its models train.

A category (``categories.cuts``) is the analysis with one more cut; its models need enough
Monte Carlo events of every class to train, early-stop and be tested on. Too few is an error
naming the category, the class and the count, before any training.
"""

from __future__ import annotations

import numpy as np

from hepml.config import Config
from hepml.exceptions import DataError
from hepml.tables.features import Dataset

__all__ = ["check_category_events"]


def _class_counts(config: Config, data: Dataset) -> dict[str, int]:
    """MC events per class: signal and background, or each multiclass class."""
    multiclass = config.training.multiclass
    if multiclass is None:
        return {
            "signal": int(np.count_nonzero(data.label == 1)),
            "background": int(np.count_nonzero(data.label == 0)),
        }
    counts = {}
    for event_class in multiclass.classes:
        counts[event_class.name] = int(np.isin(data.sample, list(event_class.samples)).sum())
    return counts


def check_category_events(config: Config, data: Dataset) -> None:
    """Raise :class:`DataError` when a class of ``config``'s category has fewer than
    ``categories.min_events`` events in ``data`` (no-op for a config of no category)."""
    category = config.category
    if category is None:
        return
    for name, count in _class_counts(config, data).items():
        if count < category.min_events:
            msg = (
                f"category '{category.name}' (cut '{category.cut}'): class '{name}' has {count} "
                f"Monte Carlo event(s) after the selection, fewer than categories.min_events = "
                f"{category.min_events}: too few to train, validate and test its models. "
                "Loosen or merge the category, or lower categories.min_events."
            )
            raise DataError(msg)
