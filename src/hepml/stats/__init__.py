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

from hepml.stats.binning import FitBinning, fit_edges, flat_signal_edges, merge_edges
from hepml.stats.datacard import datacard_text, write_datacard
from hepml.stats.expected import (
    VARIANTS,
    ExpectedResult,
    FitYields,
    expected_limits,
    expected_results,
    expected_significance,
    fitted_yields,
)
from hepml.stats.fill import Events, fill_templates
from hepml.stats.histfactory import histfactory_xml, write_histfactory
from hepml.stats.model import FitModel, NormSystematic
from hepml.stats.outputs import FitInputs, write_fit_inputs
from hepml.stats.results import read_results, write_results
from hepml.stats.shapes import write_shapes
from hepml.stats.templates import Templates, read_templates, write_templates
from hepml.stats.workspace import (
    build_workspace,
    read_workspace,
    reduced_workspace,
    validate_workspace,
    write_workspace,
)

__all__ = [
    "VARIANTS",
    "Events",
    "ExpectedResult",
    "FitBinning",
    "FitInputs",
    "FitModel",
    "FitYields",
    "NormSystematic",
    "Templates",
    "build_workspace",
    "datacard_text",
    "expected_limits",
    "expected_results",
    "expected_significance",
    "fill_templates",
    "fit_edges",
    "fitted_yields",
    "flat_signal_edges",
    "histfactory_xml",
    "merge_edges",
    "read_results",
    "read_templates",
    "read_workspace",
    "reduced_workspace",
    "validate_workspace",
    "write_datacard",
    "write_fit_inputs",
    "write_histfactory",
    "write_results",
    "write_shapes",
    "write_templates",
    "write_workspace",
]


def __dir__() -> list[str]:
    return __all__
