"""Benchmark: the overhead per job of a batch cluster, on the one-node SLURM of ``.ci/slurm.sh``.

A sample of F small files (``bench/make_large_ntuple.py``, N events in all) is ingested as F
jobs of one file (``reading.files_per_job: 1``) plus their merge, twice, each in a fresh work
directory: with ``snakemake --cores C`` on this machine, and through ``workflow/profiles/slurm``
on the one-node SLURM cluster (as many job slots as the node has CPUs, every job queued at once
and started by slurmd). Jobs are kept short on purpose: the difference is the cluster's cost.

Printed, from the SLURM run: each job's time in the queue (submit to start), its run time as
SLURM saw it (start to end), the hepml command's own wall inside it (Snakemake's benchmark
record), and per job the **overhead** = SLURM run time - hepml's wall (the job step, Snakemake
started again inside the job); plus the runs' walls and the extra wall per job slot:
``(wall SLURM - wall local) x slots / jobs``, which also holds Snakemake's polling of ``squeue``.
docs/benchmarks.md projects a 1,000-file sample onto more nodes from these.

Needs root for SLURM (``.ci/slurm.sh start``, which it runs when no cluster answers, and stops
again afterwards) and the executor plugin (``pip install -e ".[cluster]"``).

    python bench/bench_cluster.py --files 20 --events 400000 --json cluster.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from statistics import mean, median

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
log = logging.getLogger("bench_cluster")

from bench_parts import job_times, run_config  # noqa: E402
from make_large_ntuple import make_ntuples  # noqa: E402

SLURM = ROOT / ".ci" / "slurm.sh"
TARGETS = ("results/ingest/bench.parquet", "results/ingest/other.parquet")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)


def snakemake(work: Path, *options: str) -> tuple[float, str]:
    """Wall seconds and log of ``snakemake OPTIONS`` on the ingest targets in ``work``."""
    command = [sys.executable, "-m", "snakemake", *TARGETS, "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(work), "--configfile", str(work / "bench.yaml"), *options]
    start = time.perf_counter()
    done = _run(command)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"snakemake failed in {work}:\n{done.stderr[-4000:]}")
    return wall, done.stdout + done.stderr


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def slurm_jobs(log_text: str) -> list[dict]:
    """Submit, start and end of every job the run submitted (``scontrol``, kept MinJobAge)."""
    jobs = []
    for job_id in re.findall(r"submitted with SLURM jobid (\d+)", log_text):
        shown = _run(["scontrol", "show", "job", job_id]).stdout
        fields = dict(re.findall(r"(\w+)=(\S+)", shown))
        if not {"SubmitTime", "StartTime", "EndTime"} <= fields.keys():
            continue
        submit, start, end = (_time(fields[k]) for k in ("SubmitTime", "StartTime", "EndTime"))
        jobs.append({
            "id": job_id,
            "name": fields.get("JobName", ""),
            "queued_s": (start - submit).total_seconds(),
            "run_s": (end - start).total_seconds(),
        })  # fmt: skip
    return jobs


def prepare(args: argparse.Namespace, scratch: Path) -> Path:
    data, other = scratch / "data", scratch / "other"
    make_ntuples(data, args.events, args.files)
    make_ntuples(other, 20_000, 1, seed=2)
    base = scratch / "base"
    base.mkdir()
    config = run_config(data, other, 1, "100 MB")
    # the one-node cluster has os.cpu_count() CPUs: training's default of 4 threads would be
    # refused (hepml slurm-limits) although only ingest runs here
    config.setdefault("resources", {})["train"] = {"threads": min(4, os.cpu_count() or 1)}
    (base / "bench.yaml").write_text(yaml.safe_dump(config))
    return base


def fresh(base: Path, name: str) -> Path:
    work = base.parent / name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--events", type=int, default=400_000, help="in all, over the files")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="the local run's")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = False
    if _run(["bash", str(SLURM), "status"]).returncode != 0:
        start = _run(["bash", str(SLURM), "start"], timeout=900)
        if start.returncode != 0:
            sys.exit(f"no SLURM cluster: .ci/slurm.sh start failed:\n{start.stderr[-2000:]}")
        started = True
    scratch = Path(tempfile.mkdtemp(prefix="hepml-bench-cluster-", dir="/tmp"))
    try:
        base = prepare(args, scratch)
        local = fresh(base, "local")
        local_wall, _ = snakemake(local, "--cores", str(args.cores))
        remote = fresh(base, "slurm")
        slurm_wall, text = snakemake(
            remote, "--profile", str(ROOT / "workflow" / "profiles" / "slurm"),
            "--slurm-init-seconds-before-status-checks", "2",
        )  # fmt: skip
        result = summarise(args, local, remote, local_wall, slurm_wall, slurm_jobs(text))
        print(json.dumps(result["summary"], indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if started:
            _run(["bash", str(SLURM), "stop"])


def summarise(args, local: Path, remote: Path, local_wall: float, slurm_wall: float, jobs):
    """The per-job figures: queue, run, hepml's own wall, overhead; and the walls."""
    slots = int(_run(["nproc"]).stdout.strip() or 1)
    inside = job_times(remote, "ingest")
    own = inside["wall_s"] / max(inside["jobs"], 1)
    run = [j["run_s"] for j in jobs]
    summary = {
        "files": args.files,
        "events": args.events,
        "jobs": inside["jobs"],
        "slots": slots,
        "wall_local_s": local_wall,
        "wall_slurm_s": slurm_wall,
        "extra_wall_per_job_slot_s": (slurm_wall - local_wall) * slots / max(inside["jobs"], 1),
        "hepml_wall_per_job_s": own,
        "slurm_run_per_job_s": {"mean": mean(run), "median": median(run)} if run else None,
        "overhead_per_job_s": mean(run) - own if run else None,
        "queued_per_job_s": median(j["queued_s"] for j in jobs) if jobs else None,
    }
    return {"summary": summary, "jobs": jobs, "local_jobs": job_times(local, "ingest")}


if __name__ == "__main__":
    main()
