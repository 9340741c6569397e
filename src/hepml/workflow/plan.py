"""The workflow's plan: everything the Snakemake rules need to know, computed once.

``hepml plan`` loads and validates the configuration files and prints this plan as JSON;
``workflow/rules/common.smk`` runs it once when Snakemake reads the workflow, and the rules use
nothing else from hepml (they call the ``hepml`` command for every job). The plan holds:

- the samples by role (training MC, collision data, extra samples to score) and each one's
  **explicit file list**, the globs resolved once here (or matched against the files the demo
  rule will write), so that every job of a run reads the same files in the same order;
- each sample's **parts**: the ingest and apply jobs it is split into (``files_per_job``,
  :mod:`hepml.workflow.parts`), each with its files, its first file's index in the sample and
  its local input files (remote URLs are not Snakemake inputs), and whether the sample's
  friend-tree names carry the file index (``indexed_friends``);
- the folds, features, baselines and hyperparameter-search trials that shape the DAG;
- per rule, the **hash of the settings its stage reads** (:mod:`hepml.config.settings`): the
  rules' only rerun trigger besides their files;
- the batch resources per stage and the HTCondor job flavours;
- warnings to show once (e.g. folds from (file, entry) without an event number).

The plan never holds a config file's path as a trigger: the same configuration under another
name plans the same.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hepml import __version__
from hepml.apply.friends import names_clash
from hepml.atomic import write_json
from hepml.config import Config, Sample, load_config, read_config_files
from hepml.config.settings import settings_hash, stage_settings
from hepml.exceptions import HepmlError, InputFileError
from hepml.ingest.files import REMOTE_URL, TREE_SUFFIX, resolve_files
from hepml.ingest.remote import configure_from
from hepml.workflow.parts import split_files
from hepml.workflow.resources import JOB_FLAVOURS

__all__ = [
    "FORMAT_VERSION",
    "check_config",
    "check_first_files",
    "checks_key",
    "entries_fold_warning",
    "sample_file_lists",
    "workflow_plan",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def entries_fold_warning(config: Config) -> str | None:
    """The one warning for ``event_number: none`` (None when events carry a number)."""
    if not config.folds_from_entries:
        return None
    return (
        "event_number: none: each event's fold comes from (file, entry): the index of its "
        "file in the sample's sorted file list and its entry number. Deterministic, but adding, "
        "removing or renaming a sample's files changes the folds; the exported hepml_folds.h "
        "and manifest.json list each sample's files in order for scoring elsewhere."
    )


def sample_file_lists(config: Config) -> dict[str, list[str]]:
    """Every sample's files (training, data and ``apply`` samples) in the config's syntax
    (``path`` or ``path.root:tree``), in order: globs resolved now, or matched against the
    files the demo rule will write. A glob matching nothing raises
    :class:`~hepml.exceptions.InputFileError` naming the sample."""
    demo_files = _demo_outputs(config)
    samples = {**config.samples, **config.apply.samples}
    return {name: _sample_files(sample, demo_files) for name, sample in samples.items()}


def check_config(config: Config, source: str, files: dict[str, list[str]] | None = None) -> None:
    """The checks that need more than the schema: every plotted label drawable by
    matplotlib, the baselines' params valid for scikit-learn, every sample's globs matching
    files, no file in two samples. Run by ``hepml validate`` and once when the workflow starts
    (not in every cluster job). ``files``: :func:`sample_file_lists`, if already known."""
    from hepml.ingest.shared_files import find_shared_files
    from hepml.plots.labels import check_labels

    check_labels(config, source=source)
    if any(b.params for b in config.training.baselines):  # scikit-learn and XGBoost: 4 s
        from hepml.train.baselines import check_baselines

        check_baselines(config, source)
    files = sample_file_lists(config) if files is None else files
    # the samples that are counted (training MC, data); apply.samples are only scored, and
    # may well be files of a training sample scored another way (data_model: mean)
    find_shared_files({name: _local_paths(files[name]) for name in config.samples})


def check_first_files(config: Config, source: str) -> None:
    """``hepml validate --check-files``: the first file of every sample opened, every branch
    and expression checked on its first entries; every problem in one error."""
    from hepml.ingest.file_checks import check_config_files

    problems = check_config_files(config)
    if config.categories is not None:  # each category's cut, on the same first files
        from hepml.config.extensions import category_config

        for name in config.categories.names:
            found = check_config_files(category_config(config, name))
            problems += [p for p in found if p not in problems]
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        msg = f"{len(problems)} problem(s) with the input files of {source}:\n{lines}"
        raise InputFileError(msg)


def workflow_plan(
    config_paths: Sequence[str | Path],
    *,
    checks: bool = False,
    checks_cache: str | Path | None = None,
) -> dict[str, Any]:
    """The plan of the configuration made of ``config_paths`` (merged in order), as JSON data.

    ``checks`` adds what ``hepml validate --check-files`` checks: :func:`check_config` (labels,
    files shared between samples) and :func:`check_first_files`, so that a misspelt branch
    stops Snakemake before any job runs. ``checks_cache``: a JSON file recording the
    :func:`checks_key` of the last checks that passed; the checks are skipped when the key is
    the same (two to four seconds at every Snakemake start), and the file is rewritten when
    they pass.
    """
    config = load_config(list(config_paths))
    configure_from(config)  # the retries of listing remote globs
    files = sample_file_lists(config)
    if checks:
        key = checks_key(config, config_paths, files) if checks_cache is not None else None
        if key is None or _cached_key(checks_cache) != key:
            source = ", ".join(map(str, config_paths))
            check_config(config, source, files)
            check_first_files(config, source)
            if key is not None:
                _record_checks(checks_cache, key)
    settings = stage_settings(config)
    return {
        "format": FORMAT_VERSION,
        "config": read_config_files(list(config_paths)),
        "samples": {
            "training": [n for n in config.samples if n not in config.data_samples],
            "data": list(config.data_samples),
            "extra": list(config.apply.samples),
        },
        "files": files,
        "inputs": {name: _local_paths(entries) for name, entries in files.items()},
        "parts": {name: _parts(config, name, entries) for name, entries in files.items()},
        "indexed_friends": {name: names_clash(entries) for name, entries in files.items()},
        "demo_outputs": _demo_outputs(config),
        "folds": config.training.folds,
        "features": config.feature_names,
        "baselines": [b.name for b in config.training.baselines],
        "tune": _tune(config),
        "apply": {"root": config.apply.root, "parquet": config.apply.parquet},
        "fit": _fit(config),
        "settings": _hashes(settings),
        **_extensions(config),
        "resources": {name: asdict(res) for name, res in config.resources.items()},
        "job_flavours": [list(f) for f in JOB_FLAVOURS],
        "warnings": [w for w in (entries_fold_warning(config),) if w],
    }


def checks_key(
    config: Config, config_paths: Sequence[str | Path], files: dict[str, list[str]]
) -> str | None:
    """What the plan's checks depend on, hashed: hepml's version, the config files' texts,
    every sample's file list and the size and modification time of each of its files (the
    checks open the first ones and compare the others). None, never cached, when a sample
    has a remote file (not ``stat``-ed here) or a systematic variation reads other files."""
    if config.fit is not None and any(
        variation.files for s in config.fit.systematics for variation in s.directions().values()
    ):
        return None
    stats = {}
    for name, entries in files.items():
        local = _local_paths(entries)
        if len(local) != len(entries):  # a remote file
            return None
        stats[name] = [_size_and_time(path) for path in local]
    data = {
        "hepml": __version__,
        "configs": read_config_files(list(config_paths)),
        "files": files,
        "stats": stats,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _size_and_time(path: str) -> list[int] | None:
    """A file's size and modification time (None for a demo file not written yet: it is
    checked when it exists)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _record_checks(path: str | Path, key: str) -> None:
    """Record ``key`` in ``path``; a cache that cannot be written (a file hepml did not write
    there, a read-only directory) only means the checks run again next time."""
    try:
        write_json(path, {"format": FORMAT_VERSION, "key": key})
    except (HepmlError, OSError) as err:
        log.warning("the plan's checks passed but are not recorded (%s): they run again", err)


