"""Benchmark: peak memory and time of the ``hepml evaluate`` job against the number of events.

Writes K synthetic ``scores.parquet`` tables of N events each, as K fold models write them
(every event scored by every model, with its set, signed weight, sample and process: three
processes, a signal whose scores lean towards 1), in blocks of a million events so that any N
fits in memory (the columns the evaluation reads; no event/file/entry columns, to save disk:
about 17 bytes per row, 8.5 GB at N = 100M and K = 5). Then runs the real job, ``hepml
evaluate`` with the demo config (K = 5, its working points and significance scan), in a fresh
process, on the exact path and on the streaming one (``evaluation.streaming_above: null`` or
``0``), and reads the peak resident memory the job logs at exit and the AUC it wrote.

    python bench/bench_evaluate_memory.py --events 1000000 10000000            # both paths
    python bench/bench_evaluate_memory.py --events 100000000 --paths streaming  # 100M: ~9 GB disk
"""

from __future__ import annotations

import argparse
import csv
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
BLOCK = 1_000_000  # events generated and written at a time
PATHS = {"exact": None, "streaming": 0}  # evaluation.streaming_above of each


def _block(rng: np.random.Generator, n: int, folds: int) -> dict[str, np.ndarray]:
    """The events' own columns (process, label, fold, weight, base score) for ``n`` events."""
    which = rng.choice(len(PROCESSES), n, p=[0.3, 0.5, 0.2])
    label = np.array(list(PROCESSES.values()), dtype=np.int8)[which]
    fold = rng.integers(0, folds, n).astype(np.int8)
    weight = rng.exponential(1e-3, n) * np.where(rng.random(n) < 0.05, -1, 1)
    base = rng.beta(2 + 3 * label, 5 - 3 * label)
    return {"which": which, "label": label, "fold": fold, "weight": weight, "base": base}


def write_tables(directory: Path, events: int, folds: int, seed: int = 1) -> list[Path]:
    """K score tables of ``events`` rows each, in the schema of ``hepml.train.bdt.score_table``
    (less the event, file and entry columns), written a block of events at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = pa.array(list(PROCESSES))
    sets = pa.array(["train", "validation", "test"])
    paths = [directory / f"fold{k}" / "scores.parquet" for k in range(folds)]
    writers = []
    try:
        for block_start in range(0, events, BLOCK):
            n = min(BLOCK, events - block_start)
            events_rng = np.random.default_rng([seed, block_start])
            e = _block(events_rng, n, folds)
            process = pa.DictionaryArray.from_arrays(pa.array(e["which"], pa.int32()), names)
            for k in range(folds):
                role = np.zeros(n, dtype=np.int32)  # train
                role[e["fold"] == (k + 1) % folds] = 1
                role[e["fold"] == k] = 2
                noise = np.random.default_rng([seed, block_start, k]).normal(0, 0.02, n)
                table = pa.table({
                    "score": np.clip(e["base"] + noise, 0, 1),
                    "label": e["label"],
                    "weight": e["weight"],
                    "fold": e["fold"],
                    "model_fold": np.full(n, k, dtype=np.int8),
                    "set": pa.DictionaryArray.from_arrays(pa.array(role), sets),
                    "sample": process,
                    "process": process,
                })  # fmt: skip
                if len(writers) <= k:
                    paths[k].parent.mkdir(parents=True, exist_ok=True)
                    writers.append(pq.ParquetWriter(paths[k], table.schema, compression="zstd"))
                writers[k].write_table(table)
    finally:
        for writer in writers:
            writer.close()
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


def run_evaluate(paths: list[Path], out: Path, streaming_above: int | None) -> dict:
    """The ``hepml evaluate`` job with the demo config on ``paths``; its AUC."""
    override = out.with_suffix(".yaml")
    override.write_text(json.dumps({"evaluation": {"streaming_above": streaming_above}}))
    config = ["--config", str(ROOT / "config" / "config.yaml"), "--config", str(override)]
    result = run_job(["evaluate", *config, "--scores", *map(str, paths), "--output-dir", str(out)])
    with (out / "metrics.csv").open(newline="") as stream:
        row = next(csv.DictReader(stream))
    curves = json.loads((out / "curves.json").read_text())["classifiers"]["xgboost"]
    return result | {"auc": float(row["auc"]), "streaming": curves.get("streaming")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--folds", type=int, default=5, help="K (the demo config's)")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--directory", help="write the tables here (default: /tmp)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    rows = []
    for events in args.events:
        with tempfile.TemporaryDirectory(prefix="hepml-bench-evaluate-", dir=args.directory) as tmp:
            start = time.perf_counter()
            paths = write_tables(Path(tmp), events, args.folds)
            row = {"events": events, "score_rows": events * args.folds}
            row["written_s"] = time.perf_counter() - start
            row["disk_gb"] = sum(p.stat().st_size for p in paths) / 1e9
            for name in args.paths:
                row[name] = run_evaluate(paths, Path(tmp) / name, PATHS[name])
        if "exact" in row and "streaming" in row:
            row["auc_difference"] = abs(row["streaming"]["auc"] - row["exact"]["auc"])
        rows.append(row)
        for name in args.paths:
            r = row[name]
            print(
                f"{events:>11,} events ({row['score_rows']:,} rows, {row['disk_gb']:.1f} GB) "
                f"{name:>9}: {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']} MB, "
                f"AUC {r['auc']:.7f}"
            )
        if "auc_difference" in row:
            print(f"{'':>11} |AUC streaming - AUC exact| = {row['auc_difference']:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
