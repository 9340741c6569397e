"""The ``fit`` and ``systematics`` sections as :class:`~hepml.config.model.FitSettings`.

Checks what the schema cannot: the samples a variation names exist and are simulated, a
per-sample weight or file mapping covers exactly the samples the variation affects, no
variation replaces an event-number branch (its events must keep the nominal's folds) or a
name that a sample defines as an alias, normalisation uncertainties name processes, and no
name is used twice or clashes with a parameter of the fit model (``mu``, ``lumi``,
``staterror_<channel>``).
"""

from __future__ import annotations

from typing import Any

from hepml.config.model import FitSettings, Sample, Systematic, Variation
from hepml.exceptions import ConfigError, did_you_mean

__all__ = ["fit_settings"]

DIRECTIONS = ("up", "down")


def fit_settings(
    data: dict[str, Any], samples: dict[str, Sample], event_number: tuple[str, ...], source: str
) -> FitSettings | None:
    """The statistics stage of the validated config ``data`` (None without a ``fit`` section)."""
    if "fit" not in data:
        if data.get("systematics"):
            msg = (
                f"{source}: systematics: the variations and uncertainties feed the fit, which "
                "this config has not asked for: add a fit section (fit: {} for its defaults)"
            )
            raise ConfigError(msg)
        return None
    fit = data["fit"]
    section = data.get("systematics", {})
    mc = {n: s for n, s in samples.items() if s.label in ("signal", "background")}
    systematics = tuple(
        _systematic(name, spec, mc, event_number, f"{source}: systematics.variations.{name}")
        for name, spec in section.get("variations", {}).items()
    )
    normalisation = {
        name: _normalisation(factors, mc, f"{source}: systematics.normalisation.{name}")
        for name, factors in section.get("normalisation", {}).items()
    }
    _check_names(systematics, normalisation, fit["channel"], source)
    low, high = (float(b) for b in fit["poi_bounds"])
    if not 0.0 <= low < 1.0 < high:
        msg = f"{source}: fit.poi_bounds = {fit['poi_bounds']}: needs 0 <= low < 1 < high"
        raise ConfigError(msg)
    binning = dict(fit["binning"])
    if not binning["low"] < binning["high"]:
        msg = (
            f"{source}: fit.binning: low ({binning['low']}) must be below high ({binning['high']})"
        )
        raise ConfigError(msg)
    return FitSettings(
        channel=fit["channel"],
        binning=binning,
        lumi_uncertainty=fit["lumi_uncertainty"],
        poi_bounds=(low, high),
        expected=tuple(fit["expected"]),
        cl=float(fit["cl"]),
        systematics=systematics,
        normalisation=normalisation,
    )


def _affected(spec: dict[str, Any], mc: dict[str, Sample], where: str) -> tuple[str, ...]:
    """``samples`` if given, else the samples the weight/files mappings name, else all MC."""
    named = spec.get("samples")
    if named is None:
        keyed = [
            name
            for direction in DIRECTIONS
            for key in ("weight", "files")
            if isinstance(spec[direction].get(key), dict)
            for name in spec[direction][key]
        ]
        named = list(dict.fromkeys(keyed)) or list(mc)
    for name in named:
        if name not in mc:
            msg = (
                f"{where}.samples: '{name}' is not a signal or background sample."
                f"{did_you_mean(name, mc)}"
            )
            raise ConfigError(msg)
    if len(set(named)) != len(named):
        msg = f"{where}.samples lists a sample twice: {named}"
        raise ConfigError(msg)
    return tuple(named)


def _per_sample(value: Any, affected: tuple[str, ...], where: str) -> dict[str, Any]:
    """A value for every affected sample: one for all, or a mapping naming exactly them."""
    if not isinstance(value, dict):
        return dict.fromkeys(affected, value)
    for name in value:
        if name not in affected:
            msg = (
                f"{where}: sample '{name}' is not among the samples the variation affects "
                f"({', '.join(affected)}).{did_you_mean(name, affected)}"
            )
            raise ConfigError(msg)
    missing = [name for name in affected if name not in value]
    if missing:
        msg = f"{where}: no entry for sample '{missing[0]}', which the variation affects"
        raise ConfigError(msg)
    return dict(value)


def _variation(
    spec: dict[str, Any],
    affected: tuple[str, ...],
    mc: dict[str, Sample],
    event_number: tuple[str, ...],
    where: str,
) -> Variation:
    branches = dict(spec.get("branches", {}))
    for name in branches:
        if name in event_number:
            msg = (
                f"{where}.branches replaces the event-number branch '{name}': a variation's "
                "events keep the nominal's event numbers (and folds)"
            )
            raise ConfigError(msg)
        for sample in affected:
            if name in mc[sample].aliases:
                msg = (
                    f"{where}.branches replaces '{name}', which sample '{sample}' defines as an "
                    f"alias ({name}: {mc[sample].aliases[name]}): replace the branch the alias "
                    "reads instead"
                )
                raise ConfigError(msg)
    weight = _per_sample(spec["weight"], affected, f"{where}.weight") if "weight" in spec else {}
    files = _per_sample(spec["files"], affected, f"{where}.files") if "files" in spec else {}
    return Variation(
        weight=weight,
        branches=branches,
        files={s: (f,) if isinstance(f, str) else tuple(f) for s, f in files.items()},
        tree=spec.get("tree"),
    )


def _systematic(
    name: str,
    spec: dict[str, Any],
    mc: dict[str, Sample],
    event_number: tuple[str, ...],
    where: str,
) -> Systematic:
    affected = _affected(spec, mc, where)
    up, down = (_variation(spec[d], affected, mc, event_number, f"{where}.{d}") for d in DIRECTIONS)
    return Systematic(name, affected, up, down)


def _normalisation(
    factors: dict[str, Any], mc: dict[str, Sample], where: str
) -> dict[str, tuple[float, float]]:
    """``{process: kappa | [down, up]}`` as ``{process: (down, up)}`` (kappa: 1/kappa, kappa)."""
    processes = sorted({s.process for s in mc.values()})
    out = {}
    for process, value in factors.items():
        if process not in processes:
            msg = (
                f"{where}: '{process}' is not a process of the signal or background samples."
                f"{did_you_mean(process, processes)}"
            )
            raise ConfigError(msg)
        out[process] = (
            (1.0 / value, float(value))
            if not isinstance(value, list)
            else tuple(float(v) for v in value)
        )
    return out


def _check_names(
    systematics: tuple[Systematic, ...],
    normalisation: dict[str, Any],
    channel: str,
    source: str,
) -> None:
    reserved = {"mu", "lumi", f"staterror_{channel}"}
    for syst in [s.name for s in systematics] + list(normalisation):
        if syst in reserved:
            msg = (
                f"{source}: systematics: the name '{syst}' is a parameter of the fit model "
                f"({', '.join(sorted(reserved))}); rename it"
            )
            raise ConfigError(msg)
    both = sorted({s.name for s in systematics} & set(normalisation))
    if both:
        msg = (
            f"{source}: systematics: '{both[0]}' is both a variation and a normalisation "
            "uncertainty; give them different names"
        )
        raise ConfigError(msg)
