"""Batch clusters: the whole workflow on a real one-node SLURM, and the HTCondor submission.

SLURM: `.ci/slurm.sh start` installs Debian's slurm-wlm and munge and starts slurmctld and
slurmd on this machine (no accounting daemon, no cgroups); `.ci/run` does so before the tests,
and the fixture below does it itself when run alone (and then stops it again). The demo runs
through `workflow/profiles/slurm` and must give the local run's models, byte for byte, and its
tables. Where root, apt or the daemons are missing, the test skips and says why.

HTCondor cannot be installed here: a dry run through `workflow/profiles/htcondor` gives the
resources of every job, and the executor plugin's own submission code turns them into the
submit description that HTCondor would receive.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import types
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT
from review_runs import TRAIN_THREADS, review_config, workflow_run
from workflow_helpers import snakemake_command, snakemake_env, write_tiny_config

from hepml.config import load_config
from hepml.workflow.resources import job_flavour, memory_mb, runtime_minutes

SLURM_SCRIPT = ROOT / ".ci" / "slurm.sh"
PROFILES = ROOT / "workflow" / "profiles"
SLURM_TIMEOUT_S = 1500


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


# ---------------------------------------------------------------------------------- SLURM


def _slurm_up() -> bool:
    return (
        shutil.which("sinfo") is not None
        and _run(["bash", str(SLURM_SCRIPT), "status"]).returncode == 0
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node SLURM cluster: the one .ci/run started, or one started (and stopped)
    here."""
    if not _have("snakemake_executor_plugin_slurm"):
        pytest.skip('the SLURM executor plugin is not installed (pip install -e ".[cluster]")')
    if _slurm_up():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is not running and starting it needs root (.ci/slurm.sh start)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    start = _run(["bash", str(SLURM_SCRIPT), "start"], timeout=900)
    if start.returncode != 0:
        _run(["bash", str(SLURM_SCRIPT), "stop"])
        pytest.skip(f"a one-node SLURM cluster could not be started:\n{start.stderr[-2000:]}")
    try:
        yield
    finally:
        _run(["bash", str(SLURM_SCRIPT), "stop"])


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    review_config(workdir)
    cmd = snakemake_command(
        workdir,
        "--profile", str(PROFILES / "slurm"),
        "--slurm-init-seconds-before-status-checks", "2",  # the test's jobs last seconds
        "--slurm-keep-successful-logs",
    )  # fmt: skip
    try:
        run = _run(cmd, env=snakemake_env(), timeout=SLURM_TIMEOUT_S, cwd=workdir)
    except subprocess.TimeoutExpired as err:
        _run(["scancel", "--user", str(os.geteuid())])
        pytest.fail(f"the SLURM run did not finish in {SLURM_TIMEOUT_S} s: {err.stdout!r}"[-3000:])
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, run.stdout + run.stderr


@pytest.mark.slurm
@pytest.mark.e2e
def test_slurm_run_equals_local_run(slurm_run, tmp_path_factory):
    remote, log = slurm_run
    local = workflow_run(tmp_path_factory, "reference")
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) >= 8, log[-3000:]  # demo, 3 ingest, 3 train, evaluate+plot, ...
    for k in range(3):
        model = Path("results/train") / f"fold{k}" / "model.json"
        assert (remote / model).read_bytes() == (local / model).read_bytes(), model
        scores = model.with_name("scores.parquet")
        assert pq.read_table(remote / scores).equals(pq.read_table(local / scores)), scores
    tables = sorted((local / "results").glob("evaluation/*.csv")) + sorted(
        (local / "results").glob("cutflow/*.csv")
    )
    assert len(tables) >= 6
    for table in tables:
        relative = table.relative_to(local)
        assert (remote / relative).read_bytes() == table.read_bytes(), relative


