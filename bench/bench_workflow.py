"""Benchmark: the whole hepml workflow on the demo against the sum of the bare steps.

One command, two contenders on the same ROOT files, one after the other:

* ``hepml``: ``snakemake --cores N`` (default 1) of the whole DAG after the demo files are
  written (``make_demo`` runs first and is not counted): Snakemake's start-up and DAG, every
  job's process start-up, the expression language and checks, ingest, K-fold training,
  evaluation, input variables, feature ranking, every plot, apply, export and provenance.
  Per stage, the jobs' wall and CPU seconds come from the ``benchmark:`` TSV files Snakemake
  writes (``benchmarks/``), the peak RSS of each job from the line ``hepml`` logs at exit;
* ``bare``: ``bench/bare_workflow.py``, the same analysis as an analyst would write it with
  the bare tools, one Python process per step (ingest, train, evaluate, plots, apply,
  export), their walls (process start-up included) summed. Its docstring says what "the same
  work" is, and what the workflow does on top (counted against hepml).

The bench config is the demo config (``config/config.yaml``) with ``demo.events`` =
``--events`` and the baselines switched off (``training.baselines: []``; tuning is off in the
demo), so that neither side trains other classifiers. XGBoost uses ``--cores`` threads on
both sides. Both sides must select the same events in every sample.

Printed, and written as JSON (``--json``): the wall of each side and their ratio (target <=
1.5), the summed CPU, and per stage the seconds and the peak RSS (MB) of each side (for
hepml, the largest of its jobs), the figure count of each, and how much of hepml's wall is
Snakemake outside the jobs. ``--parallel-cores M`` also times hepml with M cores (from
scratch, the demo files kept).

    python bench/bench_workflow.py --events 1000000 --json bench_workflow.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
log = logging.getLogger("bench_workflow")

# hepml rules of each stage of the comparison (provenance has no bare counterpart)
STAGES = {
    "ingest": ["ingest"],
    "train": ["train"],
    "evaluate": ["evaluate", "inputs", "importance"],
    "plots": ["plot", "plot_inputs", "plot_training"],
    "apply": ["apply"],
    "export": ["export"],
    "provenance": ["provenance"],
}
BARE_STEPS = ["ingest", "train", "evaluate", "plots", "apply", "export"]
PEAK_LINE = re.compile(r"peak memory: (\d+) MB resident")


def write_config(workdir: Path, events: int) -> Path:
    """The demo config, ``events`` events, without baselines; returns its path."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["demo"]["events"] = events
    cfg["training"]["baselines"] = []
    cfg["training"]["tune"]["enabled"] = False
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def environment() -> dict[str, str]:
    """Headless matplotlib, and this Python's ``hepml`` first on the PATH of the jobs.

    Without PYTHONDONTWRITEBYTECODE: an installed hepml has its bytecode compiled once (at
    install, or at the first import of an editable install), not in every job.
    """
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def timed(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``command``; return it, its wall seconds and the CPU seconds of all its processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment(), **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        sys.exit(f"{' '.join(command[:4])} ... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done, wall, cpu


def snakemake(workdir: Path, config: Path, cores: int, *targets: str):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(config), "--cores", str(cores)]
    return timed([*command, *targets])


def job_records(workdir: Path) -> list[dict]:
    """One record per job: rule, wall and CPU seconds (benchmark TSV), peak RSS (its log)."""
    records = []
    for tsv in sorted((workdir / "benchmarks").rglob("*.tsv")):
        relative = tsv.relative_to(workdir / "benchmarks").with_suffix("")
        with tsv.open(newline="") as stream:
            row = list(csv.DictReader(stream, delimiter="\t"))[-1]
        logfile = workdir / "logs" / relative.with_suffix(".log")
        peaks = PEAK_LINE.findall(logfile.read_text()) if logfile.is_file() else []
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.name
        records.append(
            {
                "job": str(relative),
                "rule": rule,
                "seconds": float(row["s"]),
                "cpu_seconds": float(row["cpu_time"]) if row["cpu_time"] != "NA" else None,
                # the sampled RSS of the job's processes when the job logged no peak
                "peak_rss_mb": float(peaks[-1]) if peaks else _float(row["max_rss"]),
            }
        )
    return records


def _float(value: str) -> float | None:
    return None if value in ("NA", "-", "") else float(value)


def hepml_stages(records: list[dict]) -> dict[str, dict]:
    stages = {}
    for stage, rules in STAGES.items():
        jobs = [r for r in records if r["rule"] in rules]
        peaks = [r["peak_rss_mb"] for r in jobs if r["peak_rss_mb"] is not None]
        stages[stage] = {
            "jobs": len(jobs),
            "seconds": sum(r["seconds"] for r in jobs),
            "cpu_seconds": sum(r["cpu_seconds"] or 0.0 for r in jobs),
            "peak_rss_mb": max(peaks) if peaks else None,
        }
    return stages


def run_hepml(workdir: Path, config: Path, cores: int) -> dict:
    """The whole DAG after make_demo, from scratch; its wall, CPU and per-stage figures."""
    for name in ("results", "logs", "benchmarks"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    _, wall, cpu = snakemake(workdir, config, cores)
    records = [r for r in job_records(workdir) if r["rule"] != "make_demo"]
    selected = {
        p.name.removesuffix(".summary.json"): json.loads(p.read_text())["selected"]
        for p in (workdir / "results" / "ingest").glob("*.summary.json")
    }
    metrics = (workdir / "results" / "evaluation" / "metrics.csv").read_text().splitlines()
    return {
        "cores": cores,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "jobs": len(records),
        "job_seconds": sum(r["seconds"] for r in records),
        "stages": hepml_stages(records),
        "job_records": records,
        "figures": len(list((workdir / "results" / "plots").rglob("*.pdf"))),
        "selected": selected,
        "auc": float(dict(zip(*csv.reader(metrics[:2]), strict=True))["auc"]),
    }


def run_bare(workdir: Path, config: Path, threads: int) -> dict:
    """Each bare step in its own Python process; walls include interpreter start and imports."""
    output = workdir / "bare"
    shutil.rmtree(output, ignore_errors=True)
    stages, total_wall, total_cpu = {}, 0.0, 0.0
    for step in BARE_STEPS:
        command = [sys.executable, str(HERE / "bare_workflow.py"), step, "--config", str(config)]
        command += ["--workdir", str(workdir), "--output", str(output), "--threads", str(threads)]
        done, wall, cpu = timed(command)
        child = json.loads(done.stdout.strip().splitlines()[-1])
        child["work_seconds"] = child.pop("seconds")  # after its imports
        stages[step] = {**child, "seconds": wall, "cpu_seconds": cpu}
        total_wall += wall
        total_cpu += cpu
        log.info("bare %s: %.1f s", step, wall)
    return {
        "wall_seconds": total_wall,
        "cpu_seconds": total_cpu,
        "stages": stages,
        "figures": stages["plots"]["figures"],
        "selected": stages["ingest"]["selected"],
        "auc": stages["evaluate"]["auc"],
    }


def report(result: dict) -> None:
    hepml, bare = result["hepml"], result["bare"]
    print(
        f"events: {result['events']:,}  cores: {hepml['cores']}  "
        f"jobs: {hepml['jobs']}  figures: hepml {hepml['figures']}, bare {bare['figures']}"
    )
    print(f"{'stage':<11} {'hepml s':>8} {'bare s':>8} {'ratio':>6} {'hepml MB':>9} {'bare MB':>8}")
    for stage, h in hepml["stages"].items():
        b = bare["stages"].get(stage, {})
        ratio = f"{h['seconds'] / b['seconds']:6.2f}" if b else "     -"
        peak = f"{h['peak_rss_mb']:9.0f}" if h["peak_rss_mb"] is not None else "        -"
        bare_s = f"{b['seconds']:8.1f}" if b else "       -"
        bare_mb = f"{b['peak_rss_mb']:8.0f}" if b else "       -"
        print(f"{stage:<11} {h['seconds']:8.1f} {bare_s} {ratio} {peak} {bare_mb}")
    outside = hepml["wall_seconds"] - hepml["job_seconds"]
    print(f"Snakemake outside the jobs: {outside:.1f} s (start-up, DAG, scheduling)")
    print(
        f"total: hepml {hepml['wall_seconds']:.1f} s wall ({hepml['cpu_seconds']:.1f} s CPU), "
        f"bare {bare['wall_seconds']:.1f} s wall ({bare['cpu_seconds']:.1f} s CPU)"
    )
    print(
        f"ratio hepml/bare: {result['ratio_wall']:.2f} wall, {result['ratio_cpu']:.2f} CPU "
        f"(target <= 1.5)   AUC: hepml {hepml['auc']:.4f}, bare {bare['auc']:.4f}"
    )
    if "parallel" in result:
        p = result["parallel"]
        print(f"hepml with {p['cores']} cores: {p['wall_seconds']:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="demo.events")
    parser.add_argument("--cores", type=int, default=1, help="snakemake --cores; XGBoost threads")
    parser.add_argument("--parallel-cores", type=int, default=0, help="also time hepml with M")
    parser.add_argument("--workdir", help="keep everything here (default: a /tmp folder, deleted)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    keep = args.workdir is not None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="hepml-bench-workflow-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        config = write_config(workdir, args.events)
        _, demo_wall, _ = snakemake(
            workdir, config, max(args.cores, args.parallel_cores), "make_demo"
        )
        log.info("demo ntuples written in %.0f s (not counted)", demo_wall)
        hepml = run_hepml(workdir, config, args.cores)
        log.info("hepml: %.1f s", hepml["wall_seconds"])
        bare = run_bare(workdir, config, args.cores)
        result = {
            "events": args.events,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "load_average": os.getloadavg(),
            "hepml": hepml,
            "bare": bare,
            "ratio_wall": hepml["wall_seconds"] / bare["wall_seconds"],
            "ratio_cpu": hepml["cpu_seconds"] / bare["cpu_seconds"],
            "same_selection": hepml["selected"] == bare["selected"],
        }
        if args.parallel_cores:
            parallel = run_hepml(workdir, config, args.parallel_cores)
            result["parallel"] = {k: parallel[k] for k in ("cores", "wall_seconds", "cpu_seconds")}
        report(result)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        if not result["same_selection"]:
            sys.exit(f"selected events differ: hepml {hepml['selected']}, bare {bare['selected']}")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
