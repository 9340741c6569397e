"""Load, validate and type the analysis configuration.

The YAML file is read strictly (:mod:`hepml.config.yaml_reader`: no duplicate keys, bounded alias
expansion and size), checked against the one JSON schema shipped with the package
(:mod:`hepml.config.schema`: errors name the key at fault and the closest valid one), schema
defaults are filled in, and the result becomes frozen dataclasses, with the checks a schema
cannot express (unique names, names expressions reserve, data samples and processes in
:mod:`hepml.config.checks`, feature names XGBoost accepts, baselines, tuning ranges). No
stage reads raw dicts. Checks that need matplotlib or the input files run in ``hepml
validate`` only (:mod:`hepml.plots.labels`, :mod:`hepml.ingest.shared_files`).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from hepml.config.checks import check_data_samples, check_processes, check_reserved_names
from hepml.config.schema import SCHEMA_PATH, schema, validate
from hepml.config.yaml_reader import read_yaml
from hepml.exceptions import ConfigError, did_you_mean

__all__ = [
    "SCHEMA_PATH",
    "ApplySettings",
    "Baseline",
    "Config",
    "Cut",
    "DaskSettings",
    "Dimension",
    "Feature",
    "Sample",
    "StageResources",
    "Tuning",
    "WeightSumSource",
    "config_from_dict",
    "load_config",
    "read_config_files",
    "schema",
]

PB_PER_INVERSE_FB = 1000.0  # 1 fb^-1 = 1000 pb^-1: xsec [pb] * lumi [fb^-1] * 1000 = events


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
    sum_of_weights_from: WeightSumSource | None = None  # read from the files instead
    aliases: dict[str, str] = field(default_factory=dict)  # common name -> branch/expression
    on_bad_file: str | None = None  # "error" | "skip"; None: reading.on_bad_file

    @property
    def is_signal(self) -> bool:
        return self.label == "signal"


@dataclass(frozen=True)
class WeightSumSource:
    """Where each file of a sample stores its sum of generator weights (summed over files).

    Either a histogram (``histogram``: path of a TH1 in the file; ``bin``: the ROOT bin number
    whose content is the sum, 0 = underflow, or None for the sum of all in-range bins), or a
    branch of another tree summed over all its entries (``tree`` = ``Runs``, ``branch`` =
    ``genEventSumw`` in CMS NanoAOD).
    """

    histogram: str | None = None
    bin: int | None = None
    tree: str | None = None
    branch: str | None = None

    def __str__(self) -> str:
        if self.histogram is not None:
            where = "all in-range bins" if self.bin is None else f"bin {self.bin}"
            return f"histogram '{self.histogram}' ({where})"
        return f"branch '{self.branch}' of tree '{self.tree}'"


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
class Baseline:
    """A classic classifier trained beside the BDT (``training.baselines``)."""

    name: str  # in tables, plots and paths
    method: str  # fisher | logistic | knn | decision_tree | random_forest | adaboost | hist_gbdt
    transforms: tuple[str, ...] | None = None  # None: the method's default
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dimension:
    """One searched XGBoost parameter: ``values`` to pick from, or a range [low, high]."""

    name: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    steps: int | None = None  # grid points of a range
    integer: bool = False  # an integer parameter (max_depth, n_estimators, ...)


@dataclass(frozen=True)
class Tuning:
    """The hyperparameter search (``training.tune``), when enabled."""

    method: str  # grid | random | tpe
    trials: int  # budget per fold model
    batch: int  # tpe: trials suggested together
    objective: str  # logloss | auc, on the validation fold
    space: tuple[Dimension, ...]


@dataclass(frozen=True)
class DaskSettings:
    """The Dask cluster of ``training.engine: dask`` (``training.dask``)."""

    address: str | None = None  # a running scheduler; None: start a LocalCluster
    timeout: float = 30.0  # seconds to wait for the scheduler
    workers: int = 2  # LocalCluster: worker processes
    threads_per_worker: int | None = None  # LocalCluster; None: the job's threads shared
    memory_limit: str | None = None  # LocalCluster, per worker ('4GB'); None: Dask's auto


# Memory sizes as Dask's parse_bytes reads them: 4GB, 2 GiB, 500MB, 1e9 (bytes)
_MEMORY = re.compile(r"\s*\d+(\.\d+)?(e\d+)?\s*([kmgtp](i?b)?|b)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ApplySettings:
    """The ``apply`` section: extra ntuples to score and how the scores are written."""

    samples: dict[str, Sample] = field(default_factory=dict)  # label "data", weight "1"
    data_model: str = "fold"  # extra samples: "fold" (the event's fold model) | "mean"
    fill: float = -1.0  # score of events that fail the selection
    branch: str = "bdt_score"
    friend_tree: str = "hepml"
    root: bool = True  # one friend ROOT file per input file
    parquet: bool = True  # one Parquet table per sample


@dataclass(frozen=True)
class StageResources:
    """Batch resources of the jobs of one workflow stage (``resources.<stage>``).

    Memory in MB and runtime in minutes, before scaling by input size (``*_per_gb``: extra MB
    or minutes per GB of the job's input files); see :mod:`hepml.workflow.resources`.
    """

    threads: int
    mem_mb: int
    mem_mb_per_gb: float
    runtime: int  # minutes
    runtime_per_gb: float


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
    apply: ApplySettings = field(default_factory=ApplySettings)
    on_bad_file: str = "error"  # reading.on_bad_file: "error" | "skip"
    resources: dict[str, StageResources] = field(default_factory=dict)  # per workflow stage
    balance_backgrounds: bool = False  # equal weight sums for the background processes
    baselines: tuple[Baseline, ...] = ()
    tune: Tuning | None = None  # None: no hyperparameter search
    engine: str = "local"  # training.engine: "local" | "dask"
    dask: DaskSettings = field(default_factory=DaskSettings)
    significance_metric: str = "asimov"  # evaluation.significance.metric
    min_background: float = 1.0  # expected background events the optimal cut must keep
    significance_cuts: int = 200  # equidistant score cuts scanned
    shap_events: int = 500  # test events per fold model explained with SHAP
    input_bins: int = 40  # bins of the input-variable and data/MC histograms
    blind_above: float = 0.5  # data hidden above this score unless unblind
    unblind: bool = False

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def signal_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if s.is_signal]

    @property
    def background_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if s.label == "background"]

    @property
    def data_samples(self) -> list[str]:
        """Collision data (label ``data``): never trained on, compared with the MC only."""
        return [n for n, s in self.samples.items() if s.label == "data"]

    def training_hash(self) -> str:
        """Fingerprint of what the models depend on (:func:`hepml.config.settings.training_hash`):
        the ingest settings of every training sample and the training settings, never a plot
        label, a path or a resource. Models record it; apply and export refuse a mismatch.
        """
        from hepml.config.settings import training_hash

        return training_hash(self)

    @property
    def folds_from_entries(self) -> bool:
        """True when ``event_number: none``: folds come from (file index, entry number)."""
        return not self.event_number


def load_config(paths: str | Path | list[str | Path]) -> Config:
    """Read one or more YAML configuration files and return the validated :class:`Config`.

    Several files are merged in order, later ones overriding earlier ones key by key (the same
    deep merge Snakemake applies to ``configfile:`` and ``--configfile``).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    merged = read_config_files(paths)
    return config_from_dict(merged, source=", ".join(str(p) for p in paths))


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
    features = tuple(
        Feature(f["name"], f["expr"], float(f.get("fill", math.nan)), f.get("label", ""))
        for f in data["features"]
    )
    _check_unique([f.name for f in features], f"{source}: features")
    selection = tuple(Cut(c["name"], c["expr"]) for c in data.get("selection", []))
    _check_unique([c.name for c in selection], f"{source}: selection")
    training = data.get("training", {})
    _check_feature_names(training.get("xgboost", {}), [f.name for f in features], source)
    evaluation = data.get("evaluation", {})
    event_number = data["event_number"]
    if event_number in (None, "none"):
        event_number = []
    return Config(
        samples=samples,
        features=features,
        selection=selection,
        luminosity=float(data["luminosity"]),
        seed=int(data["seed"]),
        event_number=(event_number,) if isinstance(event_number, str) else tuple(event_number),
        step_size=data.get("reading", {}).get("step_size", "100 MB"),
        on_bad_file=data.get("reading", {}).get("on_bad_file", "error"),
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
        apply=_apply_settings(data.get("apply", {}), samples, source),
        raw=data,
        resources=_stage_resources(data.get("resources", {})),
        balance_backgrounds=bool(training.get("balance_backgrounds", False)),
        baselines=_baselines(training.get("baselines", []), source),
        tune=_tuning(training.get("tune", {}), source),
        engine=_engine(training, source),
        dask=_dask_settings(training.get("dask", {}), source),
        significance_metric=evaluation["significance"]["metric"],
        min_background=float(evaluation["significance"]["min_background"]),
        significance_cuts=int(evaluation["significance"]["cuts"]),
        shap_events=int(evaluation["shap_events"]),
        input_bins=int(evaluation["input_bins"]),
        blind_above=float(evaluation["blind_above"]),
        unblind=bool(evaluation["unblind"]),
    )


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
    _check_unique([b.name for b in baselines], f"{source}: training.baselines")
    if any(b.name == "xgboost" for b in baselines):
        msg = f"{source}: training.baselines: the name 'xgboost' is the BDT's; choose another"
        raise ConfigError(msg)
    # Only explicit params need scikit-learn's check (the schema already checks the method):
    # importing it costs every job that loads the config about two seconds.
    if any(b.params for b in baselines):
        from hepml.train.baselines import check_baseline

        for i, b in enumerate(baselines):
            if b.params:
                check_baseline(b, f"{source}: training.baselines[{i}]")
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
    return Tuning(spec["method"], spec["trials"], spec["batch"], spec["objective"], tuple(dims))


def _engine(training: dict[str, Any], source: str) -> str:
    """``training.engine``, checked against the settings that only the local engine has."""
    engine = training.get("engine", "local")
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
        address=spec.get("address"),
        timeout=float(spec.get("timeout", 30)),
        workers=int(spec.get("workers", 2)),
        threads_per_worker=spec.get("threads_per_worker"),
        memory_limit=memory,
    )


def _check_unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            msg = f"{where}: the name '{n}' is used twice; names must be unique"
            raise ConfigError(msg)
        seen.add(n)


def _apply_settings(spec: dict[str, Any], samples: dict[str, Sample], source: str) -> ApplySettings:
    """The ``apply`` section; its extra samples are read like training samples, weight 1."""
    extra = {}
    for name, sample in spec.get("samples", {}).items():
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
