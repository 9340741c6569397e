"""Load, validate and type the analysis configuration.

The YAML file is checked against the one JSON schema shipped with the package
(``hepml/schemas/config.schema.yaml``, the same file Snakemake validates with), schema
defaults are filled in, and the result becomes frozen dataclasses. No stage reads raw dicts.

Schema violations are re-raised as :class:`~hepml.exceptions.ConfigError` with the path of
the offending key (``samples.ttbar.cross_section``) and, for a misspelt key, the closest
valid one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hepml.exceptions import ConfigError, did_you_mean

__all__ = [
    "SCHEMA_PATH",
    "Config",
    "Cut",
    "Feature",
    "Sample",
    "config_from_dict",
    "load_config",
    "schema",
]

PB_PER_INVERSE_FB = 1000.0  # 1 fb^-1 = 1000 pb^-1: xsec [pb] * lumi [fb^-1] * 1000 = events


SCHEMA_PATH = Path(str(resources.files("hepml").joinpath("schemas/config.schema.yaml")))


@cache
def schema() -> dict[str, Any]:
    """Return the configuration JSON schema (parsed once)."""
    return yaml.safe_load(SCHEMA_PATH.read_text("utf-8"))


@dataclass(frozen=True)
class Sample:
    """One sample: a set of ROOT files of one process, with its normalisation."""

    name: str
    label: str  # "signal" | "background"
    files: tuple[str, ...]
    tree: str
    weight: str
    generator_weight: str
    cross_section: float | None = None  # pb
    sum_of_weights: float | None = None
    process: str = ""

    @property
    def is_signal(self) -> bool:
        return self.label == "signal"


@dataclass(frozen=True)
class Cut:
    """One named step of the selection."""

    name: str
    expr: str


@dataclass(frozen=True)
class Feature:
    """One training feature: a name, an expression, and the fill for missing objects."""

    name: str
    expr: str
    fill: float = math.nan
    label: str = ""


@dataclass(frozen=True)
class WorkingPoint:
    """A working point given by exactly one of its three definitions."""

    kind: str  # "signal_efficiency" | "background_efficiency" | "score"
    value: float

    def as_dict(self) -> dict[str, float]:
        return {self.kind: self.value}


@dataclass(frozen=True)
class Config:
    """The validated analysis configuration."""

    samples: dict[str, Sample]
    features: tuple[Feature, ...]
    selection: tuple[Cut, ...]
    luminosity: float  # fb^-1
    seed: int
    event_number: tuple[str, ...]
    step_size: str | int
    folds: int
    balance_classes: bool
    negative_weights: str
    early_stopping_rounds: int
    xgboost: dict[str, Any]
    working_points: tuple[WorkingPoint, ...]
    ks_threshold: float
    bins: int
    plotting: dict[str, Any]
    demo: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def signal_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if s.is_signal]

    @property
    def background_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if not s.is_signal]

    def training_hash(self) -> str:
        """A short hash of every setting that changes the trained models.

        Stored beside each model so a model can never be mistaken for one trained under a
        different configuration.
        """
        relevant = {
            k: self.raw.get(k)
            for k in ("samples", "features", "selection", "event_number", "training", "seed")
        }
        relevant["luminosity"] = self.luminosity
        blob = json.dumps(relevant, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_config(paths: str | Path | list[str | Path]) -> Config:
    """Read one or more YAML configuration files and return the validated :class:`Config`.

    Several files are merged in order, later ones overriding earlier ones key by key (the same
    deep merge Snakemake applies to ``configfile:`` and ``--configfile``).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    merged: dict[str, Any] = {}
    for path in paths:
        _deep_update(merged, _read_yaml(Path(path)))
    return config_from_dict(merged, source=", ".join(str(p) for p in paths))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        msg = f"configuration file '{path}' does not exist"
        raise ConfigError(msg) from err
    except OSError as err:
        msg = f"cannot read configuration file '{path}': {err}"
        raise ConfigError(msg) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        msg = f"configuration file '{path}' is not valid YAML: {err}"
        raise ConfigError(msg) from err
    if not isinstance(data, dict):
        msg = f"configuration file '{path}' must hold a mapping of keys, not {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _deep_update(base: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def validate(data: dict[str, Any], *, source: str = "config") -> dict[str, Any]:
    """Validate ``data`` against the schema; return a copy with schema defaults filled in."""
    data = copy.deepcopy(data)
    validator_cls = jsonschema.validators.validator_for(schema())
    errors = sorted(validator_cls(schema()).iter_errors(data), key=_error_sort_key)
    if errors:
        raise ConfigError(_describe(errors[0], source))
    _fill_defaults(data, schema())
    return data


def _error_sort_key(err: jsonschema.ValidationError) -> tuple[int, str]:
    return (len(err.absolute_path), str(list(err.absolute_path)))


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "(top level)"


