"""Shared fixtures: small ROOT files written with uproot, and the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepml.config import Config, config_from_dict
from hepml.ingest.sample import ingest_sample
from hepml.tables.features import Dataset, load_dataset

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real ROOT files of ../shared/data (skip when absent, e.g. a clone elsewhere)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real ROOT files not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


def write_ntuple(path: Path, n: int, *, seed: int, signal: bool, tree: str = "events") -> dict:
    """Write a small ntuple with jets, muons, MET, event numbers and weights; return its arrays."""
    rng = np.random.default_rng(seed)
    n_jets = rng.integers(0, 5, n)
    n_mu = rng.integers(0, 4, n)
    shift = 1.0 if signal else 0.0
    jets = ak.zip(
        {
            "pt": ak.unflatten(
                np.sort(rng.exponential(40, n_jets.sum()) + 20)[::-1].astype(np.float32), n_jets
            ),
            "eta": ak.unflatten(rng.normal(0, 2 + shift, n_jets.sum()).astype(np.float32), n_jets),
            "phi": ak.unflatten(
                rng.uniform(-np.pi, np.pi, n_jets.sum()).astype(np.float32), n_jets
            ),
            "mass": ak.unflatten(np.full(n_jets.sum(), 5.0, dtype=np.float32), n_jets),
        }
    )
    muons = ak.zip(
        {
            "pt": ak.unflatten(rng.exponential(30, n_mu.sum()).astype(np.float32) + 10, n_mu),
            "eta": ak.unflatten(rng.normal(0, 1.2, n_mu.sum()).astype(np.float32), n_mu),
            "phi": ak.unflatten(rng.uniform(-np.pi, np.pi, n_mu.sum()).astype(np.float32), n_mu),
            "mass": ak.unflatten(np.full(n_mu.sum(), 0.1057, dtype=np.float32), n_mu),
            "charge": ak.unflatten(rng.choice([-1, 1], n_mu.sum()).astype(np.int32), n_mu),
        }
    )
    arrays = {
        "event": rng.choice(10**9, n, replace=False).astype(np.uint64),
        "run": np.full(n, 1, dtype=np.uint32),
        "genWeight": np.where(rng.random(n) < (0.0 if signal else 0.1), -1.0, 1.0).astype(
            np.float32
        ),
        "MET_pt": (rng.exponential(30 + 20 * shift, n)).astype(np.float32),
        "MET_phi": rng.uniform(-np.pi, np.pi, n).astype(np.float32),
        "Jet": jets,
        "Muon": muons,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path) as f:
        f.mktree(tree, arrays)
    return arrays


@pytest.fixture
def small_config(tmp_path: Path) -> dict:
    """A complete config dict over small signal/background ntuples written in ``tmp_path``."""
    return make_small_config(tmp_path)


def make_small_config(tmp_path: Path) -> dict:
    """Write the ntuples of :func:`small_config` into ``tmp_path``; return its config dict
    (for module-scoped fixtures, which cannot use the function-scoped one)."""
    for i in range(2):
        write_ntuple(tmp_path / f"sig_{i}.root", 1500, seed=10 + i, signal=True)
        write_ntuple(tmp_path / f"bkg_{i}.root", 2000, seed=20 + i, signal=False)
    return {
        "luminosity": 10.0,
        "seed": 7,
        "samples": {
            "sig": {
                "label": "signal",
                "files": str(tmp_path / "sig_*.root"),
                "cross_section": 2.0,
                "weight": "genWeight",
            },
            "bkg": {
                "label": "background",
                "files": [str(tmp_path / "bkg_*.root")],
                "cross_section": 50.0,
                "weight": "genWeight",
            },
        },
        "selection": [
            {"name": "one_muon", "expr": "num(Muon_pt) >= 1"},
            {"name": "met", "expr": "MET_pt > 5"},
        ],
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
            "xgboost": {"n_estimators": 40, "max_depth": 3},
        },
        "evaluation": {"working_points": [{"signal_efficiency": 0.5}], "bins": 20},
    }


def ingest_all(cfg: Config, directory: Path) -> tuple[Dataset, dict[str, Path]]:
    """Ingest every sample of ``cfg`` into ``directory/<sample>.parquet``; return the dataset
    loaded from those tables and the tables (sample -> path)."""
    tables = {name: directory / f"{name}.parquet" for name in cfg.samples}
    for name, path in tables.items():
        ingest_sample(cfg, name, path)
    return load_dataset(tables, cfg.feature_names), tables


@pytest.fixture
def ingested(small_config: dict, tmp_path: Path) -> tuple[Config, Dataset, dict[str, Path]]:
    """``small_config`` ingested in ``tmp_path``: (config, dataset, tables). Function-scoped,
    like ``small_config``: a test may train, write and modify beside the tables freely."""
    cfg = config_from_dict(small_config)
    data, tables = ingest_all(cfg, tmp_path)
    return cfg, data, tables