@pytest.mark.slurm
@pytest.mark.e2e
def test_slurm_jobs_got_the_configured_threads_and_memory(slurm_run):
    remote, log = slurm_run
    train_logs = sorted((remote / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))
    assert len(train_logs) == 3, log[-2000:]
    cfg = load_config(remote / "tiny.yaml")
    for path in train_logs:
        job = _run(["scontrol", "show", "job", path.stem])
        if job.returncode == 0:  # kept by slurmctld for MinJobAge after the end
            assert f"CPUs/Task={TRAIN_THREADS}" in job.stdout, job.stdout
            assert "JobState=COMPLETED" in job.stdout
        text = path.read_text()
        # inside the job, Snakemake ran hepml with the threads it was given (XGBoost's nthread)
        assert f"--threads {TRAIN_THREADS}" in text
        mem = int(re.search(r"mem_mb=(\d+)", text).group(1))
        assert mem >= cfg.resources["train"].mem_mb
    # evaluate and plot were one SLURM job (group "summary"), not two
    assert (remote / ".snakemake" / "slurm_logs" / "group_summary_evaluate_plot").is_dir()
    record = json.loads((remote / "results" / "provenance.json").read_text())
    assert record["training"]["threads"] == TRAIN_THREADS


@pytest.mark.slurm
@pytest.mark.e2e
def test_a_job_no_node_can_run_stops_the_run_naming_rule_and_resource(slurm_cluster, tmp_path):
    """More CPUs than the node has: SLURM would keep the job pending forever (PartitionConfig)
    and Snakemake would wait with it; the run stops before submitting, naming both."""
    path = write_tiny_config(tmp_path, events=6000)
    cfg = yaml.safe_load(path.read_text())
    cfg["resources"] = {"demo": {"threads": 1024}}  # the first job; the schema's maximum
    path.write_text(yaml.safe_dump(cfg))
    cmd = snakemake_command(tmp_path, "--profile", str(PROFILES / "slurm"),
                            "--slurm-init-seconds-before-status-checks", "2")  # fmt: skip
    try:
        run = _run(cmd, env=snakemake_env(), timeout=300, cwd=tmp_path)
    except subprocess.TimeoutExpired as err:
        _run(["scancel", "--user", str(os.geteuid())])
        pytest.fail(f"the run waited for a job no node can run: {err.stdout!r}"[-3000:])
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]
    assert "rule make_demo" in log, log[-3000:]
    assert "asks for 1024 CPUs (threads)" in log and "PartitionConfig" in log, log[-3000:]
    assert "submitted with SLURM jobid" not in log  # refused before anything was queued


# ------------------------------------------------------------------------------- HTCondor

_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")


