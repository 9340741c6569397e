"""Small real runs of the whole workflow, shared by the review and cluster tests.

Each variant runs once per test session (the result is cached in this module), from scratch in
its own temporary directory: the demo ntuples are written, ingested, trained, evaluated. Two
variants with the same config ("reference" and "rerun") are the determinism check; a third
with two features fewer is what `hepml compare` is tested on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import require_hepml, run_snakemake, write_tiny_config

VARIANTS: dict[str, dict[str, Any]] = {
    "reference": {},
    "rerun": {},  # the same config again, from scratch
    "fewer_features": {"drop_features": ("mjj", "detajj")},  # the VBF jet-pair features
    "per_file": {"files_per_job": 1},  # every sample ingested and applied as one job per file
}
TRAIN_THREADS = 2
_RUNS: dict[str, Path | str] = {}  # variant -> work dir, or the error of a failed run


def review_config(
    workdir: Path, *, drop_features: tuple[str, ...] = (), files_per_job: int | None = None
) -> Path:
    """The tiny demo config: no baselines (fewer jobs), 2 training threads; returns its path."""
    path = write_tiny_config(workdir, events=8_000)
    cfg = yaml.safe_load(path.read_text())
    if "baselines" in cfg["training"]:
        cfg["training"]["baselines"] = []
    cfg["resources"] = {"train": {"threads": TRAIN_THREADS}}
    cfg["features"] = [f for f in cfg["features"] if f["name"] not in drop_features]
    if files_per_job is not None:
        cfg["reading"]["files_per_job"] = files_per_job
    path.write_text(yaml.safe_dump(cfg))
    return path


def workflow_run(tmp_path_factory: pytest.TempPathFactory, variant: str) -> Path:
    """The work dir of a finished local run of ``variant`` (made on first use)."""
    require_hepml()
    if variant not in _RUNS:
        workdir = tmp_path_factory.mktemp(variant)
        review_config(workdir, **VARIANTS[variant])
        run = run_snakemake(workdir, "--cores", "2")
        _RUNS[variant] = workdir if run.returncode == 0 else run.stderr[-4000:]
    result = _RUNS[variant]
    if isinstance(result, str):
        pytest.fail(f"the '{variant}' run of the workflow failed:\n{result}")
    return result
