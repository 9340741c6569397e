"""Helpers for tests that run the real `snakemake` on a small demo config in a temporary dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_tiny_config(workdir: Path, *, events: int = 12_000, **training: Any) -> Path:
    """The shipped demo config, shrunk: fewer events, 3 folds, few trees; returns its path."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["demo"].update(events=events, files_per_process=2)
    cfg["training"].update(folds=3, early_stopping_rounds=10, **training)
    cfg["training"]["xgboost"].update(n_estimators=60)
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def require_hepml() -> None:
    """Skip when the `hepml` program is not installed (the rules call it)."""
    if shutil.which("hepml", path=str(Path(sys.executable).parent)) is None and not shutil.which(
        "hepml"
    ):
        pytest.skip("the hepml command is not installed (pip install -e .)")


def run_tiny_workflow(workdir: Path, edit: Callable[[dict], None] | None = None) -> dict:
    """Run the whole workflow on 2 cores in ``workdir`` with the tiny config, first changed in
    place by ``edit`` when given; return the config. Fails the test if snakemake fails."""
    require_hepml()
    path = write_tiny_config(workdir)
    cfg = yaml.safe_load(path.read_text())
    if edit is not None:
        edit(cfg)
        path.write_text(yaml.safe_dump(cfg))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return cfg


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The `snakemake` command line running this repository's workflow in ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "tiny.yaml"),
        *args,
    ]


def snakemake_env() -> dict[str, str]:
    """Environment for a snakemake subprocess: headless matplotlib, this Python's `hepml` first."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake to completion, capturing its output."""
    return subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        env=snakemake_env(),
        check=False,
    )
