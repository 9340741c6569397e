"""Provenance of a run: everything a reviewer needs to know what produced a result.

:func:`collect_provenance` gathers, as one JSON-ready mapping: the versions of hepml and of
every library that shapes the numbers, Python and the platform, the merged configuration (with
schema defaults filled in) and its SHA-256, the SHA-256 of every input file, the git revision
of the workflow's repository (and whether it has uncommitted changes), the K-fold definition,
and the threads and device that training used. :func:`write_provenance` writes it atomically.

Reruns are promised byte-identical on CPU (``tree_method: hist`` is deterministic for a given
seed whatever the number of threads); on a GPU (``device: cuda``) the histograms are built
with floating-point atomics, so the last bits of a model may differ from run to run. The record
says which applies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from hepml import __version__
from hepml.atomic import write_json, write_text
from hepml.config import Config
from hepml.exceptions import InputFileError
from hepml.folds import fold_roles
from hepml.ingest.reading import resolve_files

__all__ = [
    "DEPENDENCIES",
    "collect_provenance",
    "config_sha256",
    "file_sha256",
    "git_state",
    "input_files",
    "kfold_definition",
    "package_versions",
    "write_merged_config",
    "write_provenance",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEPENDENCIES = (
    "uproot",
    "awkward",
    "numpy",
    "xgboost",
    "scikit-learn",
    "scipy",
    "snakemake",
    "matplotlib",
    "mplhep",
    "pyarrow",
    "vector",
    "hist",
)
# the dask extra, recorded too when training.engine is dask
DASK_DEPENDENCIES = ("dask", "distributed", "dask-awkward")
_CHUNK = 1 << 20  # bytes read at a time when hashing


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks (memory stays flat)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as err:
        msg = f"cannot read '{path}' to hash it: {err.strerror or err}"
        raise InputFileError(msg) from err
    return digest.hexdigest()


def package_versions(names: Iterable[str] = DEPENDENCIES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def config_sha256(config: Config) -> str:
    """SHA-256 of the merged configuration (defaults filled in) as canonical JSON."""
    blob = json.dumps(config.raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _git(directory: Path, *args: str) -> str | None:
    # --no-optional-locks: a read-only look must never take the index lock of a checkout
    # that someone may be committing in at the same moment.
    try:
        result = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Revision and cleanliness of the git repository holding ``directory`` (None if none).

    ``dirty`` is true when tracked files differ from the commit or untracked files exist;
    ``changed_files`` counts them.
    """
    directory = Path(directory)
    top = _git(directory, "rev-parse", "--show-toplevel")
    revision = _git(directory, "rev-parse", "HEAD") if top else None
    if not top or not revision:
        return None
    status = _git(directory, "status", "--porcelain")
    changed = [line for line in (status or "").splitlines() if line.strip()]
    return {
        "repository": top,
        "revision": revision,
        "branch": _git(directory, "rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": status is None or bool(changed),
        "changed_files": len(changed),
    }


def input_files(config: Config) -> list[dict[str, Any]]:
    """Every input file of every sample (training and ``apply.samples``), size and SHA-256.

    Remote files (``root://``, ``https://``) are listed without a hash: reading terabytes over
    the network to hash them is not provenance's job.
    """
    records = []
    for name, sample in {**config.samples, **config.apply.samples}.items():
        for file in resolve_files(name, sample.files, sample.tree):
            path = Path(file.path)
            record: dict[str, Any] = {"sample": name, "path": file.path, "tree": file.tree}
            if "://" in file.path:
                record.update(bytes=None, sha256=None)
            else:
                record.update(bytes=path.stat().st_size, sha256=file_sha256(path))
            records.append(record)
    return records


def kfold_definition(config: Config) -> dict[str, Any]:
    """How events are split into folds and which folds each model uses."""
    return {
        "folds": config.training.folds,
        "assignment": (
            "fold = SplitMix64 hash of the event-number branches, chained from the seed, "
            "modulo K (hepml.folds.fold_of_event); (file index, entry) when the branches "
            "are absent"
        ),
        "event_number": list(config.event_number),
        "seed": config.seed,
        "models": {
            str(k): fold_roles(k, config.training.folds) for k in range(config.training.folds)
        },
    }


def _training(config: Config, threads: int | None, models: Sequence[str]) -> dict[str, Any]:
    import xgboost

    device = str(config.training.xgboost.get("device", "cpu"))
    cuda_build = bool(xgboost.build_info().get("USE_CUDA", False))
    if config.training.engine == "dask":
        reproducibility = (
            "Dask engine: the quantile cuts and histogram sums depend on how the scheduler "
            "spreads the partitions over the workers, so reruns may give different models"
        )
    elif device == "cpu":
        reproducibility = "CPU hist: reruns give byte-identical models whatever the thread count"
    else:
        reproducibility = (
            "GPU hist: histograms are summed with floating-point atomics, so reruns may "
            "differ in the last bits of split gains and leaf values"
        )
    return {
        "threads": threads,
        "engine": config.training.engine,
        "device": device,
        "tree_method": "hist",
        "xgboost_built_with_cuda": cuda_build,
        "bitwise_reproducible": device == "cpu" and config.training.engine == "local",
        "reproducibility": reproducibility,
        "models": [_model_record(Path(m)) for m in models],
    }


def _model_record(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"path": str(path), "sha256": file_sha256(path)}
    meta_path = path.with_name("metadata.json")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        for key in ("model_fold", "best_iteration", "config_hash", "xgboost_version"):
            if key in meta:
                record[key] = meta[key]
    return record


def collect_provenance(
    config: Config,
    config_files: Sequence[str | os.PathLike[str]],
    *,
    train_threads: int | None = None,
    models: Sequence[str | os.PathLike[str]] = (),
    repositories: Sequence[str | os.PathLike[str]] = (".",),
) -> dict[str, Any]:
    """The provenance record of a run (JSON-ready).

    ``config_files`` are the YAML files merged into ``config``, in order; ``train_threads`` the
    threads each training job ran with; ``models`` the model files whose SHA-256 to record;
    ``repositories`` the directories whose git state to record (the workflow's own, the
    working directory; duplicates are recorded once).
    """
    repos: dict[str, dict[str, Any]] = {}
    for directory in repositories:
        state = git_state(directory)
        if state is not None:
            repos.setdefault(state["repository"], state)
    return {
        "format_version": FORMAT_VERSION,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hepml": __version__,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": package_versions(
            DEPENDENCIES + (DASK_DEPENDENCIES if config.training.engine == "dask" else ())
        ),
        "config": {
            "files": [{"path": str(f), "sha256": file_sha256(f)} for f in map(Path, config_files)],
            "sha256": config_sha256(config),
            "training_hash": config.training_hash(),
            "merged": config.raw,
        },
        "inputs": input_files(config),
        "git": list(repos.values()),
        "kfold": kfold_definition(config),
        "training": _training(config, train_threads, [str(m) for m in models]),
    }


def write_merged_config(config: Config, path: str | os.PathLike[str]) -> None:
    """Write the configuration the run used (files merged, defaults filled) as YAML."""
    import yaml

    header = (
        "# The configuration this run used: the config files merged in order, every default\n"
        f"# filled in. SHA-256 of its canonical JSON: {config_sha256(config)}\n"
    )
    write_text(path, header + yaml.safe_dump(config.raw, sort_keys=False, allow_unicode=True))


def write_provenance(record: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the record as indented JSON, atomically (no half-written file on failure)."""
    write_json(path, record)
    log.info("provenance of %d input file(s) written to %s", len(record["inputs"]), path)