def _cached_key(path: str | Path) -> str | None:
    """The key :func:`workflow_plan` recorded in ``path`` (None if none can be read)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record.get("key") if isinstance(record, dict) else None


def _demo_outputs(config: Config) -> list[str]:
    """Every ROOT file the demo rule writes (empty without a ``demo`` section)."""
    if config.demo is None:
        return []
    from hepml.demo.files import demo_files

    files = demo_files(config.demo["directory"], config.demo["files_per_process"])
    return sorted(str(p) for paths in files.values() for p in paths)


def _sample_files(sample: Sample, demo: list[str]) -> list[str]:
    """The sample's files in the config's syntax (``path`` or ``path.root:tree``), in order.

    Patterns matching files the demo rule will write resolve to those (they may not exist
    yet); every other pattern is globbed now, with the errors of ingest.
    """
    entries: list[str] = []
    for pattern in sample.files:
        path, tree = pattern, None
        match = TREE_SUFFIX.match(pattern)
        if match:
            path, tree = match["path"], match["tree"]
        from_demo = [f for f in demo if fnmatch.fnmatch(f, path)]
        if from_demo:
            entries += [f if tree is None else f"{f}:{tree}" for f in from_demo]
            continue
        resolved = resolve_files(sample.name, (pattern,), sample.tree)
        entries += [f.path if f.tree == sample.tree and tree is None else str(f) for f in resolved]
    unique = list(dict.fromkeys(entries))
    if not unique:  # pragma: no cover - resolve_files raises first
        msg = f"sample '{sample.name}': no input files"
        raise InputFileError(msg)
    return unique


def _parts(config: Config, name: str, entries: list[str]) -> list[dict[str, Any]]:
    """The sample's ingest/apply jobs: each one's first file index, files and local inputs."""
    sample = config.samples.get(name) or config.apply.samples[name]
    per_job = sample.files_per_job or config.reading.files_per_job
    mb = sample.mb_per_job or config.reading.mb_per_job
    parts = split_files(entries, per_job, mb)
    return [{**p.as_dict(), "inputs": _local_paths(list(p.files))} for p in parts]


def _local_paths(entries: list[str]) -> list[str]:
    """The local files among ``entries``, without their ``:tree`` (Snakemake's inputs)."""
    paths = []
    for entry in entries:
        match = TREE_SUFFIX.match(entry)
        path = match["path"] if match else entry
        if not REMOTE_URL.match(path):
            paths.append(path)
    return paths


def _tune(config: Config) -> dict[str, Any] | None:
    if config.training.tune is None:
        return None
    from hepml.train.tune import history_needed, n_trials

    trials = n_trials(config.training.tune)
    return {
        "trials": list(range(trials)),
        "history": {str(i): history_needed(config.training.tune, i) for i in range(trials)},
    }


def _fit(config: Config) -> dict[str, Any] | None:
    """The statistics stage's DAG (None without a ``fit`` section): the MC samples whose
    variations are scored, the explicit files of variations read from other files, and the
    variation plots (``systematics/<process>_<systematic>``)."""
    if config.fit is None:
        return None
    from hepml.systematics.variants import sample_variants

    demo = _demo_outputs(config)
    samples = [n for n in config.samples if n not in config.data_samples]
    files: dict[str, dict[str, list[str]]] = {n: {} for n in samples}
    for name in samples:
        for variant in sample_variants(config, name):
            if variant.sample.files != config.samples[name].files:
                files[name][variant.name] = _sample_files(variant.sample, demo)
    processes = list(dict.fromkeys(config.samples[n].process for n in samples))
    affected = {
        p: sorted(s.name for s in config.fit.systematics
                  if any(config.samples[n].process == p for n in s.samples))
        for p in processes
    }  # fmt: skip
    return {
        "channel": config.fit.channel,
        "samples": samples,
        "variation_files": files,
        "variation_inputs": {
            n: list(
                dict.fromkeys(p for entries in files[n].values() for p in _local_paths(entries))
            )
            for n in samples
        },
        "plots": [f"systematics/{p}_{s}" for p in processes for s in affected[p]],
    }


def _hashes(settings: dict[str, Any]) -> dict[str, Any]:
    per_name = ("ingest", "apply", "train_baseline", "variations")
    return {
        stage: {name: settings_hash(s) for name, s in value.items()}
        if stage in per_name
        else settings_hash(value)
        for stage, value in settings.items()
    }


def _extensions(config: Config) -> dict[str, Any]:
    """What the multiclass, calibration and categories rules need (hepml.config.extensions):
    the class names, whether a rarity is computed, and each category's settings hashes."""
    from hepml.config.extensions import category_config

    multiclass = config.training.multiclass
    calibration = config.calibration
    categories = None
    if config.categories is not None:
        categories = {
            "names": config.categories.names,
            "settings": {
                name: _hashes(stage_settings(category_config(config, name)))
                for name in config.categories.names
            },
        }
    return {
        "multiclass": multiclass.names if multiclass is not None else None,
        "calibration": None if calibration is None else {"rarity": calibration.rarity},
        "categories": categories,
    }