def _dry_run_jobs(text: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists."""
    jobs, rule = [], None
    for line in text.splitlines():
        if match := _RULE.match(line):
            rule = match.group(1)
        elif rule and line.strip().startswith("resources:"):
            items = line.split("resources:", 1)[1].split(", ")
            jobs.append((rule, dict(item.strip().split("=", 1) for item in items)))
            rule = None
    return jobs


@pytest.fixture(scope="module")
def htcondor_dry_run(tmp_path_factory):
    if not _have("snakemake_executor_plugin_htcondor"):
        pytest.skip('the HTCondor executor plugin is not installed (pip install -e ".[cluster]")')
    workdir = workflow_run(tmp_path_factory, "reference")  # all inputs exist: sizes are known
    cmd = snakemake_command(workdir, "-n", "--forceall", "--profile", str(PROFILES / "htcondor"))
    run = _run(cmd, env={**snakemake_env(), "CONDOR_CONFIG": "/dev/null"}, cwd=workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, _dry_run_jobs(run.stdout + run.stderr)


@pytest.mark.e2e
def test_htcondor_dry_run_translates_memory_and_runtime(htcondor_dry_run):
    workdir, jobs = htcondor_dry_run
    rules = {rule for rule, _ in jobs}
    assert {"make_demo", "ingest", "train", "evaluate", "plot", "provenance"} <= rules
    for rule, res in jobs:
        if rule == "all":
            continue
        assert int(res["htcondor_request_mem_mb"]) == int(res["mem_mb"]), rule
        assert int(res["classad_MaxRuntime"]) == 60 * int(res["runtime"]), rule
        assert res["classad_JobFlavour"] == job_flavour(int(res["runtime"])), rule
    # hepml's stages: the config's numbers scaled by the job's input size (MiB) ...
    cfg = load_config(workdir / "tiny.yaml")
    tables = sorted((workdir / "results" / "ingest").glob("*.parquet"))
    input_mb = sum(p.stat().st_size for p in tables) / 2**20
    train = next(res for rule, res in jobs if rule == "train")
    assert int(train["mem_mb"]) == memory_mb(cfg.resources["train"], input_mb)
    assert int(train["runtime"]) == runtime_minutes(cfg.resources["train"], input_mb)
    assert int(train["mem_mb"]) > cfg.resources["train"].mem_mb  # the input part is there
    demo = next(res for rule, res in jobs if rule == "make_demo")
    assert int(demo["mem_mb"]) == cfg.resources["demo"].mem_mb  # no input: the base


def _quiet(*args, **kwargs) -> None:
    return None


class _Resources(dict):
    def __getattr__(self, name):
        return self[name]


def _submit_description(resources: dict[str, str], threads: int) -> dict:
    """What the HTCondor executor plugin hands to htcondor.Submit for a job with
    ``resources`` (its real run_job, with the schedd replaced by a recorder)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONDOR_CONFIG", os.environ.get("CONDOR_CONFIG", "/dev/null"))  # no pool here
        import snakemake_executor_plugin_htcondor as plugin

    captured = {}

    class Submit(dict):
        def __init__(self, description):
            super().__init__(description)
            captured.update(description)

        def issue_credentials(self):
            return None

    class Schedd:
        def submit(self, description):
            return types.SimpleNamespace(cluster=lambda: 1)

    executor = plugin.Executor.__new__(plugin.Executor)
    executor.workflow = types.SimpleNamespace(
        storage_settings=types.SimpleNamespace(shared_fs_usage={"input-output"})
    )
    executor.jobDir = executor._unified_log_file = "/nonexistent/htcondor"
    executor.logger = types.SimpleNamespace(info=_quiet, debug=_quiet, warning=_quiet)
    executor.envvars = dict
    executor.report_job_submission = lambda info: None
    executor._get_exec_args_and_transfer_files = lambda job, transfer: ("python", "-m", [], [], [])
    job = types.SimpleNamespace(
        name="train", jobid=1, threads=threads, resources=_Resources(_typed(resources))
    )
    fake_htcondor = types.SimpleNamespace(Submit=Submit, Schedd=Schedd)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plugin, "htcondor", fake_htcondor)
        mp.setattr(plugin, "makedirs", lambda *a, **k: None)
        executor.run_job(job)
    return captured


def _typed(resources: dict[str, str]) -> dict:
    """Resource values as Snakemake holds them: numbers as int, the rest as str."""
    return {k: int(v) if v.isdigit() else v for k, v in resources.items()}


@pytest.mark.e2e
def test_htcondor_submit_description(htcondor_dry_run):
    _, jobs = htcondor_dry_run
    train = next(res for rule, res in jobs if rule == "train")
    submit = _submit_description(train, threads=TRAIN_THREADS)
    mem = int(train["mem_mb"])
    expected_memory = f"{mem // 1024}GB" if mem % 1024 == 0 else f"{mem}MB"
    assert submit["request_memory"] == expected_memory
    assert submit["+MaxRuntime"] == 60 * int(train["runtime"])
    assert submit["+JobFlavour"] == f'"{job_flavour(int(train["runtime"]))}"'
    assert submit["request_cpus"] == str(TRAIN_THREADS)
    assert submit["getenv"] is True or submit["getenv"] == "True"
