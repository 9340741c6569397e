"""Interrupted runs: kill snakemake mid-ingest and mid-training, rerun, get identical outputs.

Every hepml output is written under a temporary name and renamed when complete, so however a
run dies (SIGTERM lets Snakemake clean up; SIGKILL does not), no half-written Parquet, model,
table or ROOT file ever sits under its final name, and the rerun completes to the same results
as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import uproot
import xgboost as xgb
from workflow_helpers import run_snakemake, snakemake_command, snakemake_env, write_tiny_config

pytestmark = pytest.mark.e2e

DETERMINISTIC = ("train", "evaluation", "ingest", "cutflow")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the tiny demo."""
    workdir = tmp_path_factory.mktemp("reference")
    write_tiny_config(workdir, events=6000)
    run = run_snakemake(workdir, "--cores", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def _start_snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Snakemake in the background, in its own process group: a kill reaches its jobs too."""
    return subprocess.Popen(
        snakemake_command(workdir, "--cores", "1", *args),
        env=env or snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for(path_glob: str, workdir: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(workdir.glob(path_glob)):
            return
        if proc.poll() is not None:
            pytest.fail(f"snakemake ended (rc={proc.returncode}) before {path_glob} appeared")
        time.sleep(0.05)
    pytest.fail(f"{path_glob} did not appear within {timeout} s")


def _assert_every_output_is_whole(workdir: Path) -> None:
    """Every file under results/ with a final name must be complete and loadable."""
    for path in (workdir / "results").rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".root":
            with uproot.open(path) as f:
                f.keys()
    for path in (workdir / "resources").rglob("*.root"):
        with uproot.open(path) as f:
            assert f["events"].num_entries > 0


def _assert_same_results(a: Path, b: Path) -> None:
    for sub in DETERMINISTIC:
        files_a = sorted(p.relative_to(a) for p in (a / "results" / sub).rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(b) for p in (b / "results" / sub).rglob("*") if p.is_file())
        assert files_a == files_b
        for rel in files_a:
            if rel.suffix == ".parquet":
                assert pq.read_table(a / rel).equals(pq.read_table(b / rel)), rel
            else:
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("stage", ["ingest", "train"])
def test_killed_run_resumes_to_identical_results(reference, tmp_path, sig, stage):
    write_tiny_config(tmp_path, events=6000)
    proc = _start_snakemake(tmp_path)
    try:
        _wait_for(f"logs/{stage}/*.log", tmp_path, proc)
        time.sleep(0.3)  # let the job get going
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    _assert_every_output_is_whole(tmp_path)

    if sig == signal.SIGKILL:  # a hard kill leaves Snakemake's lock behind: documented recovery
        unlock = run_snakemake(tmp_path, "--unlock")
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = run_snakemake(tmp_path, "--cores", "1", "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_same_results(reference, tmp_path)
    booster = xgb.Booster(model_file=str(tmp_path / "results" / "train" / "fold0" / "model.json"))
    assert booster.num_boosted_rounds() > 0


def test_hard_kill_leaves_a_readable_lock_message(tmp_path):
    write_tiny_config(tmp_path, events=6000)
    proc = _start_snakemake(tmp_path)
    _wait_for("logs/ingest/*.log", tmp_path, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    again = run_snakemake(tmp_path, "--cores", "1")
    assert again.returncode != 0
    assert "--unlock" in again.stderr  # Snakemake says how to recover; nothing was lost


def test_second_snakemake_in_same_directory_is_refused(reference):
    """Snakemake's lock refuses a concurrent run in the same directory with a readable message."""
    lock_dir = reference / ".snakemake" / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    # A running instance holding the lock: its evaluate job waits (a `hepml` first on its PATH
    # holds `hepml evaluate` until released), so the second run meets the lock however slowly
    # either starts.
    release = reference / "release-evaluate"
    wrapper = reference / "held-bin" / "hepml"
    wrapper.parent.mkdir(exist_ok=True)
    real = shutil.which("hepml", path=snakemake_env()["PATH"])
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = evaluate ]; then while [ ! -e "{release}" ]; do sleep 0.1; '
        f'done; fi\nexec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    env = snakemake_env()
    env["PATH"] = f"{wrapper.parent}{os.pathsep}{env['PATH']}"
    first = _start_snakemake(reference, "--forcerun", "evaluate", env=env)
    try:
        deadline = time.monotonic() + 300
        while not list(lock_dir.glob("*.lock")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(lock_dir.glob("*.lock")), "the first snakemake never took its lock"
        second = run_snakemake(reference, "--cores", "1", "--forcerun", "evaluate")
        assert second.returncode != 0
        # Refused either by the directory lock or, when the first run has already marked its
        # job's outputs as in progress, by Snakemake's incomplete-files check: both stop it.
        refused = ("LockException", "cannot be locked", "IncompleteFilesException")
        assert any(text in second.stderr for text in refused), second.stderr[-2000:]
    finally:
        release.touch()
        first.wait(timeout=600)
    assert first.returncode == 0
