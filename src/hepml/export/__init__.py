"""Export: the fold models for C++/ROOT and ONNX, with a manifest and a fold header; and
``hepml score`` with an export.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "closure_sample": "hepml.export.models",
    "export_models": "hepml.export.models",
    "fold_header": "hepml.export.manifest",
    "load_export": "hepml.export.score",
    "score_with_export": "hepml.export.score",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
