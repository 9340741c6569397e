"""The built-in demo: VBF H -> tau tau -> mu mu against Drell-Yan and ttbar, as ROOT ntuples."""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "demo_files": "hepml.demo.files",
    "make_demo": "hepml.demo.files",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
