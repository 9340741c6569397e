"""For reviewers: the provenance record of a run, and two runs compared."""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "collect_provenance": "hepml.review.provenance",
    "compare_runs": "hepml.review.compare",
    "write_provenance": "hepml.review.provenance",
    "write_run_comparison": "hepml.review.compare_plots",
    "write_summaries": "hepml.review.summaries",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
