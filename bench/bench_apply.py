"""Benchmark: ``hepml apply``'s streaming scorer against a bare ``Booster.inplace_predict``.

The demo ntuples (``hepml.demo``, N events over 3 processes x 3 files) are ingested, and K fold
models with the demo's booster settings are trained on them (a fixed number of trees, no early
stopping, so the model size is known). Then, in the same process, on the same events:

* ``apply``: :func:`hepml.score.score_files` on every sample, as ``hepml apply`` runs it after
  start-up: ``uproot.iterate`` over the ROOT files, features and selection by the expression
  language, fold hash, prediction by the fold's model, friend trees and Parquet written;
* ``bare``: the selected events' feature matrix already in memory (from the ingest tables),
  each fold's rows scored by its model with ``Booster.inplace_predict``, nothing read or
  written: the floor that any scorer of these events pays.

Printed: events/s of each (best of ``--repeat``) and the ratio apply/bare (target <= 1.3).

    python bench/bench_apply.py --events 600000 --trees 450 --threads 1
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
import yaml

from hepml.config import config_from_dict
from hepml.dataset import load_dataset
from hepml.demo import make_demo
from hepml.fold_models import FoldModels, predict
from hepml.ingest import ingest_sample
from hepml.score import ScoreOptions, feature_chunks, plan_files, score_files
from hepml.train import xgboost_params

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench_apply")


def demo_config(directory: Path) -> dict:
    """The shipped demo config, pointed at ``directory``."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.pop("demo")
    for name, sample in cfg["samples"].items():
        sample["files"] = str(directory / f"{name}_*.root")
    return cfg


def train_models(cfg, data, trees: int, threads: int) -> FoldModels:
    """K fold models (model k never sees fold k), a fixed number of trees each."""
    boosters = []
    for k in range(cfg.folds):
        rows = np.flatnonzero(data.fold != k)[:200_000]
        dtrain = xgb.DMatrix(
            data.X[rows], label=data.label[rows], feature_names=data.features, nthread=threads
        )
        params = xgboost_params(cfg, k, threads)
        params.pop("eval_metric")
        boosters.append(xgb.train(params, dtrain, num_boost_round=trees))
    return FoldModels(tuple(boosters), tuple(data.features), cfg.training_hash(), ())


def run_apply(cfg, models: FoldModels, out: Path) -> int:
    """Score every sample as hepml apply does (friend trees + Parquet); the events scored."""
    selected = 0
    for name in cfg.samples:
        files, plan = plan_files(cfg, cfg.samples[name])
        options = ScoreOptions(step_size=cfg.step_size)
        friends = out / name
        friends.mkdir(parents=True, exist_ok=True)
        records = score_files(
            cfg, files, plan, models, options, friend_dir=friends, parquet=out / f"{name}.pq"
        )
        selected += sum(r["selected"] for r in records)
    return selected


def run_features(cfg, models: FoldModels) -> None:
    """Reading and computing features, selection and folds only (no scoring, no output)."""
    for name in cfg.samples:
        files, plan = plan_files(cfg, cfg.samples[name])
        for _ in feature_chunks(cfg, plan, files, models.features, cfg.step_size):
            pass


def run_bare(models: FoldModels, parts: list[np.ndarray]) -> None:
    """Each fold's rows predicted by its model, arrays already in memory: the floor."""
    for booster, part in zip(models.boosters, parts, strict=True):
        booster.inplace_predict(part, validate_features=False)


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of ``fn(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000, help="demo events in total")
    parser.add_argument("--trees", type=int, default=450, help="trees per fold model")
    parser.add_argument("--threads", type=int, default=1, help="XGBoost threads, both sides")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("hepml").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hepml-bench-apply-") as tmp:
        tmp = Path(tmp)
        make_demo(tmp / "demo", n_events=args.events, files_per_process=3, seed=1)
        cfg = config_from_dict(demo_config(tmp / "demo"))
        tables = {name: tmp / f"{name}.parquet" for name in cfg.samples}
        for name, path in tables.items():
            ingest_sample(cfg, name, path)
        data = load_dataset(tables, cfg.feature_names)
        log.info("%d events, %d selected; training %d x %d trees", args.events, len(data),
                 cfg.folds, args.trees)  # fmt: skip
        models = train_models(cfg, data, args.trees, args.threads)
        for booster in models.boosters:
            booster.set_param({"nthread": args.threads})
        parts = [np.ascontiguousarray(data.X[data.fold == k]) for k in range(cfg.folds)]
        assert run_apply(cfg, models, tmp / "check") == len(data)
        runs = {
            "apply": lambda i: run_apply(cfg, models, tmp / f"out{i}"),
            "read_and_features": lambda i: run_features(cfg, models),
            "hepml_predict": lambda i: predict(models, data.X, data.fold, "fold"),
            "bare_inplace_predict": lambda i: run_bare(models, parts),
        }
        times = {name: [timed(run, i) for i in range(args.repeat)] for name, run in runs.items()}
    best = {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in times.items()}
    n = len(data)
    bare_wall, bare_cpu = best["bare_inplace_predict"]
    result = {
        "events_read": args.events,
        "events_scored": n,
        "folds": cfg.folds,
        "trees_per_model": args.trees,
        "max_depth": cfg.xgboost.get("max_depth"),
        "threads": args.threads,
        **{f"{name}_wall_s": w for name, (w, _) in best.items()},
        **{f"{name}_cpu_s": c for name, (_, c) in best.items()},
        "ratio_wall": best["apply"][0] / bare_wall,
        "ratio_cpu": best["apply"][1] / bare_cpu,
        "predict_ratio_wall": best["hepml_predict"][0] / bare_wall,
    }
    for name, (wall, cpu) in best.items():
        log.info(
            "%-22s %6.2f s wall (%8.0f scored events/s, ratio to bare %.2f)   %6.2f s CPU "
            "(ratio %.2f)",
            name,
            wall,
            n / wall,
            wall / bare_wall,
            cpu,
            cpu / bare_cpu,
        )
    log.info("target: apply within 1.3x of bare inplace_predict")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
