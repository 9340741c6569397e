"""The optional sections that outgrow one binary BDT: several classes, calibrated outputs, and
analysis categories; their typed form, how they are built from the validated YAML, and the
config of one category.

- ``training.multiclass`` (:class:`MulticlassSettings`): classes as groups of samples or
  processes, each with its balance policy, and the discriminant that makes one score of the K
  outputs;
- ``calibration`` (:class:`CalibrationSettings`): isotonic and Platt calibration and TMVA's
  rarity of the score, fitted on each fold model's validation fold;
- ``categories`` (:class:`CategorySettings`): separate BDTs per category defined by a cut;
  :func:`category_config` is the config of one category, the analysis with that cut appended
  to the selection.

Each section is absent (None) unless the config gives it, so that a config without them, its
models' fingerprint included, is exactly what it was before they existed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hepml.exceptions import ConfigError, did_you_mean

if TYPE_CHECKING:
    from hepml.config.model import Config, Sample

__all__ = [
    "CATEGORY_CUT_PREFIX",
    "CalibrationSettings",
    "Category",
    "CategorySettings",
    "EventClass",
    "MulticlassSettings",
    "calibration_settings",
    "category_config",
    "category_settings",
    "check_extensions",
    "multiclass_settings",
]

CATEGORY_CUT_PREFIX = "category_"  # the selection cut a category appends: category_<name>


@dataclass(frozen=True)
class EventClass:
    """One class of a multiclass model: its samples (all of one label) and balance policy."""

    name: str
    samples: tuple[str, ...]
    label: str  # "signal" | "background"
    balance: str  # "equal" | "physics"
    balance_processes: bool

    @property
    def is_signal(self) -> bool:
        return self.label == "signal"


@dataclass(frozen=True)
class MulticlassSettings:
    """``training.multiclass``: the classes in output order and the discriminant."""

    classes: tuple[EventClass, ...]
    discriminant: str  # "signal_probability" | "likelihood_ratio"
    background_weights: str | dict[str, float]  # "physics" or background class -> w_i

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def signal_classes(self) -> list[int]:
        """Indices of the signal classes among the outputs."""
        return [i for i, c in enumerate(self.classes) if c.is_signal]

    def class_of_sample(self) -> dict[str, int]:
        """Sample name -> the index of its class."""
        return {s: i for i, c in enumerate(self.classes) for s in c.samples}


@dataclass(frozen=True)
class CalibrationSettings:
    """``calibration``: which calibrated outputs, under which prior, and the diagram's bins."""

    methods: tuple[str, ...]  # "isotonic", "platt"
    rarity: bool
    prior: str  # "physics" | "balanced"
    bins: int  # reliability diagram bins (quantiles)


@dataclass(frozen=True)
class Category:
    """One analysis category: its name, its cut (an expression of the language) and the
    Monte Carlo events each class needs in it (``categories.min_events``)."""

    name: str
    cut: str
    min_events: int

    @property
    def cut_name(self) -> str:
        """The name of the cut the category appends to the selection (its cutflow line)."""
        return f"{CATEGORY_CUT_PREFIX}{self.name}"


@dataclass(frozen=True)
class CategorySettings:
    """``categories``: the categories in order."""

    categories: tuple[Category, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]


def multiclass_settings(
    spec: Mapping[str, Any] | None, samples: Mapping[str, Sample], source: str
) -> MulticlassSettings | None:
    """``training.multiclass`` resolved against the samples: every training sample in exactly
    one class, one label per class, a signal and a background class; errors name the key."""
    if spec is None:
        return None
    where = f"{source}: training.multiclass.classes"
    mc = {n: s for n, s in samples.items() if s.label in ("signal", "background")}
    processes = sorted({s.process for s in mc.values()})
    owner: dict[str, str] = {}
    classes = []
    for i, c in enumerate(spec["classes"]):
        key = f"{where}[{i}]"
        if ("samples" in c) == ("processes" in c):
            msg = f"{key} ('{c['name']}'): give either samples: [...] or processes: [...]"
            raise ConfigError(msg)
        members = _members(c, mc, processes, key)
        for sample in members:
            if sample in owner:
                msg = (
                    f"{key}: sample '{sample}' is already in class '{owner[sample]}'; every "
                    "sample belongs to exactly one class"
                )
                raise ConfigError(msg)
            owner[sample] = c["name"]
        labels = sorted({mc[s].label for s in members})
        if len(labels) > 1:
            msg = (
                f"{key} ('{c['name']}') mixes signal and background samples "
                f"({', '.join(members)}); a class is one kind of event"
            )
            raise ConfigError(msg)
        classes.append(
            EventClass(
                c["name"], tuple(members), labels[0], c["balance"], bool(c["balance_processes"])
            )
        )
    _check_classes(classes, mc, owner, where)
    settings = MulticlassSettings(
        tuple(classes), spec["discriminant"], _background_weights(spec, classes, source)
    )
    return settings


def _members(
    spec: Mapping[str, Any], mc: Mapping[str, Sample], processes: list[str], key: str
) -> list[str]:
    """The training samples a class names (by sample or by process), in config order."""
    if "samples" in spec:
        for name in spec["samples"]:
            if name not in mc:
                msg = f"{key}.samples: no training sample '{name}'.{did_you_mean(name, mc)}"
                raise ConfigError(msg)
        return [n for n in mc if n in spec["samples"]]
    for name in spec["processes"]:
        if name not in processes:
            msg = f"{key}.processes: no process '{name}'.{did_you_mean(name, processes)}"
            raise ConfigError(msg)
    return [n for n, s in mc.items() if s.process in spec["processes"]]


