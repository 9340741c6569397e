"""The ``training`` section of the config as settings: the booster's defaults, the baseline
classifiers, the hyperparameter search and the Dask engine, each checked beyond the schema."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import jsonschema

from hepml.config.model import (
    Baseline,
    DaskSettings,
    Dimension,
    LearningCurveSettings,
    TrainingSettings,
    Tuning,
)
from hepml.config.schema import schema
from hepml.exceptions import ConfigError

__all__ = ["check_unique", "training_settings"]

# Memory sizes as Dask's parse_bytes reads them: 4GB, 2 GiB, 500MB, 1e9 (bytes)
_MEMORY = re.compile(r"\s*\d+(\.\d+)?(e\d+)?\s*([kmgtp](i?b)?|b)?\s*", re.IGNORECASE)


def training_settings(training: dict[str, Any], source: str) -> TrainingSettings:
    """The settings of the (schema-validated) ``training`` section."""
    return TrainingSettings(
        folds=int(training["folds"]),
        balance_classes=bool(training["balance_classes"]),
        negative_weights=training["negative_weights"],
        balance_backgrounds=bool(training["balance_backgrounds"]),
        early_stopping_rounds=int(training["early_stopping_rounds"]),
        min_rounds=int(training["min_rounds"]),
        learning_curve=LearningCurveSettings(
            events=int(training["learning_curve"]["events"]),
            auc_every=int(training["learning_curve"]["auc_every"]),
        ),
        xgboost=dict(training["xgboost"]),
        baselines=_baselines(training["baselines"], source),
        tune=_tuning(training["tune"], source),
        engine=_engine(training, source),
        dask=_dask_settings(training["dask"], source),
    )


def _baselines(specs: list[Any], source: str) -> tuple[Baseline, ...]:
    """``training.baselines`` entries (a method name or a mapping) as :class:`Baseline`."""
    baselines = tuple(
        Baseline(spec, spec)
        if isinstance(spec, str)
        else Baseline(
            spec.get("name", spec["method"]),
            spec["method"],
            tuple(spec["transforms"]) if "transforms" in spec else None,
            dict(spec.get("params", {})),
        )
        for spec in specs
    )
    check_unique([b.name for b in baselines], f"{source}: training.baselines")
    if any(b.name == "xgboost" for b in baselines):
        msg = f"{source}: training.baselines: the name 'xgboost' is the BDT's; choose another"
        raise ConfigError(msg)
    # Explicit params are checked against scikit-learn by hepml validate and when the
    # workflow starts (hepml.train.baselines.check_baselines), and by the baseline's job:
    # importing scikit-learn here would cost every job that loads the config two seconds.
    return baselines


def _tuning(spec: dict[str, Any], source: str) -> Tuning | None:
    """``training.tune`` as :class:`Tuning` (None when not enabled), every range checked."""
    if not spec.get("enabled", False):
        return None
    where = f"{source}: training.tune"
    if not spec.get("space"):
        msg = f"{where}.space is empty: name at least one XGBoost parameter to search"
        raise ConfigError(msg)
    xgb_schema = schema()["properties"]["training"]["properties"]["xgboost"]["properties"]
    dims = []
    for name, d in spec["space"].items():
        key = f"{where}.space.{name}"
        ranged = "low" in d or "high" in d
        if ranged == ("values" in d) or (ranged and not {"low", "high"} <= set(d)):
            msg = f"{key} = {d!r}: give either values: [...] or both low and high"
            raise ConfigError(msg)
        if ranged and not d["low"] < d["high"]:
            msg = f"{key}: low ({d['low']}) must be below high ({d['high']})"
            raise ConfigError(msg)
        if ranged and d.get("log") and d["low"] <= 0:
            msg = f"{key}: a log range needs low > 0, got {d['low']}"
            raise ConfigError(msg)
        if ranged and spec["method"] == "grid" and "steps" not in d:
            msg = f"{key}: a grid search needs values: [...] or steps: N for the range"
            raise ConfigError(msg)
        for value in d.get("values", [d.get("low"), d.get("high")]):
            try:
                jsonschema.validate(value, xgb_schema[name])
            except jsonschema.ValidationError as err:
                msg = f"{key}: {value!r} is not a valid {name}: {err.message}"
                raise ConfigError(msg) from err
        integer = xgb_schema[name].get("type") == "integer"
        dims.append(
            Dimension(
                name,
                tuple(d.get("values", ())),
                d.get("low"),
                d.get("high"),
                bool(d.get("log", False)),
                d.get("steps"),
                integer,
            )
        )
    method = spec["method"]
    if method == "auto":  # decided once, here: every job of the run loads the same config
        method = "tpe" if importlib.util.find_spec("optuna") is not None else "random"
    return Tuning(method, spec["trials"], spec["batch"], spec["objective"], tuple(dims))


def _engine(training: dict[str, Any], source: str) -> str:
    """``training.engine``, checked against the settings that only the local engine has."""
    engine = training["engine"]
    if engine == "dask" and training.get("negative_weights") == "annihilate":
        msg = (
            f"{source}: training.negative_weights: 'annihilate' is not available with "
            "training.engine: dask: it pairs each negative weight with its nearest "
            "positive-weight neighbours among all events of the class, which the Dask engine "
            "never holds in one place. Use abs, drop or zero, or engine: local."
        )
        raise ConfigError(msg)
    return engine


def _dask_settings(spec: dict[str, Any], source: str) -> DaskSettings:
    """``training.dask`` as :class:`DaskSettings`, the memory limit checked."""
    memory = spec.get("memory_limit")
    if memory is not None and not _MEMORY.fullmatch(memory):
        msg = (
            f"{source}: training.dask.memory_limit = {memory!r} is not a memory size; "
            "write e.g. '4GB', '2 GiB' or '500MB' (or null for Dask's auto)"
        )
        raise ConfigError(msg)
    return DaskSettings(
        address=spec["address"],
        timeout=float(spec["timeout"]),
        workers=int(spec["workers"]),
        threads_per_worker=spec["threads_per_worker"],
        memory_limit=memory,
        collective_timeout=int(spec["collective_timeout"]),
        retries=int(spec["retries"]),
    )


def check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            msg = f"{where}: the name '{n}' is used twice; names must be unique"
            raise ConfigError(msg)
        seen.add(n)
