"""The pyhf workspace (HistFactory JSON) of a :class:`~hepml.stats.model.FitModel`.

Per channel one sample per simulated process, with the modifiers:

- ``normfactor`` ``mu`` (the parameter of interest) on every signal sample;
- ``normsys`` for each flat normalisation uncertainty (``hi``/``lo`` factors);
- ``normsys`` + ``histosys`` on one parameter for each up/down template pair: the yield
  change and the shape at nominal yield (see :mod:`hepml.stats.model`);
- ``staterror`` ``staterror_<channel>`` with ``sqrt(sumw2)`` per bin on every simulated
  sample: one Gaussian parameter per bin for the summed MC statistics;
- ``lumi`` on every simulated sample when a luminosity uncertainty is given.

The observations are the model's data (Asimov when no data process). Every workspace is
checked against pyhf's schema (:func:`validate_workspace`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pyhf

from hepml.atomic import write_json
from hepml.exceptions import DataError
from hepml.stats.jsonfile import read_json_file
from hepml.stats.model import FitModel
from hepml.stats.templates import NOMINAL, Templates

__all__ = [
    "MODIFIER_TYPES",
    "build_workspace",
    "read_workspace",
    "reduced_workspace",
    "validate_workspace",
    "write_workspace",
]

log = logging.getLogger(__name__)

MODIFIER_TYPES = ("normfactor", "normsys", "histosys", "staterror", "lumi")


def _sample(model: FitModel, templates: Templates, process: str) -> dict[str, Any]:
    """One pyhf sample: the nominal yields and every modifier that acts on ``process``."""
    modifiers: list[dict[str, Any]] = []
    if templates.roles[process] == "signal":
        modifiers.append({"name": model.poi, "type": "normfactor", "data": None})
    for name, down, up in model.norm_factors(process):
        modifiers.append({"name": name, "type": "normsys", "data": {"hi": up, "lo": down}})
    for syst, split in model.shape_splits(templates, process).items():
        norm = {"hi": split.kappa_up, "lo": split.kappa_down}
        shape = {"hi_data": split.shape_up.tolist(), "lo_data": split.shape_down.tolist()}
        modifiers.append({"name": syst, "type": "normsys", "data": norm})
        modifiers.append({"name": syst, "type": "histosys", "data": shape})
    if model.lumi_uncertainty is not None:
        modifiers.append({"name": "lumi", "type": "lumi", "data": None})
    stat = np.sqrt(templates.sumw2[process][NOMINAL]).tolist()
    modifiers.append({"name": f"staterror_{templates.channel}", "type": "staterror", "data": stat})
    return {
        "name": process,
        "data": templates.sumw[process][NOMINAL].tolist(),
        "modifiers": modifiers,
    }


def _parameters(model: FitModel) -> list[dict[str, Any]]:
    """Measurement parameter settings: the POI's bounds and start, the luminosity constraint."""
    parameters: list[dict[str, Any]] = [
        {"name": model.poi, "bounds": [list(model.poi_bounds)], "inits": [1.0]}
    ]
    if model.lumi_uncertainty is not None:
        sigma = model.lumi_uncertainty
        parameters.append(
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [sigma],
                "bounds": [[max(1.0 - 5.0 * sigma, 1e-6), 1.0 + 5.0 * sigma]],
                "inits": [1.0],
            }
        )
    return parameters


def build_workspace(model: FitModel) -> dict[str, Any]:
    """The pyhf workspace specification (a JSON-ready dict) of ``model``, schema-checked."""
    spec = {
        "channels": [
            {
                "name": templates.channel,
                "samples": [_sample(model, templates, p) for p in templates.simulated_names],
            }
            for templates in model.channels
        ],
        "observations": [
            {"name": templates.channel, "data": model.data(templates)[0].tolist()}
            for templates in model.channels
        ],
        "measurements": [
            {
                "name": model.measurement,
                "config": {"poi": model.poi, "parameters": _parameters(model)},
            }
        ],
        "version": "1.0.0",
    }
    validate_workspace(spec)
    return spec


def validate_workspace(spec: Mapping[str, Any]) -> pyhf.Workspace:
    """Check ``spec`` against pyhf's workspace schema and build its model once.

    A schema violation becomes a DataError that names the failing entry (e.g.
    ``channels[0].samples[1]``) and what is wrong with it; so do a model pyhf cannot build
    and observations that do not match the channels.
    """
    try:
        workspace = pyhf.Workspace(dict(spec))
        model = workspace.model()
    except pyhf.exceptions.InvalidSpecification as err:
        where = err.path or "the top level"
        msg = f"the pyhf workspace fails pyhf's schema at {where}: {err.parent.message}"
        raise DataError(msg) from err
    except (
        pyhf.exceptions.InvalidMeasurement,
        pyhf.exceptions.InvalidModel,
        pyhf.exceptions.InvalidModifier,
        pyhf.exceptions.InvalidNameReuse,
    ) as err:
        msg = f"the pyhf workspace is not a valid model: {err}"
        raise DataError(msg) from err
    for channel, n_bins in model.config.channel_nbins.items():
        observed = workspace.observations.get(channel)
        if observed is None or len(observed) != n_bins:
            found = "none" if observed is None else f"{len(observed)} bins"
            msg = f"the observations of channel '{channel}' must have {n_bins} bins; found {found}"
            raise DataError(msg)
    return workspace


def reduced_workspace(spec: Mapping[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
    """``spec`` with only the POI's ``normfactor`` and the modifier types in ``keep``.

    ``keep=()`` is the "stat only" model: the data's Poisson fluctuations alone, no nuisance
    parameter at all (not even the MC statistics). Parameter settings of removed modifiers
    are dropped too.
    """
    unknown = sorted(set(keep) - set(MODIFIER_TYPES))
    if unknown:
        msg = f"unknown modifier type '{unknown[0]}' to keep; valid: {', '.join(MODIFIER_TYPES)}"
        raise DataError(msg)
    validate_workspace(spec)
    poi = spec["measurements"][0]["config"]["poi"]

    def kept(modifier: Mapping[str, Any]) -> bool:
        return modifier["type"] in keep or (
            modifier["type"] == "normfactor" and modifier["name"] == poi
        )

    channels = [
        {
            "name": channel["name"],
            "samples": [
                {**sample, "modifiers": [m for m in sample["modifiers"] if kept(m)]}
                for sample in channel["samples"]
            ],
        }
        for channel in spec["channels"]
    ]
    names = {m["name"] for c in channels for s in c["samples"] for m in s["modifiers"]}
    measurements = [
        {
            "name": measurement["name"],
            "config": {
                **measurement["config"],
                "parameters": [
                    p for p in measurement["config"]["parameters"] if p["name"] in names
                ],
            },
        }
        for measurement in spec["measurements"]
    ]
    reduced = {**spec, "channels": channels, "measurements": measurements}
    validate_workspace(reduced)
    return reduced


def write_workspace(path: str | os.PathLike[str], spec: Mapping[str, Any]) -> None:
    """Write a workspace specification (validated first) as JSON, atomically."""
    validate_workspace(spec)
    write_json(path, spec)


def _validated(spec: Any) -> dict[str, Any]:
    validate_workspace(spec)
    return spec


def read_workspace(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a pyhf workspace JSON file; errors name the file."""
    return read_json_file(path, "a pyhf workspace", _validated)
