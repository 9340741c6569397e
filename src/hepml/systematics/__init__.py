"""Systematics: every variation of the MC scored by the nominal's out-of-fold models, and the
fit's templates, yield table and model built from them (with :mod:`hepml.stats`)."""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "Variant": "hepml.systematics.variants",
    "fit_model": "hepml.systematics.templates",
    "fit_templates": "hepml.systematics.templates",
    "read_variations": "hepml.systematics.templates",
    "sample_variants": "hepml.systematics.variants",
    "score_variations": "hepml.systematics.scoring",
    "variation_yields": "hepml.systematics.templates",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
