"""Checks of a schema-valid configuration that a JSON schema cannot express.

Each refuses, as a :class:`~hepml.exceptions.ConfigError` naming the key, a config that would
otherwise run to the end and give a silently wrong number:

* a feature or alias named like a constant of the expression language or a Python keyword
  (``e`` would be read as 2.718... in every later expression, ``True`` as the constant);
* a ``label: data`` sample with a cross section or another MC normalisation key (collision
  data would be scaled like simulation);
* one ``process`` name for samples of different labels (signal and background events would
  be stacked and counted as one process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hepml.config.names import reserved_name_error
from hepml.exceptions import ConfigError

__all__ = ["check_data_samples", "check_processes", "check_reserved_names"]

# keys that only serve the luminosity normalisation of simulated samples
_MC_ONLY = ("cross_section", "sum_of_weights", "generator_weight")


def check_reserved_names(data: Mapping[str, Any], source: str) -> None:
    """No feature or alias may take a name that expressions reserve."""
    named = [(f"features[{i}].name", f["name"]) for i, f in enumerate(data.get("features", []))]
    for section, samples in (
        ("samples", data.get("samples", {})),
        ("apply.samples", data.get("apply", {}).get("samples", {})),
    ):
        for sample, spec in samples.items():
            named += [(f"{section}.{sample}.aliases.{a}", a) for a in spec.get("aliases", {})]
    for where, name in named:
        message = reserved_name_error(str(name), where)
        if message is not None:
            msg = f"{source}: {message}"
            raise ConfigError(msg)


def check_data_samples(samples: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """Collision data is used as it is: no cross section, sum of weights or generator weight."""
    for name, spec in samples.items():
        if spec.get("label") != "data":
            continue
        for key in _MC_ONLY:
            if key in spec:
                msg = (
                    f"{source}: samples.{name}.{key} is set, but sample '{name}' has label "
                    f"'data': collision data is never normalised to a cross section and "
                    f"luminosity (its weights are used as they are); remove '{key}', or give "
                    f"the sample label 'signal' or 'background' if it is simulation"
                )
                raise ConfigError(msg)


def check_processes(samples: Mapping[str, Any], source: str) -> None:
    """Samples grouped into one process must share their label (``samples`` are Samples)."""
    first: dict[str, Any] = {}
    for sample in samples.values():
        other = first.setdefault(sample.process, sample)
        if other.label != sample.label:
            msg = (
                f"{source}: samples '{other.name}' ({other.label}) and '{sample.name}' "
                f"({sample.label}) share process '{sample.process}'; a process is one kind of "
                f"event, so its samples must have one label: give them different "
                f"process names (samples.{sample.name}.process)"
            )
            raise ConfigError(msg)
