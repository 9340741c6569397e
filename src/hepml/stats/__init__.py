"""Statistics stage: from classifier-score templates to the expected result.

1. :mod:`~hepml.stats.templates`: binned score templates per process and variation, filled
   by :func:`fill_templates` (:mod:`~hepml.stats.fill`), saved as JSON by
   :func:`write_templates` / :func:`read_templates`;
2. :mod:`~hepml.stats.binning`: bin edges for the fit (:func:`fit_edges`);
3. :mod:`~hepml.stats.model`: the likelihood to write (:class:`FitModel`);
4. outputs: ROOT shapes (:mod:`~hepml.stats.shapes`), the CMS Combine datacard
   (:mod:`~hepml.stats.datacard`), HistFactory XML (:mod:`~hepml.stats.histfactory`), the pyhf
   workspace (:mod:`~hepml.stats.workspace`), all at once with :func:`write_fit_inputs`;
5. :mod:`~hepml.stats.expected`: expected significance and upper limits with pyhf, written by
   :mod:`~hepml.stats.results`.

The figure of the templates is :func:`hepml.plots.templates.plot_templates` (imported on its own,
so that this package does not need matplotlib).
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

# imported on first use: the templates and fit inputs do not need pyhf and scipy loaded
_EXPORTS = {
    "Events": "hepml.stats.fill",
    "ExpectedResult": "hepml.stats.expected",
    "FitBinning": "hepml.stats.binning",
    "FitInputs": "hepml.stats.outputs",
    "FitModel": "hepml.stats.model",
    "FitYields": "hepml.stats.expected",
    "NormSystematic": "hepml.stats.model",
    "Templates": "hepml.stats.templates",
    "VARIANTS": "hepml.stats.expected",
    "build_workspace": "hepml.stats.workspace",
    "datacard_text": "hepml.stats.datacard",
    "expected_limits": "hepml.stats.expected",
    "expected_results": "hepml.stats.expected",
    "expected_significance": "hepml.stats.expected",
    "fill_templates": "hepml.stats.fill",
    "fit_edges": "hepml.stats.binning",
    "fitted_yields": "hepml.stats.expected",
    "flat_signal_edges": "hepml.stats.binning",
    "histfactory_xml": "hepml.stats.histfactory",
    "merge_edges": "hepml.stats.binning",
    "read_results": "hepml.stats.results",
    "read_templates": "hepml.stats.templates",
    "read_workspace": "hepml.stats.workspace",
    "reduced_workspace": "hepml.stats.workspace",
    "validate_workspace": "hepml.stats.workspace",
    "write_datacard": "hepml.stats.datacard",
    "write_fit_inputs": "hepml.stats.outputs",
    "write_histfactory": "hepml.stats.histfactory",
    "write_results": "hepml.stats.results",
    "write_shapes": "hepml.stats.shapes",
    "write_templates": "hepml.stats.templates",
    "write_workspace": "hepml.stats.workspace",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
