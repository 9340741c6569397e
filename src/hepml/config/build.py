"""Load and validate the analysis configuration, and build the typed :class:`Config`.

The YAML file is read strictly (:mod:`hepml.config.yaml_reader`: no duplicate keys, bounded
alias expansion and size), checked against the one JSON schema shipped with the package
(:mod:`hepml.config.schema`: errors name the key at fault and the closest valid one), schema
defaults are filled in, and the result becomes the frozen dataclasses of
:mod:`hepml.config.model`, with the checks a schema cannot express (unique names, names
expressions reserve, data samples and processes in :mod:`hepml.config.checks`, feature names
XGBoost accepts, tuning ranges). No stage reads raw dicts. Checks that need matplotlib,
scikit-learn or the input files run in ``hepml validate`` and when the workflow starts
(:mod:`hepml.workflow.plan`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

from hepml.config.checks import check_data_samples, check_processes, check_reserved_names
from hepml.config.extensions import (
    calibration_settings,
    category_config,
    category_settings,
    check_extensions,
    multiclass_settings,
)
from hepml.config.fit import fit_settings
from hepml.config.model import (
    ApplySettings,
    Config,
    Cut,
    EvaluationSettings,
    Feature,
    PlottingSettings,
    ProcessDisplay,
    ReadingSettings,
    Sample,
    StageResources,
    WeightSumSource,
    WorkingPoint,
)
from hepml.config.schema import schema, validate
from hepml.config.training import check_unique, training_settings
from hepml.config.yaml_reader import read_yaml
from hepml.exceptions import ConfigError, did_you_mean

__all__ = ["config_from_dict", "load_config", "read_config_files"]


def load_config(paths: str | Path | list[str | Path], *, category: str | None = None) -> Config:
    """Read one or more YAML configuration files and return the validated :class:`Config`.

    Several files are merged in order, later ones overriding earlier ones key by key (the same
    deep merge Snakemake applies to ``configfile:`` and ``--configfile``). ``category``: the
    config of that analysis category (:func:`hepml.config.extensions.category_config`).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    merged = read_config_files(paths)
    config = config_from_dict(merged, source=", ".join(str(p) for p in paths))
    return config if category is None else category_config(config, category)


def read_config_files(paths: list[str | Path]) -> dict[str, Any]:
    """The YAML files ``paths`` merged in order, as written (not validated, no defaults)."""
    merged: dict[str, Any] = {}
    for path in paths:
        _deep_update(merged, read_yaml(Path(path)))
    return merged


