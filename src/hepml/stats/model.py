"""The statistical model to be written out: templates of each channel plus the uncertainties.

:class:`FitModel` is the one description that every output (ROOT shapes, Combine datacard,
HistFactory XML, pyhf workspace) is written from, so they describe the same likelihood:

- the signal strength ``mu`` (parameter of interest) scales every signal process;
- a :class:`NormSystematic` is a flat normalisation uncertainty (factors ``down``/``up`` per
  process): ``lnN`` in Combine, ``OverallSys``/``normsys`` in HistFactory/pyhf;
- an up/down template pair is split, as Combine does with a ``shape`` uncertainty, into its
  normalisation change (``normsys`` with ``kappa = sum(variation) / sum(nominal)``) and its
  shape at the nominal normalisation (``histosys``), both on one nuisance parameter;
- the MC statistical uncertainty is one Gaussian-constrained parameter per bin for all
  simulated processes together (Barlow-Beeston lite: pyhf ``staterror``, Combine
  ``autoMCStats 0``);
- an optional luminosity uncertainty scales every simulated process.

A FitModel that cannot be fitted (a bin without background, negative yields, no signal) is
refused when it is made, naming the channel, process and bin.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

import numpy as np

from hepml.exceptions import ConfigError, DataError, did_you_mean
from hepml.stats.templates import NOMINAL, Templates, check_name

__all__ = [
    "DATA_OBS",
    "FitModel",
    "NormSystematic",
    "ShapeSplit",
    "histogram_key",
    "shape_only_key",
    "shape_split",
]

log = logging.getLogger(__name__)

DATA_OBS = "data_obs"  # Combine's name of the observed (here Asimov or real) data


def histogram_key(channel: str, process: str, variation: str = NOMINAL) -> str:
    """Path of a template in the shapes ROOT file, as Combine's
    ``shapes * * file $CHANNEL/$PROCESS $CHANNEL/$PROCESS_$SYSTEMATIC`` finds it."""
    return f"{channel}/{process}" if variation == NOMINAL else f"{channel}/{process}_{variation}"


def shape_only_key(channel: str, process: str, variation: str) -> str:
    """Path of a variation rescaled to the nominal yield (the HistFactory ``HistoSys`` part)."""
    return f"{channel}/shape_only/{process}_{variation}"


@dataclasses.dataclass(frozen=True)
class NormSystematic:
    """A flat normalisation uncertainty ``name``: ``factors[process] = (down, up)``.

    The factors multiply the process yield at -1 and +1 standard deviation, e.g.
    ``(0.95, 1.05)`` for 5 %. Processes not listed are not affected.
    """

    name: str
    factors: Mapping[str, tuple[float, float]]

    def __post_init__(self) -> None:
        check_name("systematic", self.name)
        factors = {}
        for process, pair in dict(self.factors).items():
            down, up = (float(v) for v in pair)
            if not (down > 0 and up > 0 and np.isfinite(down) and np.isfinite(up)):
                msg = (
                    f"normalisation systematic '{self.name}' on '{process}' needs positive "
                    f"factors (down, up); got {pair}"
                )
                raise ConfigError(msg)
            factors[process] = (down, up)
        if not factors:
            msg = f"normalisation systematic '{self.name}' affects no process"
            raise ConfigError(msg)
        object.__setattr__(self, "factors", factors)


@dataclasses.dataclass(frozen=True)
class ShapeSplit:
    """An up/down pair as normalisation factors and shape-only templates (nominal yield)."""

    kappa_down: float
    kappa_up: float
    shape_down: np.ndarray
    shape_up: np.ndarray


def shape_split(nominal: np.ndarray, down: np.ndarray, up: np.ndarray) -> ShapeSplit:
    """Split a variation pair: ``kappa = sum(variation) / sum(nominal)`` and
    ``shape = variation / kappa`` (the variation scaled back to the nominal yield)."""
    total = float(np.sum(nominal))
    kappa_down, kappa_up = float(np.sum(down)) / total, float(np.sum(up)) / total
    return ShapeSplit(kappa_down, kappa_up, down / kappa_down, up / kappa_up)


@dataclasses.dataclass(frozen=True, eq=False)
class FitModel:
    """Channels, uncertainties and settings of the likelihood to write out.

    ``lumi_uncertainty`` is relative (0.016 = 1.6 %), None for none. ``poi_bounds`` are the
    allowed signal strengths. Without a data process in a channel its observed data are the
    Asimov data: the sum of the nominal backgrounds, plus the nominal signal when
    ``asimov_includes_signal``.
    """

    channels: Sequence[Templates]
    norm_systematics: Sequence[NormSystematic] = ()
    lumi_uncertainty: float | None = None
    poi: str = "mu"
    poi_bounds: tuple[float, float] = (0.0, 10.0)
    asimov_includes_signal: bool = False
    measurement: str = "hepml"

    def __post_init__(self) -> None:
        channels = (self.channels,) if isinstance(self.channels, Templates) else self.channels
        object.__setattr__(self, "channels", tuple(channels))
        object.__setattr__(self, "norm_systematics", tuple(self.norm_systematics))
        object.__setattr__(self, "poi_bounds", tuple(float(b) for b in self.poi_bounds))
        self._check_settings()
        self._check_names()
        for templates in self.channels:
            _check_yields(templates)
        if not any(t.signal_names for t in self.channels):
            msg = "no signal: no channel has a process with the role 'signal'"
            raise DataError(msg)

    def _check_settings(self) -> None:
        check_name("parameter of interest", self.poi)
        check_name("measurement", self.measurement)
        if not self.channels:
            msg = "a fit model needs at least one channel of templates"
            raise DataError(msg)
        low, high = self.poi_bounds
        if not 0.0 <= low < 1.0 < high:
            msg = f"poi_bounds must satisfy 0 <= low < 1 < high; got {self.poi_bounds}"
            raise ConfigError(msg)
        if self.lumi_uncertainty is not None and not 0 < self.lumi_uncertainty < 1:
            msg = f"lumi_uncertainty is relative and must be in (0, 1); got {self.lumi_uncertainty}"
            raise ConfigError(msg)

    def _check_names(self) -> None:
        names = [t.channel for t in self.channels]
        if len(set(names)) != len(names):
            msg = f"channel names repeat: {names}"
            raise DataError(msg)
        processes = {p for t in self.channels for p in t.simulated_names}
        shape_systs = {s for t in self.channels for s in t.systematics}
        reserved = {self.poi, "lumi", *(f"staterror_{n}" for n in names)}
        seen = set()
        for syst in self.norm_systematics:
            if syst.name in seen or syst.name in shape_systs or syst.name in reserved:
                msg = (
                    f"normalisation systematic '{syst.name}' repeats a systematic or parameter name"
                )
                raise ConfigError(msg)
            seen.add(syst.name)
            for process in syst.factors:
                if process not in processes:
                    hint = did_you_mean(process, processes)
                    msg = (
                        f"normalisation systematic '{syst.name}' names unknown process "
                        f"'{process}'.{hint}"
                    )
                    raise ConfigError(msg)
        clash = sorted(shape_systs & reserved)
        if clash:
            msg = f"systematic '{clash[0]}' has the name of a model parameter; rename it"
            raise ConfigError(msg)

    def data(self, templates: Templates) -> tuple[np.ndarray, np.ndarray]:
        """``(sumw, sumw2)`` of the observed data of a channel.

        Without a data process these are the Asimov data with Poisson variance (``sumw2 =
        sumw``), as for unweighted events.
        """
        if templates.data_names:
            name = templates.data_names[0]
            return templates.sumw[name][NOMINAL], templates.sumw2[name][NOMINAL]
        sumw = templates.total("background")[0]
        if self.asimov_includes_signal:
            sumw = sumw + templates.total("signal")[0]
        return sumw, sumw.copy()

    def norm_factors(self, process: str) -> list[tuple[str, float, float]]:
        """``(name, down, up)`` of each normalisation systematic on ``process``."""
        return [
            (s.name, *s.factors[process]) for s in self.norm_systematics if process in s.factors
        ]

    def shape_splits(self, templates: Templates, process: str) -> dict[str, ShapeSplit]:
        """Each up/down systematic of ``process`` split into normalisation and shape."""
        nominal = templates.sumw[process][NOMINAL]
        return {
            syst: shape_split(
                nominal,
                templates.sumw[process][f"{syst}Down"],
                templates.sumw[process][f"{syst}Up"],
            )
            for syst in templates.systematics_of(process)
        }


def _bin_text(templates: Templates, index: int) -> str:
    low, high = templates.edges[index], templates.edges[index + 1]
    return f"bin {index} [{low:g}, {high:g}] of channel '{templates.channel}'"


def _check_yields(templates: Templates) -> None:
    """Refuse what no likelihood can describe: empty background bins, negative yields."""
    if not templates.background_names:
        msg = f"channel '{templates.channel}' has no background process"
        raise DataError(msg)
    background, _ = templates.total("background")
    for index in np.flatnonzero(~(background > 0)):
        msg = (
            f"{_bin_text(templates, index)} has a total background of {background[index]:g}; "
            "the fit needs every bin positive: use coarser bins (min_background)"
        )
        raise DataError(msg)
    for process in templates.simulated_names:
        for variation, values in templates.sumw[process].items():
            negative = np.flatnonzero(values < 0)
            if negative.size:
                msg = (
                    f"process '{process}' ({variation}) has {values[negative[0]]:g} events in "
                    f"{_bin_text(templates, negative[0])}; negative yields cannot be fitted: "
                    "use coarser bins"
                )
                raise DataError(msg)
            if not values.sum() > 0:
                msg = (
                    f"process '{process}' ({variation}) has no expected events in channel "
                    f"'{templates.channel}'; drop it from the channel or check its variation"
                )
                raise DataError(msg)
