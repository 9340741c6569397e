"""A careful analyst's notebook on the CMS HEP tutorial files: the reference for training.

Written with the bare tools only (uproot, awkward, numpy, XGBoost, scikit-learn), sharing no
code with hepml, so that hepml's training can be compared against it on a hard real sample:
single top against WW, WZ, ZZ and QCD, where 142 QCD events carry weights up to 5.5e4 while
every other event weighs less than 0.1 (a few QCD events hold most of the background weight).

What the notebook does, as the README's worked example configures hepml:

- the worked example's selection (trigger, a muon above 25 GeV, a jet) and its seven features,
  computed by hand from the Cartesian branches;
- K = 4 folds from (file, entry): the SplitMix64 hash written again here from its published
  definition (hepml.folds' docstring), so that both sides split the events alike and the
  comparison is fold by fold; model k tests on fold k, early-stops on fold (k+1) mod K and
  trains on the rest;
- training weights: |EventWeight|, the classes balanced ONCE over all events (signal sum =
  background sum), then scaled to a mean of 1, the same weights for the training and the
  validation set;
- ``xgb.train`` (depth 3, eta 0.1, up to 200 rounds, early stopping after 20 rounds on the
  validation log-loss, the worked example's defaults otherwise);
- the out-of-fold AUC weighted with the physics weights (``sklearn.metrics.roc_auc_score``).

    python bench/notebook_hard_sample.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import xgboost as xgb
from sklearn.metrics import roc_auc_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cms-hep-tutorial"
SAMPLES = {"single_top": 1, "ww": 0, "wz": 0, "zz": 0, "qcd": 0}  # name -> label
FOLDS = 4
PARAMS = {  # the worked example's xgboost block over hepml's schema defaults
    "max_depth": 3,
    "eta": 0.1,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 1.0,
    "lambda": 1.0,
    "alpha": 0.0,
    "gamma": 0.0,
    "max_bin": 256,
}
ROUNDS, PATIENCE = 200, 20


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def entry_folds(entries: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold of (file 0, entry) with the published hash: seed, then file, then entry."""
    h = _splitmix64(np.full(len(entries), seed, dtype=np.uint64))
    h = _splitmix64(h ^ np.uint64(0))
    h = _splitmix64(h ^ entries.astype(np.uint64))
    return (h % np.uint64(n_folds)).astype(np.int8)


def read_sample(path: Path) -> dict[str, np.ndarray]:
    """The selected events of one file: features, weight and entry number."""
    names = ["Muon_Px", "Muon_Py", "Jet_Px", "Jet_Py", "Jet_btag", "MET_px", "MET_py"]
    ev = uproot.open(path)["events"].arrays([*names, "triggerIsoMu24", "EventWeight"])
    mu_pt = np.hypot(ev.Muon_Px, ev.Muon_Py)
    jet_pt = np.hypot(ev.Jet_Px, ev.Jet_Py)
    keep = (
        ak.to_numpy(ev.triggerIsoMu24).astype(bool)
        & ak.to_numpy(ak.sum(mu_pt > 25, axis=1) >= 1)
        & ak.to_numpy(ak.num(ev.Jet_Px) >= 1)
    )
    entry = np.flatnonzero(keep)
    ev, mu_pt, jet_pt = ev[keep], mu_pt[keep], jet_pt[keep]
    mu1 = ak.to_numpy(ak.firsts(mu_pt))
    mu_phi = ak.to_numpy(ak.firsts(np.arctan2(ev.Muon_Py, ev.Muon_Px)))
    met_x, met_y = ak.to_numpy(ev.MET_px), ak.to_numpy(ev.MET_py)
    met, met_phi = np.hypot(met_x, met_y), np.arctan2(met_y, met_x)
    features = {
        "mu_pt": mu1,
        "met": met,
        "mt_w": np.sqrt(2 * mu1 * met * (1 - np.cos(mu_phi - met_phi))),
        "n_jets": ak.to_numpy(ak.num(ev.Jet_Px)).astype(np.float64),
        "n_btags": ak.to_numpy(ak.sum(ev.Jet_btag > 1.74, axis=1)).astype(np.float64),
        "jet1_pt": ak.to_numpy(ak.firsts(jet_pt)),
        "ht": ak.to_numpy(ak.sum(jet_pt, axis=1)),
    }
    X = np.column_stack(list(features.values())).astype(np.float32)
    return {"X": X, "weight": ak.to_numpy(ev.EventWeight).astype(np.float64), "entry": entry}


def load(data_dir: Path) -> dict[str, np.ndarray]:
    parts = {name: read_sample(data_dir / f"{name}.root") for name in SAMPLES}
    return {
        "X": np.concatenate([p["X"] for p in parts.values()]),
        "weight": np.concatenate([p["weight"] for p in parts.values()]),
        "entry": np.concatenate([p["entry"] for p in parts.values()]),
        "label": np.concatenate([np.full(len(p["X"]), SAMPLES[n]) for n, p in parts.items()]),
        "process": np.concatenate([np.full(len(p["X"]), n) for n, p in parts.items()]),
    }


def balanced_once(weight: np.ndarray, label: np.ndarray) -> np.ndarray:
    """|w|, signal sum = background sum over all events, mean 1."""
    w = np.abs(weight)
    w = np.where(label == 1, w / w[label == 1].sum(), w / w[label == 0].sum())
    return w * (len(w) / w.sum())


def run(data: dict[str, np.ndarray], seed: int) -> dict:
    """Out-of-fold scores of the K fold models; AUC and best iterations."""
    fold = np.concatenate(
        [entry_folds(data["entry"][data["process"] == n], FOLDS, seed) for n in SAMPLES]
    )
    w = balanced_once(data["weight"], data["label"])
    score = np.full(len(w), np.nan)
    best = []
    for k in range(FOLDS):
        test, val = fold == k, fold == (k + 1) % FOLDS
        train = ~(test | val)
        dtrain = xgb.DMatrix(data["X"][train], label=data["label"][train], weight=w[train])
        dval = xgb.DMatrix(data["X"][val], label=data["label"][val], weight=w[val])
        params = {**PARAMS, "objective": "binary:logistic", "eval_metric": "logloss"}
        params |= {"tree_method": "hist", "nthread": 1, "seed": seed * 100 + k}
        booster = xgb.train(
            params,
            dtrain,
            ROUNDS,
            evals=[(dval, "validation")],
            early_stopping_rounds=PATIENCE,
            verbose_eval=False,
        )
        best.append(int(booster.best_iteration))
        score[test] = booster.inplace_predict(
            data["X"][test], iteration_range=(0, booster.best_iteration + 1)
        )
    auc = roc_auc_score(data["label"], score, sample_weight=data["weight"])
    folds = [
        roc_auc_score(data["label"][m], score[m], sample_weight=data["weight"][m])
        for m in (fold == k for k in range(FOLDS))
    ]
    return {"seed": seed, "auc": float(auc), "auc_folds": folds, "best_iterations": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    data = load(args.data)
    results = [run(data, seed) for seed in args.seeds]
    out = {
        "events": len(data["weight"]),
        "runs": results,
        "auc_mean": float(np.mean([r["auc"] for r in results])),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
