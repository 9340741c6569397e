"""The settings each workflow stage reads, and their hashes: the stages' rerun triggers.

Snakemake reruns a job when its ``params`` change. hepml gives every rule one parameter, the
hash of exactly the settings its stage reads, taken from the validated configuration (schema
defaults filled in), so that:

- the same configuration under another file name, or split over other files, reruns nothing
  (file paths are never hashed);
- presentation (a feature's ``label`` and ``log``, the ``plotting`` and ``processes``
  sections) reruns only the plots, never ingest, training or the tables (a feature's
  histogram ``bins``/``range`` also rerun the input-variable and data/MC histograms);
- performance knobs that do not change a number (``reading.step_size``, ``resources``,
  where the Dask scheduler is) rerun nothing;
- a changed cut reruns exactly the ingest and apply jobs and what follows from their outputs
  (Snakemake follows the files).

:func:`training_hash` is the fingerprint written into every model's metadata: what the
models depend on (the ingest settings of every training sample and the training settings).
Apply, export and ``hepml score`` refuse models whose fingerprint differs from the config's.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepml.config.model import Config

__all__ = [
    "DEMO_FORMAT",
    "FEATURE_PRESENTATION_KEYS",
    "JOB_SPLITTING_KEYS",
    "PRESENTATION_SECTIONS",
    "SAMPLE_PRESENTATION_KEYS",
    "settings_hash",
    "stage_settings",
    "training_hash",
]

# Keys that only change how things are drawn or labelled, never a model or a table. (A
# sample's `label` is its class, signal/background/data: not presentation.) A feature's
# histogram `bins`/`range` do change the input-variable and data/MC histograms, so those two
# rules read them (_histogram_binning); the top-level `processes` section (display label,
# colour, stack order per process) is read by the plots only.
FEATURE_PRESENTATION_KEYS = ("label", "bins", "range", "log")
SAMPLE_PRESENTATION_KEYS: tuple[str, ...] = ()
PRESENTATION_SECTIONS = ("plotting", "processes")
# Connection settings of the Dask engine: how to reach a cluster and ride out a lost worker,
# not what it computes.
_DASK_CONNECTION = ("address", "timeout", "collective_timeout", "retries")


def settings_hash(settings: Any) -> str:
    """A short, stable hash of JSON-ready ``settings`` (key order does not matter)."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _features(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Features as computed: name, expression and fill, never the plot label."""
    return [
        {k: v for k, v in f.items() if k not in FEATURE_PRESENTATION_KEYS} for f in raw["features"]
    ]


def _feature_names(raw: dict[str, Any]) -> list[str]:
    return [f["name"] for f in raw["features"]]


