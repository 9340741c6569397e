"""Benchmark: a many-file sample ingested and applied as jobs per group of files, by Snakemake.

``bench/make_large_ntuple.py`` writes N NanoAOD-like events in F files (the ingest benchmark's
files, features and cuts); a small second sample (``other``, 50k events) gives the models their
training data. K = 5 fold models of ``--trees`` trees are trained on it and written where the
workflow keeps them (``results/train``), so that the timed runs are ingest and apply only.
Then, in a fresh work directory per run, on the same files (in the page cache):

* **snakemake --cores C** (each C of ``--cores``), ``reading.files_per_job: --per-job``: the
  ``ingest_part`` jobs and their ``ingest_merge``, then (the models touched newer than the
  tables) the ``apply_part`` jobs and their ``apply_merge``; Snakemake's start-up, the plan and
  every job's process start-up included;
* **bare**: the single-process loops of ``bench/bench_ingest.py`` (``uproot.iterate`` and the
  features by hand, nothing written) and ``bench/bench_apply.py`` (the same plus the fold models'
  predictions, friend trees and a Parquet table), in a fresh process each.

Printed: the wall time of each, the speed-up from 1 to 2 cores and the ratio of the 2-core
Snakemake run to the bare loop (target <= 0.6 for ingest and for apply), and each stage's jobs'
summed wall and CPU from Snakemake's benchmark records (the merge's share included).

    python bench/bench_parts.py --events 10000000 --files 10 --cores 1 2 --json parts.json
    python bench/bench_parts.py --events 200000 --files 10 --trees 20     # a quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
log = logging.getLogger("bench_parts")

from bench_apply import bench_config, train_models  # noqa: E402
from make_large_ntuple import make_ntuples  # noqa: E402


def run_config(directory: Path, other: Path, per_job: int, step_size: str) -> dict:
    """The ingest benchmark's config; ``other`` is the small sample the models train on."""
    config = bench_config(directory, step_size)
    config["samples"]["other"]["files"] = str(other / "bench_0.root")
    config["reading"]["files_per_job"] = per_job
    config["resources"] = {"default": {"threads": 1}}
    return config


