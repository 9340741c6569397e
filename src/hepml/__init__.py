"""hepml: signal/background classification for ROOT ntuples with uproot, XGBoost and Snakemake.

The public API, for notebooks and other frameworks (coffea processors, plain scripts)::

    import hepml

    models = hepml.load_models("results")          # or an export: "results/export"
    prediction = models.predict("data.root:events")  # or an awkward array, a dict of arrays
    prediction.score, prediction.selected, prediction.fold

    scores = hepml.read_scores("results")           # the out-of-fold scores of the run
    metrics = hepml.read_metrics("results")         # the evaluation tables, as records
    config = hepml.load_config("config/config.yaml")

Importing hepml is light: each name is imported on first use. Every stage is a package of
its own with its entry points (``hepml.ingest``, ``hepml.train``, ``hepml.evaluate``,
``hepml.plots``, ``hepml.apply``, ``hepml.export``, ``hepml.stats``...).
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "HepmlError": "hepml.exceptions",
    "Models": "hepml.api.models",
    "Prediction": "hepml.api.models",
    "load_config": "hepml.config.build",
    "load_models": "hepml.api.models",
    "read_metrics": "hepml.api.results",
    "read_scores": "hepml.api.results",
}
__all__ = sorted([*_EXPORTS, "__version__"])
__getattr__, _dir = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return list(__all__)