def _presentation(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Feature name -> its presentation keys (axis label, log axis, ...), in order."""
    return {
        f["name"]: {k: f[k] for k in FEATURE_PRESENTATION_KEYS if k in f} for f in raw["features"]
    }


def _histogram_binning(raw: dict[str, Any]) -> dict[str, Any]:
    """What the input-variable and data/MC histograms are binned with, per feature."""
    return {
        "input_bins": raw.get("evaluation", {}).get("input_bins"),
        "features": {f["name"]: [f.get("bins"), f.get("range")] for f in raw["features"]},
    }


def _mc_samples(config: Config) -> list[str]:
    return [n for n in config.samples if n not in config.data_samples]


def _processes(config: Config) -> dict[str, list[str]]:
    """Label and process of every training sample (balancing and per-process tables)."""
    return {n: [config.samples[n].label, config.samples[n].process] for n in _mc_samples(config)}


# How a sample is split into jobs (hepml.workflow.parts): the merged outputs are byte for byte
# those of one job, so never a rerun trigger (Snakemake follows the parts' files instead)
JOB_SPLITTING_KEYS = ("files_per_job", "mb_per_job")


def _reading(raw: dict[str, Any]) -> dict[str, Any]:
    # step_size sets the chunking (memory), never a number: not a rerun trigger; nor are the
    # retries of remote files
    unused = ("step_size", *JOB_SPLITTING_KEYS, "retries", "retry_wait")
    return {k: v for k, v in raw.get("reading", {}).items() if k not in unused}


def _sample_spec(config: Config, name: str) -> dict[str, Any]:
    raw = config.raw
    spec = raw["samples"].get(name) or raw["apply"]["samples"][name]
    unused = (*SAMPLE_PRESENTATION_KEYS, *JOB_SPLITTING_KEYS)
    return {k: v for k, v in spec.items() if k not in unused}


def _event_reading(config: Config, name: str) -> dict[str, Any]:
    """What turns one sample's files into selected events with features, weights, folds."""
    raw = config.raw
    return {
        "sample": _sample_spec(config, name),
        "selection": raw.get("selection", []),
        "features": _features(raw),
        "event_number": raw.get("event_number"),
        "luminosity": raw.get("luminosity"),
        "seed": raw.get("seed"),
        "folds": raw["training"]["folds"],
        "reading": _reading(raw),
    }


def _model_settings(config: Config) -> dict[str, Any]:
    """The ``training`` settings the BDTs depend on: no baselines, no Dask connection, and no
    engine settings under ``engine: local``."""
    training = {k: v for k, v in config.raw["training"].items() if k != "baselines"}
    if training.get("engine", "local") == "local":
        training.pop("engine", None)
        training.pop("dask", None)
    else:
        training["dask"] = {
            k: v for k, v in training.get("dask", {}).items() if k not in _DASK_CONNECTION
        }
    return training


def _train(config: Config) -> dict[str, Any]:
    train = {
        "training": _model_settings(config),
        "features": _feature_names(config.raw),
        "seed": config.raw.get("seed"),
        "samples": _processes(config),
    }
    if "calibration" in config.raw:  # fitted by the training job, recorded with each model
        train["calibration"] = _calibration_fit(config.raw)
    return train


def _calibration_fit(raw: dict[str, Any]) -> dict[str, Any]:
    """The calibration settings the training job fits with (not the diagram's bins)."""
    return {k: v for k, v in raw["calibration"].items() if k != "bins"}


def training_hash(config: Config) -> str:
    """The models' fingerprint: ingest settings of every training sample + training settings.

    ``reading`` is left out: ``on_bad_file`` decides whether a run with a bad file stops or
    skips it, not what the models of a finished run are.
    """
    ingest = {
        name: {k: v for k, v in _event_reading(config, name).items() if k != "reading"}
        for name in _mc_samples(config)
    }
    return settings_hash({"ingest": ingest, "train": _train(config)})


def _baseline(config: Config, spec: Any) -> dict[str, Any]:
    training = config.raw["training"]
    weights = ("folds", "negative_weights", "balance_classes", "balance_backgrounds")
    return {
        "baseline": spec,
        "weights": {k: training.get(k) for k in weights},
        "features": _feature_names(config.raw),
        "seed": config.raw.get("seed"),
        "samples": _processes(config),
    }


def _baseline_name(spec: Any) -> str:
    return spec if isinstance(spec, str) else spec.get("name", spec["method"])


def _plotting(config: Config) -> dict[str, Any]:
    """What the plots read besides their data files: style, labels, process display,
    luminosity text."""
    raw = config.raw
    return {
        "plotting": raw.get("plotting", {}),
        "processes": raw.get("processes", {}),
        "features": _presentation(raw),
        "luminosity": raw.get("luminosity"),
        "evaluation": raw.get("evaluation", {}),
        "samples": {n: _sample_spec(config, n) for n in config.samples},
    }


def _recorded(config: Config) -> dict[str, Any]:
    """The whole config as the export and provenance record it, less what never changes a
    number: resources, chunking, where the Dask scheduler is."""
    raw = config.raw
    recorded = {k: v for k, v in raw.items() if k != "resources"}
    recorded["reading"] = _reading(raw)
    recorded["training"] = {
        **_model_settings(config),
        "baselines": raw["training"].get("baselines", []),
    }
    return recorded


def _export(config: Config) -> dict[str, Any]:
    """The export's manifest records the config, but for how it is drawn, the demo and the
    fit (which the models do not depend on)."""
    left_out = (*PRESENTATION_SECTIONS, "demo", "systematics", "fit")
    manifest = {k: v for k, v in _recorded(config).items() if k not in left_out}
    manifest["features"] = _features(config.raw)
    return manifest


def _variation_of(variation: Any, sample: str) -> dict[str, Any]:
    """What one direction of a variation changes for ``sample``."""
    return {
        "weight": variation.weight.get(sample),
        "branches": variation.branches,
        "files": list(variation.files.get(sample, ())),
        "tree": variation.tree,
    }


def _fit_stages(config: Config) -> dict[str, Any]:
    """The settings of the statistics stage's rules (none without a ``fit`` section)."""
    fit = config.fit
    if fit is None:
        return {}
    raw = config.raw
    systematics = {s.name: list(s.samples) for s in fit.systematics}
    return {
        "variations": {
            n: {
                **_event_reading(config, n),
                "variations": {
                    s.name: {d: _variation_of(v, n) for d, v in s.directions().items()}
                    for s in fit.of_sample(n)
                },
            }
            for n in _mc_samples(config)
        },
        "fit_templates": {
            "channel": fit.channel,
            "binning": fit.binning,
            "samples": _processes(config),
            "systematics": systematics,
            "normalisation": raw.get("systematics", {}).get("normalisation", {}),
        },
        "fit_inputs": {
            "normalisation": raw.get("systematics", {}).get("normalisation", {}),
            "lumi_uncertainty": fit.lumi_uncertainty,
            "poi_bounds": list(fit.poi_bounds),
        },
        "expected": {"expected": list(fit.expected), "cl": fit.cl, "channel": fit.channel},
        "plot_fit": {"plotting": raw.get("plotting", {}), "luminosity": raw.get("luminosity")},
    }


# What the demo's files hold, raised whenever hepml.demo's generator writes other branches or
# events (2: the jet-energy-scale shifted jets and pileup weights of the systematics): part of
# the make_demo job's settings, so that demo files of an older hepml are written again, not read.
DEMO_FORMAT = 2


def _demo(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The demo's settings and the format of the files its generator writes."""
    if raw.get("demo") is None:
        return None
    return {"demo": raw["demo"], "format": DEMO_FORMAT}


def stage_settings(config: Config) -> dict[str, Any]:
    """Stage (rule) name -> the settings it reads; per-sample stages map sample -> settings.

    The keys are the workflow's rule names. Only settings appear here, never paths.
    """
    raw = config.raw
    evaluation = raw.get("evaluation", {})
    apply_section = {k: v for k, v in raw.get("apply", {}).items() if k != "samples"}
    samples = list(config.samples) + list(config.apply.samples)
    return {
        "make_demo": _demo(raw),
        "ingest": {n: _event_reading(config, n) for n in config.samples},
        "train": _train(config),
        "train_baseline": {
            _baseline_name(s): _baseline(config, s) for s in raw["training"].get("baselines", [])
        },
        "tune_trial": {"train": _train(config), "tune": raw["training"].get("tune")},
        "tune_select": {"tune": raw["training"].get("tune"), "folds": raw["training"]["folds"]},
        "evaluate": {"evaluation": evaluation, "folds": raw["training"]["folds"]},
        # the histograms carry no label: labels are drawn from the config by the plots
        "inputs": {"features": _feature_names(raw), "binning": _histogram_binning(raw)},
        "importance": {
            "features": _feature_names(raw),
            "shap_events": evaluation.get("shap_events"),
            "seed": raw.get("seed"),
        },
        "data_mc": {
            "features": _feature_names(raw),
            "binning": _histogram_binning(raw),
            "evaluation": evaluation,
            "data": {n: _sample_spec(config, n) for n in config.data_samples},
        },
        "plot": _plotting(config),
        **_extension_stages(config),
        "summaries": {"tables": 1},  # reformats the ingest, apply and export records only
        "apply": {n: {**_event_reading(config, n), "apply": apply_section} for n in samples},
        "export": _export(config),
        "provenance": _recorded(config),
        **_fit_stages(config),
    }


def _extension_stages(config: Config) -> dict[str, Any]:
    """The stages of training.multiclass, calibration and categories (hepml.config.extensions),
    each only when its section is given (a config without them plans as it did before)."""
    raw = config.raw
    stages: dict[str, Any] = {}
    multiclass = raw["training"].get("multiclass")
    if multiclass is not None:
        stages["evaluate_multiclass"] = {
            "multiclass": multiclass,
            "evaluation": raw.get("evaluation", {}),
            "folds": raw["training"]["folds"],
        }
        stages["plot_multiclass"] = {"multiclass": multiclass, "plot": _plotting(config)}
    if "calibration" in raw:
        calibration = {"calibration": raw["calibration"], "folds": raw["training"]["folds"]}
        stages["evaluate_calibration"] = calibration | {
            "negative_weights": raw["training"]["negative_weights"]
        }
        stages["plot_calibration"] = calibration | {"plot": _plotting(config)}
    if "categories" in raw:
        stages["combine_categories"] = {
            "categories": raw["categories"],
            "significance": raw.get("evaluation", {}).get("significance"),
            "plot": _plotting(config),
        }
    return stages
