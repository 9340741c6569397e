"""Small ntuples of three kinds of event (a signal and two backgrounds that differ from each
other) and configs over them: multiclass, calibrated, in categories."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

# kind -> (MET scale, mean number of jets, jet eta width, muon pt scale)
KINDS = {
    "sig": (60.0, 3.0, 3.0, 40.0),
    "dy": (20.0, 2.0, 1.5, 30.0),
    "tt": (45.0, 4.0, 1.2, 20.0),
}


def write_kind(path: Path, kind: str, n: int, *, seed: int) -> None:
    """An ntuple of ``n`` events of ``kind`` (jets, muons, MET, event numbers, weights)."""
    met_scale, jets_mean, eta_width, mu_scale = KINDS[kind]
    rng = np.random.default_rng(seed)
    n_jets = np.minimum(rng.poisson(jets_mean, n), 8)
    n_mu = rng.integers(1, 4, n)
    jets = ak.zip(
        {
            "pt": ak.unflatten((rng.exponential(40, n_jets.sum()) + 20).astype(np.float32), n_jets),
            "eta": ak.unflatten(rng.normal(0, eta_width, n_jets.sum()).astype(np.float32), n_jets),
        }
    )
    muons = ak.zip(
        {"pt": ak.unflatten((rng.exponential(mu_scale, n_mu.sum()) + 10).astype(np.float32), n_mu)}
    )
    arrays = {
        "event": rng.choice(10**9, n, replace=False).astype(np.uint64),
        "genWeight": np.where(rng.random(n) < (0.05 if kind == "dy" else 0.0), -1.0, 1.0).astype(
            np.float32
        ),
        "MET_pt": rng.exponential(met_scale, n).astype(np.float32),
        "Jet": jets,
        "Muon": muons,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as f:
        f.mktree("events", arrays)


def make_multiclass_config(tmp_path: Path, *, n: int = 1500) -> dict:
    """Three samples (sig, dy, tt) in ``tmp_path`` and a multiclass config over them."""
    for kind, seed in (("sig", 1), ("dy", 2), ("tt", 3)):
        write_kind(tmp_path / f"{kind}.root", kind, n, seed=seed)
    xsec = {"sig": 1.0, "dy": 40.0, "tt": 10.0}
    return {
        "luminosity": 10.0,
        "seed": 3,
        "samples": {
            kind: {
                "label": "signal" if kind == "sig" else "background",
                "files": str(tmp_path / f"{kind}.root"),
                "cross_section": xsec[kind],
                "weight": "genWeight",
            }
            for kind in ("sig", "dy", "tt")
        },
        "selection": [{"name": "one_muon", "expr": "num(Muon_pt) >= 1"}],
        "features": [
            {"name": "met", "expr": "MET_pt"},
            {"name": "n_jets", "expr": "num(Jet_pt)"},
            {"name": "jet1_eta", "expr": "Jet_eta[0]"},
            {"name": "mu1_pt", "expr": "Muon_pt[0]"},
            {"name": "ht", "expr": "sum(Jet_pt[Jet_pt > 30])"},
        ],
        "training": {
            "folds": 3,
            "early_stopping_rounds": 5,
            "xgboost": {"n_estimators": 30, "max_depth": 3},
            "multiclass": {
                "classes": [
                    {"name": "signal", "samples": ["sig"]},
                    {"name": "dy", "processes": ["dy"]},
                    {"name": "ttbar", "samples": ["tt"], "balance": "physics"},
                ]
            },
        },
        "evaluation": {"working_points": [{"signal_efficiency": 0.5}], "bins": 20},
    }


CLASSES = ["signal", "dy", "ttbar"]


def score_tables(directory, n=1500, folds=3, seed=0):
    """Score tables of ``folds`` models with three classes; positive weights; returns paths
    and the merged test rows (class, outputs, weight, fold)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    fold = rng.integers(0, folds, n)
    weight = rng.uniform(0.2, 3.0, n)
    paths, test = [], []
    for k in range(folds):
        logits = rng.normal(0, 1, (n, 3)) + 1.5 * np.eye(3)[y]
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        role = np.where(fold == k, "test", np.where(fold == (k + 1) % folds, "validation", "train"))
        table = {
            "score": p[:, 0], "label": (y == 0).astype(np.int8), "weight": weight,
            "fold": fold.astype(np.int8), "model_fold": np.full(n, k, np.int8), "set": role,
            "class": y.astype(np.int8),
        } | {f"score_p_{c}": p[:, i] for i, c in enumerate(CLASSES)}  # fmt: skip
        path = directory / f"fold{k}.parquet"
        pq.write_table(pa.table(table), path)
        paths.append(path)
        test.append((y[fold == k], p[fold == k], weight[fold == k], np.full((fold == k).sum(), k)))
    merged = [np.concatenate(parts) for parts in zip(*test, strict=True)]
    return paths, merged
