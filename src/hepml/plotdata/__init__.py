"""Plot data: what a figure shows, as typed objects with a versioned JSON form.

The stage that computes (evaluation, tuning) builds these objects and writes them; the plots
read them back with :meth:`~hepml.plotdata.base.PlotData.read`, which checks the file's
``format`` field. Depends on numpy and hepml's atomic writes only: every stage may use it.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "ClassifierRoc": "hepml.plotdata.performance",
    "ClassifierScan": "hepml.plotdata.performance",
    "ClassifierScores": "hepml.plotdata.performance",
    "Correlations": "hepml.plotdata.inputs",
    "DataMC": "hepml.plotdata.inputs",
    "FlowHistogram": "hepml.plotdata.histograms",
    "Histogram": "hepml.plotdata.histograms",
    "InputVariables": "hepml.plotdata.inputs",
    "PlotData": "hepml.plotdata.base",
    "RocCurve": "hepml.plotdata.performance",
    "RocCurves": "hepml.plotdata.performance",
    "ScoreHistograms": "hepml.plotdata.performance",
    "ShapSummary": "hepml.plotdata.training",
    "SignificanceScans": "hepml.plotdata.performance",
    "TuneTrials": "hepml.plotdata.training",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
