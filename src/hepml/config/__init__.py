"""The analysis configuration: one YAML file, one JSON schema, typed sections.

:func:`load_config` reads and validates a config (:mod:`hepml.config.build`), returning a
:class:`Config` of sections (:mod:`hepml.config.model`); :mod:`hepml.config.settings` says which
settings each stage reads (the workflow's rerun triggers and the models' fingerprint).
"""

from __future__ import annotations

from hepml.config.build import config_from_dict, load_config, read_config_files
from hepml.config.extensions import category_config
from hepml.config.model import (
    ApplySettings,
    Baseline,
    Config,
    Cut,
    DaskSettings,
    EvaluationSettings,
    Feature,
    PlottingSettings,
    ProcessDisplay,
    ReadingSettings,
    Sample,
    TrainingSettings,
    WorkingPoint,
)
from hepml.config.schema import SCHEMA_PATH, schema

__all__ = [
    "SCHEMA_PATH",
    "ApplySettings",
    "Baseline",
    "Config",
    "Cut",
    "DaskSettings",
    "EvaluationSettings",
    "Feature",
    "PlottingSettings",
    "ProcessDisplay",
    "ReadingSettings",
    "Sample",
    "TrainingSettings",
    "WorkingPoint",
    "category_config",
    "config_from_dict",
    "load_config",
    "read_config_files",
    "schema",
]
