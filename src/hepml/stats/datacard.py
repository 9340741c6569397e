"""The CMS Combine datacard of a :class:`~hepml.stats.model.FitModel` (plain text).

The datacard reads every template from the shapes ROOT file (:mod:`hepml.stats.shapes`):
rates are ``-1`` (the integral of the template), the observation is ``-1`` (the integral of
``data_obs``). Normalisation uncertainties are ``lnN`` (``down/up`` factors), up/down
template pairs ``shape`` (Combine splits them into a log-normal yield change and a shape
morphing itself), the luminosity ``lnN`` and the MC statistics ``autoMCStats 0`` (one
Gaussian parameter per bin, Barlow-Beeston lite, as pyhf's ``staterror``). Combine's signal
strength ``r`` plays the role of pyhf's ``mu``.
"""

from __future__ import annotations

import os

from hepml.atomic import write_text
from hepml.stats.model import FitModel

__all__ = ["datacard_text", "write_datacard"]

_RULE = "-" * 80


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(map(len, rows)))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _process_indices(model: FitModel) -> dict[str, int]:
    """Combine's process numbers: signals 0, -1, -2, ...; backgrounds 1, 2, ... (by name)."""
    signals, backgrounds = [], []
    for templates in model.channels:
        signals += [p for p in templates.signal_names if p not in signals]
        backgrounds += [p for p in templates.background_names if p not in backgrounds]
    return {
        **{p: -i for i, p in enumerate(signals)},
        **{p: i + 1 for i, p in enumerate(backgrounds)},
    }


def _format_factor(down: float, up: float) -> str:
    return f"{down:.6g}/{up:.6g}"


def _systematic_rows(model: FitModel, columns: list[tuple[str, str]]) -> list[list[str]]:
    """One row per nuisance parameter: lumi, normalisation (lnN) and shape systematics."""
    rows = []
    if model.lumi_uncertainty is not None:
        rows.append(["lumi", "lnN"] + [f"{1 + model.lumi_uncertainty:.6g}"] * len(columns))
    for syst in model.norm_systematics:
        cells = [_format_factor(*syst.factors[p]) if p in syst.factors else "-" for _, p in columns]
        rows.append([syst.name, "lnN", *cells])
    by_channel = {t.channel: t for t in model.channels}
    shape_systs = sorted({s for t in model.channels for s in t.systematics})
    for syst in shape_systs:
        cells = [
            "1" if syst in by_channel[channel].systematics_of(process) else "-"
            for channel, process in columns
        ]
        rows.append([syst, "shape", *cells])
    return rows


def datacard_text(model: FitModel, shapes_file: str) -> str:
    """The datacard, reading its templates from ``shapes_file`` (a path relative to the
    datacard, as Combine resolves it)."""
    columns = [(t.channel, p) for t in model.channels for p in t.simulated_names]
    indices = _process_indices(model)
    channels = [t.channel for t in model.channels]
    lines = [
        "# CMS Combine datacard written by hepml (hepml.stats); signal strength r = pyhf's mu",
        f"imax {len(channels)}  number of channels",
        f"jmax {len(indices) - 1}  number of processes minus 1",
        "kmax *  number of nuisance parameters",
        _RULE,
        f"shapes * * {shapes_file} $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC",
        _RULE,
        *_table([["bin", *channels], ["observation", *(["-1"] * len(channels))]]),
        _RULE,
    ]
    process_rows = [
        ["bin", "", *(c for c, _ in columns)],
        ["process", "", *(p for _, p in columns)],
        ["process", "", *(str(indices[p]) for _, p in columns)],
        ["rate", "", *(["-1"] * len(columns))],
    ]
    table = _table(process_rows + _systematic_rows(model, columns))
    lines += [*table[:4], _RULE, *table[4:], _RULE, "* autoMCStats 0"]
    return "\n".join(lines) + "\n"


def write_datacard(path: str | os.PathLike[str], model: FitModel, shapes_file: str) -> None:
    """Write :func:`datacard_text` to ``path`` atomically."""
    write_text(path, datacard_text(model, shapes_file))
