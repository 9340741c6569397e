"""The public Python API: a finished run's models and numbers, for notebooks and frameworks.

What ``import hepml`` offers (see :mod:`hepml`): :func:`~hepml.api.models.load_models` gives
the verified fold models of a results or export directory, whose
:meth:`~hepml.api.models.Models.predict` scores any events (an awkward array, coffea's
NanoEvents, a dict of arrays, a ROOT or Parquet file) exactly as ``hepml apply`` does;
:func:`~hepml.api.results.read_scores` and :func:`~hepml.api.results.read_metrics` read back
the out-of-fold scores and the evaluation tables.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "Models": "hepml.api.models",
    "Prediction": "hepml.api.models",
    "load_models": "hepml.api.models",
    "read_metrics": "hepml.api.results",
    "read_scores": "hepml.api.results",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