def _deep_update(base: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> Config:
    """Validate a configuration mapping and build the typed :class:`Config`."""
    data = validate(data, source=source)
    check_reserved_names(data, source)
    check_data_samples(data["samples"], source)
    samples = {name: _sample(name, spec, source) for name, spec in data["samples"].items()}
    check_processes(samples, source)
    if not any(s.is_signal for s in samples.values()):
        msg = f"{source}: samples: no sample has label 'signal'; a classifier needs both classes"
        raise ConfigError(msg)
    if not any(s.label == "background" for s in samples.values()):
        msg = f"{source}: samples: no sample has label 'background'"
        raise ConfigError(msg)
    features = tuple(_feature(f, i, source) for i, f in enumerate(data["features"]))
    check_unique([f.name for f in features], f"{source}: features")
    selection = tuple(Cut(c["name"], c["expr"]) for c in data["selection"])
    check_unique([c.name for c in selection], f"{source}: selection")
    training = data["training"]
    _check_feature_names(training["xgboost"], [f.name for f in features], source)
    check_extensions(data, source)
    evaluation = data["evaluation"]
    event_number = data["event_number"]
    if event_number in (None, "none"):
        event_number = []
    event_number = (event_number,) if isinstance(event_number, str) else tuple(event_number)
    return Config(
        samples=samples,
        features=features,
        selection=selection,
        luminosity=float(data["luminosity"]),
        seed=int(data["seed"]),
        event_number=event_number,
        reading=ReadingSettings(
            data["reading"]["step_size"],
            data["reading"]["on_bad_file"],
            data["reading"]["files_per_job"],
            data["reading"]["mb_per_job"],
            data["reading"]["retries"],
            float(data["reading"]["retry_wait"]),
        ),
        training=dataclasses.replace(
            training_settings(training, source),
            multiclass=multiclass_settings(training.get("multiclass"), samples, source),
        ),
        evaluation=_evaluation_settings(evaluation),
        plotting=_plotting_settings(data["plotting"]),
        processes=_processes(data["processes"], samples, source),
        apply=_apply_settings(data["apply"], samples, source),
        resources=_stage_resources(data["resources"]),
        demo=data.get("demo"),
        raw=data,
        calibration=calibration_settings(data.get("calibration")),
        categories=category_settings(data.get("categories"), [c.name for c in selection], source),
        fit=fit_settings(data, samples, event_number, source),
    )


def _evaluation_settings(evaluation: dict[str, Any]) -> EvaluationSettings:
    significance = evaluation["significance"]
    return EvaluationSettings(
        working_points=tuple(
            WorkingPoint(*next(iter(wp.items()))) for wp in evaluation["working_points"]
        ),
        ks_threshold=float(evaluation["ks_threshold"]),
        ks_distance=float(evaluation["ks_distance"]),
        auc_gap=float(evaluation["auc_gap"]),
        bins=int(evaluation["bins"]),
        significance_metric=significance["metric"],
        min_background=float(significance["min_background"]),
        significance_cuts=int(significance["cuts"]),
        shap_events=int(evaluation["shap_events"]),
        streaming_above=evaluation["streaming_above"],
        streaming_bins=int(evaluation["streaming_bins"]),
        input_bins=int(evaluation["input_bins"]),
        blind_above=float(evaluation["blind_above"]),
        unblind=bool(evaluation["unblind"]),
    )


def _plotting_settings(plotting: dict[str, Any]) -> PlottingSettings:
    experiment = plotting["experiment"]
    energy = plotting["energy"]
    return PlottingSettings(
        experiment=None if experiment in (None, "none") else experiment,
        label=plotting["label"],
        energy=None if energy is None else float(energy),
        data_label=plotting["data_label"],
    )


def _feature(spec: dict[str, Any], index: int, source: str) -> Feature:
    """One ``features`` entry; its histogram range must be increasing."""
    value_range = spec.get("range")
    if value_range is not None and not value_range[0] < value_range[1]:
        msg = (
            f"{source}: features[{index}].range = {value_range} (feature '{spec['name']}'): "
            "give [low, high] with low < high"
        )
        raise ConfigError(msg)
    log = spec["log"]
    return Feature(
        spec["name"],
        spec["expr"],
        float(spec.get("fill", math.nan)),
        spec.get("label", ""),
        bins=spec.get("bins"),
        range=None if value_range is None else (float(value_range[0]), float(value_range[1])),
        log=None if log == "auto" else bool(log),
    )


def _processes(
    spec: dict[str, Any], samples: dict[str, Sample], source: str
) -> dict[str, ProcessDisplay]:
    """Every process of the samples with its display (``processes``), in sample order; a
    configured name that no sample has is refused with the near match."""
    known = list(dict.fromkeys(s.process for s in samples.values()))
    for name in spec:
        if name not in known:
            msg = (
                f"{source}: processes.{name}: no sample has process '{name}' (processes: "
                f"{', '.join(known)}).{did_you_mean(name, known)}"
            )
            raise ConfigError(msg)
    return {
        name: ProcessDisplay(
            name,
            spec.get(name, {}).get("label", name),
            spec.get(name, {}).get("color"),
            spec.get(name, {}).get("order"),
        )
        for name in known
    }


def _stage_resources(section: dict[str, Any]) -> dict[str, StageResources]:
    """Every stage's resources: the keys given, the rest from the stage's schema default."""
    stages = schema()["properties"]["resources"]["properties"]
    return {
        stage: StageResources(**{**spec["default"], **section.get(stage, {})})
        for stage, spec in stages.items()
    }


def _sample(name: str, spec: dict[str, Any], source: str = "config") -> Sample:
    files = spec["files"]
    weight = spec["weight"]
    sumw = spec.get("sum_of_weights")
    return Sample(
        name=name,
        label=spec["label"],
        files=(files,) if isinstance(files, str) else tuple(files),
        tree=spec["tree"],
        weight=weight,
        generator_weight=spec.get("generator_weight", weight),
        cross_section=spec.get("cross_section"),
        sum_of_weights=None if isinstance(sumw, dict) else sumw,
        process=spec.get("process", name),
        sum_of_weights_from=_weight_sum_source(sumw, f"{source}: samples.{name}.sum_of_weights")
        if isinstance(sumw, dict)
        else None,
        aliases={k: str(v) for k, v in spec.get("aliases", {}).items()},
        on_bad_file=spec.get("on_bad_file"),
        files_per_job=spec.get("files_per_job"),
        mb_per_job=spec.get("mb_per_job"),
    )


def _weight_sum_source(spec: dict[str, Any], where: str) -> WeightSumSource:
    """Check the {histogram, bin} or {tree, branch} form of ``sum_of_weights``."""
    if "histogram" in spec and not {"tree", "branch"} & set(spec):
        return WeightSumSource(histogram=spec["histogram"], bin=spec.get("bin"))
    if {"tree", "branch"} <= set(spec) and not {"histogram", "bin"} & set(spec):
        return WeightSumSource(tree=spec["tree"], branch=spec["branch"])
    msg = (
        f"{where} = {spec!r}: give either {{histogram: NAME}} (optionally with bin: N) or "
        "{tree: NAME, branch: NAME}, e.g. {tree: Runs, branch: genEventSumw}"
    )
    raise ConfigError(msg)


def _check_feature_names(xgboost: dict[str, Any], features: list[str], source: str) -> None:
    """Monotone and interaction constraints must name configured features."""
    where = f"{source}: training.xgboost"
    named = [(f"{where}.monotone_constraints", n) for n in xgboost.get("monotone_constraints", {})]
    named += [
        (f"{where}.interaction_constraints[{i}]", n)
        for i, group in enumerate(xgboost.get("interaction_constraints", []))
        for n in group
    ]
    for key, name in named:
        if name not in features:
            msg = f"{key}: no feature '{name}'.{did_you_mean(name, features)}"
            raise ConfigError(msg)


def _apply_settings(spec: dict[str, Any], samples: dict[str, Sample], source: str) -> ApplySettings:
    """The ``apply`` section; its extra samples are read like training samples, weight 1."""
    extra = {}
    for name, sample in spec["samples"].items():
        if name in samples:
            msg = (
                f"{source}: apply.samples.{name}: the name is already used under samples, "
                "whose samples are all scored anyway; give the extra sample another name"
            )
            raise ConfigError(msg)
        files = sample["files"]
        extra[name] = Sample(
            name=name,
            label="data",
            files=(files,) if isinstance(files, str) else tuple(files),
            tree=sample["tree"],
            weight="1",
            generator_weight="1",
            process=name,
            aliases={k: str(v) for k, v in sample.get("aliases", {}).items()},
            on_bad_file=sample.get("on_bad_file"),
            files_per_job=sample.get("files_per_job"),
            mb_per_job=sample.get("mb_per_job"),
        )
    return ApplySettings(
        samples=extra,
        data_model=spec["data_model"],
        fill=float(spec["fill"]),
        branch=spec["branch"],
        friend_tree=spec["friend_tree"],
        root=bool(spec["root"]),
        parquet=bool(spec["parquet"]),
    )