def _check_classes(
    classes: list[EventClass], mc: Mapping[str, Sample], owner: Mapping[str, str], where: str
) -> None:
    names = [c.name for c in classes]
    for name in names:
        if names.count(name) > 1:
            msg = f"{where}: the class name '{name}' is used twice; names must be unique"
            raise ConfigError(msg)
    unassigned = [s for s in mc if s not in owner]
    if unassigned:
        msg = (
            f"{where}: training sample '{unassigned[0]}' is in no class; every signal and "
            "background sample must belong to one (add it to a class's samples or processes)"
        )
        raise ConfigError(msg)
    for label in ("signal", "background"):
        if not any(c.label == label for c in classes):
            msg = f"{where}: no class of {label} samples; a multiclass model needs both kinds"
            raise ConfigError(msg)


def _background_weights(
    spec: Mapping[str, Any], classes: list[EventClass], source: str
) -> str | dict[str, float]:
    weights = spec["background_weights"]
    if weights == "physics":
        return weights
    key = f"{source}: training.multiclass.background_weights"
    backgrounds = [c.name for c in classes if not c.is_signal]
    for name in weights:
        if name not in backgrounds:
            hint = did_you_mean(name, backgrounds)
            msg = f"{key}: '{name}' is not a background class.{hint} Background classes: "
            raise ConfigError(msg + ", ".join(backgrounds))
    missing = [b for b in backgrounds if b not in weights]
    if missing:
        msg = f"{key}: no weight for background class '{missing[0]}'; give every one, or physics"
        raise ConfigError(msg)
    return {b: float(weights[b]) for b in backgrounds}


def calibration_settings(spec: Mapping[str, Any] | None) -> CalibrationSettings | None:
    """The ``calibration`` section (None when absent)."""
    if spec is None:
        return None
    return CalibrationSettings(
        tuple(spec["methods"]), bool(spec["rarity"]), spec["prior"], int(spec["bins"])
    )


def category_settings(
    spec: Mapping[str, Any] | None, cut_names: list[str], source: str
) -> CategorySettings | None:
    """The ``categories`` section (None when absent); ``cut_names`` are the selection's."""
    if spec is None:
        return None
    minimum = int(spec["min_events"])
    categories = tuple(Category(name, cut, minimum) for name, cut in spec["cuts"].items())
    for category in categories:
        if category.cut_name in cut_names:
            msg = (
                f"{source}: categories.cuts.{category.name}: the selection already has a cut "
                f"named '{category.cut_name}', the name the category's cut takes; rename one"
            )
            raise ConfigError(msg)
    return CategorySettings(categories)


def check_extensions(data: Mapping[str, Any], source: str) -> None:
    """Combinations the sections do not support, refused before anything runs."""
    training = data["training"]
    engine_dask = training["engine"] == "dask"
    if "multiclass" in training:
        if engine_dask:
            msg = (
                f"{source}: training.multiclass is not available with training.engine: dask; "
                "use engine: local"
            )
            raise ConfigError(msg)
        if training["tune"].get("enabled"):
            msg = (
                f"{source}: training.tune is not available with training.multiclass (its "
                "objective is the binary log-loss); set tune.enabled: false"
            )
            raise ConfigError(msg)
        if data.get("fit") is not None:
            msg = (
                f"{source}: the fit section is not available with training.multiclass (its "
                "templates are of the binary score); fit one class against the rest with a "
                "binary training, or remove fit"
            )
            raise ConfigError(msg)
        unsupported = [b for b in _baseline_methods(training) if b in ("fisher", "knn")]
        if unsupported:
            msg = (
                f"{source}: training.baselines: '{unsupported[0]}' is a two-class method; with "
                "training.multiclass use logistic, decision_tree, random_forest, adaboost or "
                "hist_gbdt"
            )
            raise ConfigError(msg)
    calibration = data.get("calibration")
    if calibration is not None and engine_dask:
        msg = f"{source}: calibration is not available with training.engine: dask; use local"
        raise ConfigError(msg)
    if calibration is not None and not calibration["methods"] and not calibration["rarity"]:
        msg = (
            f"{source}: calibration: nothing to fit (methods is empty and rarity is false); "
            "give a method (isotonic, platt), rarity: true, or remove the section"
        )
        raise ConfigError(msg)


def _baseline_methods(training: Mapping[str, Any]) -> list[str]:
    return [b if isinstance(b, str) else b["method"] for b in training.get("baselines", [])]


def category_config(config: Config, name: str) -> Config:
    """The config of category ``name``: the analysis with its cut appended to the selection
    (as ``category_<name>``), without the ``categories`` section, and knowing its category.

    Its models' fingerprint differs from the inclusive one's (the selection differs), so a
    category's models are never taken for another's.
    """
    from hepml.config.build import config_from_dict

    if config.categories is None:
        msg = f"no category '{name}': the config has no categories section"
        raise ConfigError(msg)
    by_name = {c.name: c for c in config.categories.categories}
    if name not in by_name:
        hint = did_you_mean(name, by_name)
        msg = f"no category '{name}' in categories.cuts.{hint} Categories: {', '.join(by_name)}"
        raise ConfigError(msg)
    category = by_name[name]
    raw = copy.deepcopy(config.raw)
    raw.pop("categories")
    raw["selection"] = [*raw["selection"], {"name": category.cut_name, "expr": category.cut}]
    derived = config_from_dict(raw, source=f"category '{name}'")
    return dataclasses.replace(derived, category=category)
