"""Benchmark: peak memory and time of the ``hepml evaluate`` job against the number of events.

Writes K synthetic ``scores.parquet`` tables of N events each, as K fold models write them
(every event scored by every model, with its set, signed weight, sample and process: three
processes, a signal whose scores lean towards 1), then runs the real job, ``hepml evaluate``
with the demo config (K = 5, its working points and significance scan), in a fresh process,
and reads the peak resident memory the job logs at exit.

    python bench/bench_evaluate_memory.py --events 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = {"vbf_h": 1, "dy": 0, "ttbar": 0}


def write_tables(directory: Path, events: int, folds: int, seed: int = 1) -> list[Path]:
    """K score tables of ``events`` rows each, in the schema of ``hepml.train.bdt.score_table``."""
    from hepml.train.bdt import write_scores

    rng = np.random.default_rng(seed)
    names = np.array(list(PROCESSES))
    which = rng.choice(len(names), events, p=[0.3, 0.5, 0.2])
    sample = names[which]
    label = np.array(list(PROCESSES.values()), dtype=np.int8)[which]
    fold = rng.integers(0, folds, events).astype(np.int8)
    weight = rng.exponential(1e-3, events) * np.where(rng.random(events) < 0.05, -1, 1)
    base = rng.beta(2 + 3 * label, 5 - 3 * label)
    paths = []
    for k in range(folds):
        role = np.full(events, "train", dtype=object)
        role[fold == k] = "test"
        role[fold == (k + 1) % folds] = "validation"
        score = np.clip(base + rng.normal(0, 0.02, events), 0, 1)
        table = {
            "score": score,
            "label": label,
            "weight": weight,
            "fold": fold,
            "model_fold": np.full(events, k, dtype=np.int8),
            "set": role,
            "sample": sample,
            "process": sample,
            "event": np.arange(events, dtype=np.uint64),
            "file": np.zeros(events, dtype=np.int32),
            "entry": np.arange(events, dtype=np.int64),
        }
        paths.append(write_scores(table, directory / f"fold{k}" / "scores.parquet"))
    return paths


def run_job(arguments: list[str]) -> dict:
    """``hepml ARGUMENTS`` in a fresh process: wall seconds and the peak RSS it logs."""
    command = [sys.executable, "-m", "hepml.cli.app", *arguments]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    peak = re.search(r"peak memory: (\d+) MB", done.stderr + done.stdout)
    return {"wall_s": wall, "peak_rss_mb": int(peak.group(1)) if peak else None}


def run_evaluate(paths: list[Path], out: Path) -> dict:
    """The ``hepml evaluate`` job with the demo config on ``paths``."""
    config = ["--config", str(ROOT / "config" / "config.yaml")]
    return run_job(["evaluate", *config, "--scores", *map(str, paths), "--output-dir", str(out)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--folds", type=int, default=5, help="K (the demo config's)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    rows = []
    for events in args.events:
        with tempfile.TemporaryDirectory(prefix="hepml-bench-evaluate-") as tmp:
            paths = write_tables(Path(tmp), events, args.folds)
            row = {"events": events, "score_rows": events * args.folds}
            row |= run_evaluate(paths, Path(tmp) / "evaluation")
        rows.append(row)
        print(
            f"{events:>10,} events ({row['score_rows']:,} score rows): "
            f"{row['wall_s']:.1f} s, peak RSS {row['peak_rss_mb']} MB"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
