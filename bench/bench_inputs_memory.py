"""Benchmark: peak memory and time of the ``inputs``, ``importance`` and ``data-mc`` jobs vs N.

Writes synthetic ingest tables (the Parquet schema ingest writes: the demo config's 13
features as float32 with 5 % NaN, signed weights, label, fold and event bookkeeping) for a
signal and two background samples, N selected events in all, then runs the real jobs with
the demo config, each in a fresh process, and reads the peak resident memory each logs at
exit: ``hepml inputs`` (per-feature histograms with flow and NaN counts, the weighted
correlation matrices of signal and background), ``hepml importance`` (gain and mean |SHAP|
of K = 5 small fold models, trained here on 2000 events, on ``shap_events`` test events per
fold) and ``hepml data-mc`` (every event scored by its fold model, data against MC per
feature and for the score, blinded), with a data sample of N / 2 more events.

    python bench/bench_inputs_memory.py --events 1000000 10000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bench_evaluate_memory import ROOT, run_job

SAMPLES = {"vbf_h": (1, 0.3), "dy": (0, 0.5), "ttbar": (0, 0.2)}  # label, share of events
DATA = {"data": (0, 0.5)}


def write_tables(
    directory: Path, events: int, features: list[str], seed: int = 1, samples=SAMPLES
) -> list[str]:
    """One ingest table per sample; returns the ``SAMPLE=PATH`` arguments of the job."""
    rng = np.random.default_rng(seed)
    specs = []
    for name, (label, share) in samples.items():
        n = int(events * share)
        columns = {}
        for i, feature in enumerate(features):
            values = rng.normal(50 + 10 * label + i, 20, n).astype(np.float32)
            if i % 4 == 3:  # a count-like, integer-valued feature
                values = np.round(np.abs(values) / 10).astype(np.float32)
            values[rng.random(n) < 0.05] = np.nan
            columns[feature] = values
        columns["_weight"] = rng.exponential(1e-3, n) * np.where(rng.random(n) < 0.05, -1, 1)
        columns["_label"] = np.full(n, label, dtype=np.int8)
        columns["_fold"] = rng.integers(0, 5, n).astype(np.int8)
        columns["_event"] = np.arange(n, dtype=np.uint64)
        columns["_file"] = np.zeros(n, dtype=np.int32)
        columns["_entry"] = np.arange(n, dtype=np.int64)
        path = directory / f"{name}.parquet"
        pq.write_table(pa.table(columns), path, compression="zstd")
        specs.append(f"{name}={path}")
    return specs


def write_models(directory: Path, features: list[str], folds: int = 5) -> list[str]:
    """K small XGBoost models over ``features`` (the importance job explains them)."""
    import xgboost as xgb

    rng = np.random.default_rng(2)
    paths = []
    for k in range(folds):
        X = rng.normal(size=(2000, len(features))).astype(np.float32)
        y = (X[:, 0] + X[:, 1] + rng.normal(size=2000) > 0).astype(np.float32)
        dtrain = xgb.DMatrix(X, label=y, feature_names=features)
        booster = xgb.train({"max_depth": 4, "seed": k, "nthread": 1}, dtrain, 50)
        fold = directory / f"fold{k}"
        fold.mkdir()
        booster.save_model(fold / "model.json")
        metadata = {"model_fold": k, "features": features}
        (fold / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        paths.append(str(fold / "model.json"))
    return paths


def main() -> None:
    from hepml.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    config = str(ROOT / "config" / "config.yaml")
    features = load_config(config).feature_names
    rows = []
    with tempfile.TemporaryDirectory(prefix="hepml-bench-models-") as models_dir:
        models = write_models(Path(models_dir), features)
        for events in args.events:
            with tempfile.TemporaryDirectory(prefix="hepml-bench-inputs-") as tmp:
                specs = write_tables(Path(tmp), events, features)
                data = write_tables(Path(tmp), events, features, seed=2, samples=DATA)
                common = ["--config", config, "--tables", *specs]
                jobs = {
                    "inputs": [],
                    "importance": ["--models", *models],
                    "data-mc": ["--models", *models, "--data", *data],
                }
                for job, extra in jobs.items():
                    row = {"job": job, "events": events, "features": len(features)}
                    row |= run_job([job, *common, *extra, "--output-dir", str(Path(tmp) / job)])
                    rows.append(row)
                    print(f"{job:<10} {events:>10,} events x {len(features)} features: "
                          f"{row['wall_s']:.1f} s, peak RSS {row['peak_rss_mb']} MB")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