def _describe(err: jsonschema.ValidationError, source: str) -> str:
    """Turn a jsonschema error into one readable sentence naming the key at fault."""
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        unknown = sorted(set(err.instance) - set(allowed))
        if allowed and unknown:
            bad = unknown[0]
            prefix = "" if where == "(top level)" else f"{where}."
            hint = did_you_mean(bad, allowed) or f" Valid keys: {', '.join(allowed)}."
            return f"{source}: unknown key '{prefix}{bad}'.{hint}"
    if err.validator == "required":
        return f"{source}: {where}: {err.message}"
    if err.validator == "enum":
        allowed = ", ".join(repr(v) for v in err.validator_value)
        hint = did_you_mean(str(err.instance), [str(v) for v in err.validator_value])
        return f"{source}: {where} is {err.instance!r}, must be one of {allowed}.{hint}"
    if err.validator in ("minProperties", "maxProperties") and "working_points" in where:
        keys = ", ".join(sorted(err.schema.get("properties", {})))
        return f"{source}: {where} = {err.instance!r}: give exactly one of {keys}"
    if err.validator == "pattern" and "propertyNames" in err.schema_path:
        return (
            f"{source}: {where}: the name {err.instance!r} is not allowed: names must start"
            " with a letter and contain only letters, digits and underscores (they become"
            " file names)."
        )
    if err.validator == "pattern" and err.absolute_path:
        return (
            f"{source}: {where} = {err.instance!r} is not allowed: names must start with a letter"
            " and contain only letters, digits and underscores (they become file names)."
        )
    if err.validator == "propertyNames":
        return (
            f"{source}: {where} has a key that is not a safe name ({err.message}); names must "
            "start with a letter and contain only letters, digits and underscores."
        )
    return f"{source}: {where}: {err.message}"


def _fill_defaults(data: Any, node: dict[str, Any]) -> None:
    """Fill schema ``default`` values into ``data`` in place (objects only)."""
    if not isinstance(data, dict):
        return
    for key, sub in node.get("properties", {}).items():
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if key in data:
            _fill_defaults(data[key], sub)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in data.items():
            if key not in node.get("properties", {}):
                _fill_defaults(value, extra)


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> Config:
    """Validate a configuration mapping and build the typed :class:`Config`."""
    data = validate(data, source=source)
    samples = {name: _sample(name, spec) for name, spec in data["samples"].items()}
    if not any(s.is_signal for s in samples.values()):
        msg = f"{source}: samples: no sample has label 'signal'; a classifier needs both classes"
        raise ConfigError(msg)
    if all(s.is_signal for s in samples.values()):
        msg = f"{source}: samples: no sample has label 'background'"
        raise ConfigError(msg)
    features = tuple(
        Feature(f["name"], f["expr"], float(f.get("fill", math.nan)), f.get("label", ""))
        for f in data["features"]
    )
    _check_unique([f.name for f in features], f"{source}: features")
    selection = tuple(Cut(c["name"], c["expr"]) for c in data.get("selection", []))
    _check_unique([c.name for c in selection], f"{source}: selection")
    training = data.get("training", {})
    evaluation = data.get("evaluation", {})
    event_number = data["event_number"]
    return Config(
        samples=samples,
        features=features,
        selection=selection,
        luminosity=float(data["luminosity"]),
        seed=int(data["seed"]),
        event_number=(event_number,) if isinstance(event_number, str) else tuple(event_number),
        step_size=data.get("reading", {}).get("step_size", "100 MB"),
        folds=int(training["folds"]),
        balance_classes=bool(training["balance_classes"]),
        negative_weights=training["negative_weights"],
        early_stopping_rounds=int(training["early_stopping_rounds"]),
        xgboost=dict(training.get("xgboost", {})),
        working_points=tuple(
            WorkingPoint(*next(iter(wp.items()))) for wp in evaluation["working_points"]
        ),
        ks_threshold=float(evaluation["ks_threshold"]),
        bins=int(evaluation["bins"]),
        plotting=dict(data.get("plotting", {})),
        demo=data.get("demo"),
        raw=data,
    )


def _sample(name: str, spec: dict[str, Any]) -> Sample:
    files = spec["files"]
    weight = spec["weight"]
    return Sample(
        name=name,
        label=spec["label"],
        files=(files,) if isinstance(files, str) else tuple(files),
        tree=spec["tree"],
        weight=weight,
        generator_weight=spec.get("generator_weight", weight),
        cross_section=spec.get("cross_section"),
        sum_of_weights=spec.get("sum_of_weights"),
        process=spec.get("process", name),
    )


def _check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            msg = f"{where}: the name '{n}' is used twice; names must be unique"
            raise ConfigError(msg)
        seen.add(n)