def snakemake(work: Path, cores: int, *targets: str) -> float:
    """Wall seconds of ``snakemake --cores`` on ``targets`` in ``work`` (fails loudly)."""
    command = [sys.executable, "-m", "snakemake", *targets, "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(work), "--configfile", str(work / "bench.yaml")]
    command += ["--cores", str(cores), "--rerun-triggers", "params", "input", "code"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    env.pop("PYTHONDONTWRITEBYTECODE")  # as bench_workflow.py: installed code is compiled
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"snakemake failed in {work}:\n{done.stderr[-4000:]}")
    return wall


def job_times(work: Path, stage: str) -> dict:
    """Summed wall and CPU seconds of a stage's jobs (parts and merge), from benchmarks/."""
    totals = {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "merge_wall_s": 0.0}
    for path in sorted((work / "benchmarks" / stage).rglob("*.tsv")):
        with path.open(newline="") as stream:
            row = next(csv.DictReader(stream, delimiter="\t"))
        totals["jobs"] += 1
        totals["wall_s"] += float(row["s"])
        totals["cpu_s"] += float(row["cpu_time"])
        if path.parent.name == stage:  # benchmarks/STAGE/SAMPLE.tsv: the merge
            totals["merge_wall_s"] += float(row["s"])
    return totals


def timed_run(base: Path, cores: int) -> dict:
    """Ingest, then apply, of the sample in a fresh copy of ``base`` on ``cores`` cores."""
    work = base.parent / f"cores{cores}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    ingest = snakemake(work, cores, "results/ingest/bench.parquet")  # as the bare loop: bench
    now = time.time()
    for model in (work / "results" / "train").rglob("*"):
        os.utime(model, (now, now))  # newer than the tables: only apply runs next
    apply = snakemake(work, cores, "results/apply/bench.json")
    return {
        "cores": cores,
        "ingest_wall_s": ingest,
        "apply_wall_s": apply,
        "ingest_jobs": job_times(work, "ingest"),
        "apply_jobs": job_times(work, "apply"),
    }


def bare(script: str, directory: Path, work: Path, step_size: str) -> dict:
    """The bare loop of ``bench/SCRIPT`` in a fresh process (its own ``--child bare``)."""
    command = [sys.executable, str(HERE / script), "--child", "bare", "--directory", str(directory)]
    command += ["--step-size", step_size]
    if script == "bench_apply.py":
        command += ["--work", str(work), "--repeat", "1"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(args: argparse.Namespace, directory: Path, scratch: Path) -> Path:
    """The ntuples, the other sample, the models, and a work directory holding them."""
    if not list(directory.glob("bench_*.root")):
        start = time.perf_counter()
        make_ntuples(directory, args.events, args.files)
        log.info("generated %d events in %.0f s", args.events, time.perf_counter() - start)
    other = scratch / "other"
    make_ntuples(other, 50_000, 1, seed=2)
    base = scratch / "base"
    config = run_config(directory, other, args.per_job, args.step_size)
    (base / "results" / "train").mkdir(parents=True)
    (base / "bench.yaml").write_text(yaml.safe_dump(config))
    models = scratch / "models"
    models.mkdir()
    train_models(other, models, args.trees, args.depth, config=config)
    for fold in models.glob("fold*"):
        shutil.copytree(fold, base / "results" / "train" / fold.name)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--per-job", type=int, default=1, help="reading.files_per_job")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trees", type=int, default=100, help="trees per fold model")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--step-size", default="100 MB")
    parser.add_argument("--directory", help="reuse/keep the ntuples here (default: /tmp)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keep = args.directory is not None
    directory = Path(args.directory or tempfile.mkdtemp(prefix="hepml-bench-", dir="/tmp"))
    scratch = Path(tempfile.mkdtemp(prefix="hepml-bench-parts-", dir="/tmp"))
    try:
        base = prepare(args, directory, scratch)
        runs = [timed_run(base, cores) for cores in args.cores]
        work = scratch / "bare"
        shutil.copytree(scratch / "models", work / "models")
        result = {
            "events": args.events,
            "files": args.files,
            "files_per_job": args.per_job,
            "runs": runs,
            "bare_ingest": bare("bench_ingest.py", directory, work, args.step_size),
            "bare_apply": bare("bench_apply.py", directory, work, args.step_size),
        }
        report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def report(result: dict) -> None:
    print(
        f"{result['events']:,} events in {result['files']} files, "
        f"{result['files_per_job']} file(s) per job"
    )
    bare = {"ingest": result["bare_ingest"]["seconds"], "apply": result["bare_apply"]["seconds"]}
    print(f"  bare loop: ingest {bare['ingest']:.1f} s, apply {bare['apply']:.1f} s")
    walls = {}
    for run in result["runs"]:
        for stage in ("ingest", "apply"):
            wall, jobs = run[f"{stage}_wall_s"], run[f"{stage}_jobs"]
            walls[(stage, run["cores"])] = wall
            print(
                f"  snakemake --cores {run['cores']} {stage}: {wall:.1f} s "
                f"({wall / bare[stage]:.2f} x bare; {jobs['jobs']} jobs, summed wall "
                f"{jobs['wall_s']:.1f} s, CPU {jobs['cpu_s']:.1f} s, "
                f"merge {jobs['merge_wall_s']:.1f} s)"
            )
    for stage in ("ingest", "apply"):
        if (stage, 1) in walls and (stage, 2) in walls:
            print(
                f"  {stage}: speed-up 1 -> 2 cores {walls[(stage, 1)] / walls[(stage, 2)]:.2f}; "
                f"2 cores / bare {walls[(stage, 2)] / bare[stage]:.2f} (target <= 0.6)"
            )


if __name__ == "__main__":
    main()
