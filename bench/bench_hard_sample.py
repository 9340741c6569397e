"""hepml's training on a hard real sample against a careful notebook (notebook_hard_sample.py).

The README's worked example (CMS HEP tutorial: single top against WW, WZ, ZZ and QCD, whose
142 events carry weights up to 5.5e4 against less than 0.1 for every other event) is ingested
once by hepml, then trained by :func:`hepml.train.bdt.train_fold` for K = 4 fold models, for
several seeds (each seed gives other folds and other XGBoost seeds; the folds of a seed are
recomputed from (file, entry) exactly as ingest computes them). The notebook trains on the
same events, split into the same folds, with the classes balanced once over all events.

Printed per seed and side: the out-of-fold AUC (signed physics weights, sklearn) and the
best iteration of each fold model; then the mean AUC, the mean of the per-seed spreads of the
best iterations (max - min over the fold models) and the hepml - notebook AUC difference.
``--set training.key=value`` (repeatable, YAML values) changes hepml's config, to compare
settings:

    python bench/bench_hard_sample.py --seeds 1 2 3 4 5 6 7 8
    python bench/bench_hard_sample.py --seeds 1 2 3 --set training.min_rounds=0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_hard_sample as notebook

from hepml.config import config_from_dict
from hepml.folds import fold_of_entry
from hepml.ingest.sample import ingest_sample
from hepml.tables.features import load_dataset
from hepml.train.bdt import train_fold

README = Path(__file__).resolve().parents[1] / "README.md"


def worked_example(data_dir: Path) -> dict:
    """The README's worked-example config, pointed at ``data_dir``."""
    text = README.read_text(encoding="utf-8").split("<!-- worked-example:", 1)[1]
    raw = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.DOTALL)[1])
    for sample in raw["samples"].values():
        sample["files"] = str(data_dir / Path(sample["files"]).name)
    return raw


def _set(raw: dict, assignment: str) -> None:
    """Apply ``section.key=value`` (the value read as YAML) to ``raw``."""
    path, value = assignment.split("=", 1)
    *parents, key = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[key] = yaml.safe_load(value)


def hepml_run(raw: dict, data, seed: int, threads: int) -> dict:
    """The K fold models of hepml for one seed: out-of-fold AUC and best iterations."""
    cfg = config_from_dict({**raw, "seed": seed})
    K = cfg.training.folds
    fold = np.concatenate(
        [
            fold_of_entry(0, data.entry[data.sample == name], K, seed)
            for name in dict.fromkeys(data.sample)
        ]
    )
    data = dataclasses.replace(data, fold=fold)
    score = np.full(len(data), np.nan)
    best = []
    for k in range(K):
        model = train_fold(cfg, data, k, threads=threads)
        test = model.scores["set"] == "test"
        score[test] = model.scores["score"][test]
        best.append(model.best_iteration)
    return {
        "seed": seed,
        "auc": float(roc_auc_score(data.label, score, sample_weight=data.weight)),
        "best_iterations": best,
    }


def _balance_over(where: str) -> None:
    """Replace hepml's weights by those balanced over the whole sample or per set."""
    import hepml.train.bdt as bdt

    if where == "model":
        return
    original = bdt.model_weights

    def weights(config, data, masks):
        if where == "set":
            return {s: bdt.fold_weights(config, data, masks[s]) for s in ("train", "validation")}
        everything = np.ones(len(data), dtype=bool)
        w = bdt.fold_weights(config, data, everything)
        return {s: w[masks[s]] for s in ("train", "validation")}

    bdt.model_weights = weights
    assert original is not weights


def summary(runs: list[dict]) -> dict:
    spreads = [max(r["best_iterations"]) - min(r["best_iterations"]) for r in runs]
    return {
        "auc_mean": float(np.mean([r["auc"] for r in runs])),
        "auc_std": float(np.std([r["auc"] for r in runs], ddof=1)) if len(runs) > 1 else None,
        "best_iteration_spread_mean": float(np.mean(spreads)),
        "best_iteration_min": min(min(r["best_iterations"]) for r in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=notebook.DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="training.key=value")
    parser.add_argument("--no-notebook", action="store_true")
    parser.add_argument(
        "--balance-over",
        choices=["model", "sample", "set"],
        default="model",
        help="measurement only: balance over the model's events (hepml), the whole sample, "
        "or each set apart (hepml before issue 26)",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    _balance_over(args.balance_over)
    raw = worked_example(args.data)
    for assignment in args.set:
        _set(raw, assignment)
    cfg = config_from_dict(raw)
    with tempfile.TemporaryDirectory() as tmp:
        tables = {name: Path(tmp) / f"{name}.parquet" for name in cfg.samples}
        for name, path in tables.items():
            ingest_sample(cfg, name, path)
        processes = {n: s.process for n, s in cfg.samples.items()}
        data = load_dataset(tables, cfg.feature_names, processes)
    result = {"events": len(data), "settings": args.set}
    result["hepml"] = summary([hepml_run(raw, data, s, args.threads) for s in args.seeds])
    if not args.no_notebook:
        events = notebook.load(args.data)
        assert len(events["weight"]) == len(data), "notebook and hepml select other events"
        result["notebook"] = summary([notebook.run(events, s) for s in args.seeds])
        result["auc_difference"] = result["hepml"]["auc_mean"] - result["notebook"]["auc_mean"]
    for side in ("hepml", "notebook"):
        if side in result:
            s = result[side]
            print(
                f"{side:9s} AUC {s['auc_mean']:.4f} (std over seeds {s['auc_std']}), "
                f"best-iteration spread {s['best_iteration_spread_mean']:.1f}, "
                f"min {s['best_iteration_min']}"
            )
            for r in s["runs"]:
                print(f"   seed {r['seed']}: AUC {r['auc']:.4f}, best {r['best_iterations']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
