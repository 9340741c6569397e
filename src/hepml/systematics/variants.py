"""The variants of one sample: the nominal and each up/down variation, as samples to read.

A variation direction (:class:`~hepml.config.model.Variation`) turns a sample into another
:class:`~hepml.config.model.Sample` read by the same ingest code:

- ``weight``: another weight expression (``genWeight * puWeightUp``): the same events, the same
  features and scores, another weight (kind ``weight``);
- ``branches``: replacements put in front of the sample's aliases (``Jet_pt: Jet_pt_jesUp``),
  so every feature, cut and weight reads the replacement: the features, the selection and the
  scores change (kind ``branches``);
- ``files`` / ``tree``: the varied events are read from other files or another tree (kind
  ``source``).

Pure functions of the config: no file is opened here.
"""

from __future__ import annotations

import dataclasses

from hepml.config import Config, Sample
from hepml.config.model import Variation
from hepml.exceptions import ConfigError, did_you_mean

__all__ = ["KINDS", "NOMINAL", "Variant", "sample_variants", "variant_names"]

NOMINAL = "nominal"
# how a variant differs from the nominal: nothing, its weight, its branches, its events' source
KINDS = ("nominal", "weight", "branches", "source")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One variant of a sample: ``name`` (``nominal``, ``<syst>Up``, ``<syst>Down``), the
    sample as this variant reads it, and its ``kind`` (:data:`KINDS`)."""

    name: str
    sample: Sample
    kind: str

    @property
    def same_events(self) -> bool:
        """Read from the nominal's files and tree (so scored in the nominal's pass)."""
        return self.kind != "source"


def _kind(variation: Variation) -> str:
    if variation.reads_other_events:
        return "source"
    return "branches" if variation.branches else "weight"


def _fit(config: Config):
    if config.fit is None:
        msg = "the config has no fit section: there are no variations to score"
        raise ConfigError(msg)
    return config.fit


def sample_variants(config: Config, name: str) -> list[Variant]:
    """The nominal of sample ``name`` and every variation direction that affects it."""
    fit = _fit(config)
    if name not in config.samples or config.samples[name].label == "data":
        mc = [n for n, s in config.samples.items() if s.label != "data"]
        msg = f"no simulated sample '{name}' in the config.{did_you_mean(name, mc)}"
        raise ConfigError(msg)
    sample = config.samples[name]
    variants = [Variant(NOMINAL, sample, "nominal")]
    for systematic in fit.of_sample(name):
        for variant, variation in systematic.directions().items():
            variants.append(Variant(variant, variation.applied_to(sample), _kind(variation)))
    return variants


def variant_names(config: Config, name: str) -> list[str]:
    """The names of :func:`sample_variants`, in order."""
    return [v.name for v in sample_variants(config, name)]
