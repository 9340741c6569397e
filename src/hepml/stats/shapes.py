"""The templates as ROOT histograms (TH1D with sum of squared weights), written with uproot.

Layout (read by CMS Combine's ``shapes * * shapes.root $CHANNEL/$PROCESS
$CHANNEL/$PROCESS_$SYSTEMATIC`` and by the HistFactory XML of :mod:`hepml.stats.histfactory`):

- ``<channel>/<process>``: nominal template of each simulated process;
- ``<channel>/<process>_<syst>Up``, ``..._<syst>Down``: its variations as filled;
- ``<channel>/shape_only/<process>_<syst>Up|Down``: the variations scaled to the nominal
  yield (the ``HistoSys`` part of HistFactory's ``OverallSys`` + ``HistoSys`` split);
- ``<channel>/data_obs``: the observed data, or the Asimov data when there are none.

Bin contents are expected events; the TH1D's ``fSumw2`` holds the MC variance per bin.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import hist
import numpy as np
import uproot

from hepml.atomic import atomic_path
from hepml.stats.model import DATA_OBS, FitModel, histogram_key, shape_only_key
from hepml.stats.templates import NOMINAL

__all__ = ["shape_histograms", "write_shapes"]

log = logging.getLogger(__name__)


def _th1(edges: np.ndarray, sumw: np.ndarray, sumw2: np.ndarray) -> hist.Hist:
    """A weighted histogram (values and variances, empty under/overflow) for uproot to write."""
    histogram = hist.Hist(hist.axis.Variable(edges, name="score"), storage=hist.storage.Weight())
    view = histogram.view(flow=True)
    view.value[1:-1] = sumw
    view.variance[1:-1] = sumw2
    return histogram


def shape_histograms(model: FitModel) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Every histogram of the shapes file as ``(key, edges, sumw, sumw2)``, in writing order."""
    for templates in model.channels:
        channel, edges = templates.channel, templates.edges
        for process in templates.simulated_names:
            for variation in templates.sumw[process]:
                yield (
                    histogram_key(channel, process, variation),
                    edges,
                    templates.sumw[process][variation],
                    templates.sumw2[process][variation],
                )
            for syst, split in model.shape_splits(templates, process).items():
                for direction, shape, kappa in (
                    ("Up", split.shape_up, split.kappa_up),
                    ("Down", split.shape_down, split.kappa_down),
                ):
                    variation = f"{syst}{direction}"
                    sumw2 = templates.sumw2[process][variation] / kappa**2
                    yield shape_only_key(channel, process, variation), edges, shape, sumw2
        data_sumw, data_sumw2 = model.data(templates)
        yield histogram_key(channel, DATA_OBS, NOMINAL), edges, data_sumw, data_sumw2


def write_shapes(path: str | os.PathLike[str], model: FitModel) -> None:
    """Write the ROOT file of ``model``'s templates (see the module docstring), atomically."""
    count = 0
    with atomic_path(path) as tmp, uproot.recreate(tmp) as file:
        for key, edges, sumw, sumw2 in shape_histograms(model):
            file[key] = _th1(edges, sumw, sumw2)
            count += 1
    log.info("wrote %d histograms to %s", count, path)
