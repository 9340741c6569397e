"""What the hyperparameter search finds: its validation-fold gain and the out-of-fold AUC.

Runs the whole search of ``training.tune`` in one process, as the workflow's jobs would (every
trial of every fold model, TPE batches learning from the earlier ones), on ingest tables given
as SAMPLE=PATH with the config that wrote them, then trains every fold model with the
chosen parameters and with the config's own, and prints per fold model the chosen trial, the
validation gain over the defaults (log-loss, AUC) and the out-of-fold AUC of both (signed
physics weights, hepml's metric; sklearn's with |w| beside it).

    python bench/bench_tune.py --config config/config.yaml --trials 20 \\
        --tables vbf_h=results/ingest/vbf_h.parquet dy=results/ingest/dy.parquet \\
                 ttbar=results/ingest/ttbar.parquet
    python bench/bench_tune.py --hard-sample --trials 20   # the CMS HEP tutorial files
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import roc_auc_score

from hepml.config import config_from_dict
from hepml.ingest.sample import ingest_sample
from hepml.tables.features import load_dataset
from hepml.train.bdt import train_fold
from hepml.train.tune import history_needed, n_trials, run_trial, select


def search(cfg, data, threads: int) -> tuple[dict, list[dict]]:
    """Every trial of every fold model, then the choice."""
    trials = []
    for k in range(cfg.training.folds):
        for i in range(n_trials(cfg.training.tune)):
            needed = set(history_needed(cfg.training.tune, i))
            history = [t for t in trials if t["fold"] == k and t["trial"] in needed]
            trials.append(run_trial(cfg, data, k, i, history=history, threads=threads))
    return select(cfg, trials), trials


def out_of_fold(cfg, data, chosen: dict | None, threads: int) -> dict:
    """Out-of-fold AUC of the fold models with ``chosen[k]["params"]`` (None: untuned)."""
    score = np.full(len(data), np.nan)
    for k in range(cfg.training.folds):
        params = chosen[str(k)]["params"] if chosen else None
        model = train_fold(cfg, data, k, threads=threads, params=params)
        test = model.scores["set"] == "test"
        score[test] = model.scores["score"][test]
    from hepml.evaluate.metrics import roc_auc

    return {
        "auc": roc_auc(score, data.label, data.weight),
        "auc_sklearn_abs_weights": float(
            roc_auc_score(data.label, score, sample_weight=np.abs(data.weight))
        ),
    }


def _hard_sample(tmp: Path) -> tuple[dict, dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_hard_sample import worked_example
    from notebook_hard_sample import DATA

    raw = worked_example(DATA)
    cfg = config_from_dict(raw)
    tables = {name: tmp / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    return raw, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--tables", nargs="+", help="SAMPLE=PATH ingest tables of --config")
    parser.add_argument("--hard-sample", action="store_true", help="the README's worked example")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--method", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        if args.hard_sample:
            raw, tables = _hard_sample(Path(tmp))
        else:
            raw = yaml.safe_load(args.config.read_text())
            raw.pop("demo", None)
            tables = dict(spec.split("=", 1) for spec in args.tables)
        raw["training"]["tune"] = {"enabled": True, "trials": args.trials, "method": args.method}
        raw["training"]["baselines"] = []
        cfg = config_from_dict(raw)
        processes = {n: s.process for n, s in cfg.samples.items()}
        data = load_dataset(tables, cfg.feature_names, processes)
    t0 = time.process_time()
    chosen, trials = search(cfg, data, args.threads)
    search_cpu = time.process_time() - t0
    result = {
        "method": chosen["method"],
        "trials_per_fold": chosen["trials_per_fold"],
        "search_cpu_s": search_cpu,
        "mean_gain": chosen["mean_gain"],
        "mean_auc_gain": chosen["mean_auc_gain"],
        "folds": chosen["folds"],
        "untuned": out_of_fold(cfg, data, None, args.threads),
        "tuned": out_of_fold(cfg, data, chosen["folds"], args.threads),
    }
    print(json.dumps(result, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps({**result, "trials": trials}, indent=1) + "\n")


if __name__ == "__main__":
    main()
