"""From the scored variants of every sample to the fit's templates and the yield table.

The nominal out-of-fold events of all simulated samples choose the fit binning
(:func:`hepml.stats.fit_edges`, as ``fit.binning`` says); then the score of every process is
histogrammed for the nominal and each variation (:func:`hepml.stats.fill_templates`). A
variation that affects only some samples of a process takes the nominal events of the others;
a process none of whose samples it affects has no template for it (not affected in the fit).
:func:`variation_yields` tabulates each variation's change of each process's yield, and
:func:`fit_model` adds the normalisation and luminosity uncertainties of the config.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepml.config import Config
from hepml.exceptions import DataError, did_you_mean
from hepml.stats import Events, FitBinning, FitModel, NormSystematic, Templates, fill_templates
from hepml.stats import fit_edges as stats_fit_edges
from hepml.systematics.scoring import VARIATIONS_KEY
from hepml.systematics.variants import NOMINAL

__all__ = ["fit_model", "fit_templates", "read_variations", "roles_of", "variation_yields"]

log = logging.getLogger(__name__)


def read_variations(paths: Mapping[str, str | os.PathLike[str]]) -> dict[str, dict[str, dict]]:
    """Sample -> variation -> ``{score, weight}`` arrays, from ``hepml variations``' tables
    (a variation without any selected event has empty arrays)."""
    out: dict[str, dict[str, dict]] = {}
    for sample, path in paths.items():
        try:
            table = pq.read_table(path, columns=["variation", "score", "weight"])
            names = json.loads((table.schema.metadata or {})[VARIATIONS_KEY])
        except (OSError, ValueError, KeyError) as err:  # missing, corrupt, not ours
            msg = (
                f"cannot read the variations of sample '{sample}' from '{path}' ({err!r}); "
                "it must be a table of hepml variations"
            )
            raise DataError(msg) from err
        out[sample] = {}
        for name in names:
            rows = table.filter(pc.equal(table["variation"], name))
            out[sample][name] = {
                "score": rows["score"].to_numpy(),
                "weight": rows["weight"].to_numpy(),
            }
        if NOMINAL not in out[sample]:
            msg = f"'{path}' holds no nominal events of sample '{sample}'"
            raise DataError(msg)
    return out


def roles_of(config: Config) -> dict[str, str]:
    """Process -> role (signal/background) of the simulated samples, in config order."""
    roles: dict[str, str] = {}
    for sample in config.samples.values():
        if sample.label != "data":
            roles.setdefault(sample.process, sample.label)
    return roles


def _events(config: Config, tables, variation: str, affected=()) -> Events:
    """Events of every sample: ``variation`` for the ``affected`` samples, else the nominal."""
    scores, weights, processes = [], [], []
    for sample, variations in tables.items():
        name = variation if sample in affected else NOMINAL
        if name not in variations:
            msg = (
                f"the variations of sample '{sample}' hold no '{name}' events; rerun "
                "hepml variations for it (the config's systematics changed?)"
            )
            raise DataError(msg)
        scores.append(variations[name]["score"])
        weights.append(variations[name]["weight"])
        processes.append(np.full(scores[-1].size, config.samples[sample].process))
    return Events(np.concatenate(scores), np.concatenate(weights), np.concatenate(processes))


def _check_samples(config: Config, tables: Mapping[str, Any]) -> None:
    expected = [n for n, s in config.samples.items() if s.label != "data"]
    for sample in tables:
        if sample not in expected:
            msg = f"variations given for '{sample}', not a simulated sample of the config."
            raise DataError(msg + did_you_mean(sample, expected))
    missing = [n for n in expected if n not in tables]
    if missing:
        msg = f"no variations given for sample '{missing[0]}'; the fit needs every MC sample"
        raise DataError(msg)


def fit_templates(config: Config, tables: Mapping[str, Mapping[str, dict]]) -> Templates:
    """The templates of the fit channel from :func:`read_variations`' tables."""
    _check_samples(config, tables)
    fit = config.fit
    roles = roles_of(config)
    nominal = _events(config, tables, NOMINAL)
    signal = np.isin(nominal.process, [p for p, r in roles.items() if r == "signal"])
    edges = stats_fit_edges(
        FitBinning(**fit.binning),
        nominal.score[signal],
        nominal.weight[signal],
        nominal.score[~signal],
        nominal.weight[~signal],
    )
    variations, applies_to = {}, {}
    for syst in fit.systematics:
        applies_to[syst.name] = sorted({config.samples[s].process for s in syst.samples})
        for variation in syst.directions():
            variations[variation] = _events(config, tables, variation, syst.samples)
    return fill_templates(
        edges, roles, nominal, variations, channel=fit.channel, applies_to=applies_to
    )


def _kind(config: Config, syst: str) -> str:
    for systematic in config.fit.systematics:
        if systematic.name == syst:
            up, down = systematic.up, systematic.down
            if up.reads_other_events or down.reads_other_events:
                return "files/tree"
            return "shape (branches)" if up.branches or down.branches else "weight"
    return "normalisation"


def variation_yields(config: Config, templates: Templates) -> list[dict[str, Any]]:
    """One row per process and systematic: the nominal yield, the up/down yields and their
    relative change (expected events; normalisation uncertainties by their factors)."""
    rows = []
    for process in templates.simulated_names:
        nominal = float(np.sum(templates.sumw[process][NOMINAL]))
        for syst in templates.systematics_of(process):
            up = float(np.sum(templates.sumw[process][f"{syst}Up"]))
            down = float(np.sum(templates.sumw[process][f"{syst}Down"]))
            rows.append(_row(process, syst, _kind(config, syst), nominal, up, down))
        for syst, factors in config.fit.normalisation.items():
            if process in factors:
                low, high = factors[process]
                rows.append(_row(process, syst, "normalisation", nominal, nominal * high,
                                 nominal * low))  # fmt: skip
    return rows


def _change_percent(varied: float, nominal: float) -> float:
    """``100 (varied / nominal - 1)``; 0 within the rounding of sums in another order."""
    change = varied / nominal - 1.0
    return 0.0 if abs(change) < 1e-12 else 100.0 * change


def _row(process, syst, kind, nominal, up, down) -> dict[str, Any]:
    return {
        "process": process,
        "systematic": syst,
        "kind": kind,
        "nominal": nominal,
        "up": up,
        "down": down,
        "up_change_percent": _change_percent(up, nominal),
        "down_change_percent": _change_percent(down, nominal),
    }


def fit_model(config: Config, templates: Templates) -> FitModel:
    """The fit model of ``templates`` with the config's normalisation and lumi uncertainties."""
    fit = config.fit
    return FitModel(
        templates,
        norm_systematics=[NormSystematic(n, f) for n, f in fit.normalisation.items()],
        lumi_uncertainty=fit.lumi_uncertainty,
        poi_bounds=fit.poi_bounds,
    )
