"""Apply: ntuples scored with the fold models, as friend trees and Parquet."""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "apply_sample": "hepml.apply.samples",
    "apply_samples": "hepml.apply.samples",
    "merge_parts": "hepml.apply.merge",
    "score_files": "hepml.apply.scoring",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
