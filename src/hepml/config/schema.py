"""The configuration's JSON schema and the validation of a config against it.

One schema (``hepml/schemas/config.schema.yaml``) is shipped with the package and is the same
file Snakemake validates with. A violation becomes a :class:`~hepml.exceptions.ConfigError`
of one sentence with the path of the offending key (``samples.ttbar.cross_section``) and, for
a misspelt key or value, the closest valid one; then schema defaults are filled in.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hepml.exceptions import ConfigError, did_you_mean

__all__ = ["SCHEMA_PATH", "schema", "validate"]

SCHEMA_PATH = Path(str(resources.files("hepml").joinpath("schemas/config.schema.yaml")))


@cache
def schema() -> dict[str, Any]:
    """Return the configuration JSON schema (parsed once)."""
    # libyaml's loader where PyYAML has it: a tenth of a second less in every job
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SCHEMA_PATH.read_text("utf-8"), Loader=loader)


def validate(data: dict[str, Any], *, source: str = "config") -> dict[str, Any]:
    """Validate ``data`` against the schema; return a copy with schema defaults filled in."""
    _check_values(data, source, ())
    data = copy.deepcopy(data)
    validator_cls = jsonschema.validators.validator_for(schema())
    errors = sorted(validator_cls(schema()).iter_errors(data), key=_error_sort_key)
    if errors:
        raise ConfigError(_describe(errors[0], source))
    _fill_defaults(data, schema())
    return data


_MAX_DEPTH = 32  # deeper than any valid config; also stops self-referencing YAML anchors


def _check_values(node: Any, source: str, path: tuple) -> None:
    """Reject what no setting can hold: structures nested deeper than any valid config (or
    self-referencing through YAML anchors), inf and NaN (except a feature's fill), and
    integers beyond 64 bits (YAML reads arbitrarily large integers)."""
    if len(path) > _MAX_DEPTH:
        msg = f"{source}: {_key_path(path[:4])}... is nested too deeply (or refers to itself)"
        raise ConfigError(msg)
    if isinstance(node, dict):
        for key, value in node.items():
            _check_values(value, source, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_values(value, source, (*path, i))
    elif isinstance(node, bool):
        return
    elif isinstance(node, int) and not -(2**63) <= node < 2**63:
        msg = f"{source}: {_key_path(path)} = {node} is out of range (beyond 64-bit integers)"
        raise ConfigError(msg)
    elif isinstance(node, float) and not math.isfinite(node) and path[-1:] != ("fill",):
        msg = f"{source}: {_key_path(path)} = {node} is not a finite number"
        raise ConfigError(msg)


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
    """Fill schema ``default`` values into ``data`` in place (objects, and the objects of an
    array whose ``items`` schema has properties, such as ``features``)."""
    if isinstance(data, list) and isinstance(node.get("items"), dict):
        for item in data:
            _fill_defaults(item, node["items"])
        return
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
