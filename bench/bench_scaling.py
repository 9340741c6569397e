"""Benchmark: how the cost of one fold model scales with events, features and boosting rounds.

Trains one fold model with :func:`hepml.train.bdt.train_fold` (one XGBoost thread, fixed number
of rounds, no early stopping) on synthetic data sets of N events x F features and prints the
CPU seconds of each, with the cost per (training event x feature x round), the constant that
``docs/benchmarks.md`` ("How wall time scales") uses to predict a whole run. The data set is
that of ``bench_train.py`` (3 processes, signed weights, no missing values).

    python bench/bench_scaling.py --events 125000 250000 500000 --features 10 20 40 --rounds 50
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
log = logging.getLogger("bench_scaling")


def one_fold(events: int, features: int, rounds: int, folds: int) -> dict:
    from bench_train import bench_config, synthetic_dataset

    from hepml.folds import fold_masks
    from hepml.train.bdt import train_fold

    data = synthetic_dataset(events, features, folds, missing=0.0, seed=1)
    cfg = bench_config(data.features, folds, rounds, patience=rounds)  # never stops early
    train_events = int(fold_masks(data, 0, folds)["train"].sum())
    wall, cpu = time.perf_counter(), time.process_time()
    model = train_fold(cfg, data, 0, threads=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    trained = len(model.learning_curve["train"]["logloss"])
    return {
        "events": events,
        "features": features,
        "rounds": trained,
        "train_events": train_events,
        "wall_s": wall,
        "cpu_s": cpu,
        "ns_per_event_feature_round": 1e9 * cpu / (train_events * features * trained),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[125_000, 250_000, 500_000])
    parser.add_argument("--features", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    header = ("events", "features", "rounds", "CPU s", "ns/(event x feature x round)")
    print("{:>9} {:>8} {:>6} {:>7} {:>29}".format(*header))
    for events, features in itertools.product(args.events, args.features):
        row = one_fold(events, features, args.rounds, args.folds)
        rows.append(row)
        print(
            f"{events:>9} {features:>8} {row['rounds']:>6} {row['cpu_s']:>7.2f} "
            f"{row['ns_per_event_feature_round']:>29.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
