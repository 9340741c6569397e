"""A small trained analysis of the demo ntuples with systematic variations (tests/systematics)."""

from __future__ import annotations

import json
from pathlib import Path

from hepml.config import config_from_dict
from hepml.demo.files import DEMO_PROCESSES, make_demo
from hepml.ingest.sample import ingest_sample, summary_of
from hepml.models import check_models, read_training_models
from hepml.systematics.scoring import score_variations
from hepml.tables.features import load_dataset
from hepml.train.bdt import train_fold, write_fold

FEATURES = [
    {"name": "jet1_pt", "expr": "Jet_pt[0]"},
    {"name": "jet2_pt", "expr": "Jet_pt[1]"},
    {"name": "ht", "expr": "sum(Jet_pt[Jet_pt > 30])"},
    {"name": "n_jets", "expr": "num(Jet_pt)"},
    {"name": "mu1_pt", "expr": "Muon_pt[0]"},
    {"name": "met", "expr": "MET_pt"},
]


def analysis_config(demo_dir: Path, **top) -> dict:
    """The demo analysis, small: simple features (easy to compute by hand), a jet cut that
    the jet energy scale moves events across, a JES shape and a pileup weight variation."""
    samples = {
        p.name: {
            "label": p.label,
            "files": str(demo_dir / f"{p.name}_*.root"),
            "cross_section": p.cross_section_pb,
            "weight": "genWeight",
        }
        for p in DEMO_PROCESSES
    }
    return {
        "luminosity": 140.0,
        "seed": 5,
        "event_number": "event",
        "samples": samples,
        "selection": [
            {"name": "two_muons", "expr": "num(Muon_pt) >= 2"},
            {"name": "opposite", "expr": "Muon_charge[0] * Muon_charge[1] < 0"},
            {"name": "lead_jet", "expr": "num(Jet_pt[Jet_pt > 40]) >= 1"},
        ],
        "features": FEATURES,
        "training": {
            "folds": 3,
            "early_stopping_rounds": 5,
            "xgboost": {"n_estimators": 25, "max_depth": 3},
        },
        "systematics": {
            "variations": {
                "jes": {
                    "up": {"branches": {"Jet_pt": "Jet_pt_jesUp"}},
                    "down": {"branches": {"Jet_pt": "Jet_pt_jesDown"}},
                },
                "pileup": {
                    "up": {"weight": "genWeight * puWeightUp"},
                    "down": {"weight": "genWeight * puWeightDown"},
                },
            },
            "normalisation": {"xsec_ttbar": {"ttbar": 1.06}},
        },
        "fit": {
            "binning": {"method": "merge", "fine_bins": 20, "min_background": 5},
            "lumi_uncertainty": 0.02,
        },
        **top,
    }


def make_analysis(base: Path, config: dict | None = None, events: int = 4500) -> dict:
    """Demo ntuples, ingest (tables + summaries), three trained folds; no variation scored."""
    demo_dir = base / "demo"
    make_demo(demo_dir, n_events=events, files_per_process=2, seed=3)
    cfg = config_from_dict(config or analysis_config(demo_dir))
    tables, summaries = {}, {}
    for name in cfg.samples:
        tables[name] = base / "ingest" / f"{name}.parquet"
        summaries[name] = summary_of(ingest_sample(cfg, name, tables[name]))
    data = load_dataset(tables, cfg.feature_names)
    models = []
    for k in range(cfg.training.folds):
        write_fold(train_fold(cfg, data, k), base / "train" / f"fold{k}")
        models.append(base / "train" / f"fold{k}" / "model.json")
    return {
        "base": base,
        "demo": demo_dir,
        "config": cfg,
        "tables": tables,
        "summaries": summaries,
        "models": models,
        "scores": [m.with_name("scores.parquet") for m in models],
    }


def score_all(analysis: dict, cfg=None, out: str = "systematics") -> dict[str, Path]:
    """``score_variations`` of every sample; returns sample -> table (summaries beside)."""
    cfg = cfg or analysis["config"]
    models = check_models(cfg, read_training_models(analysis["models"]))
    paths = {}
    for name in cfg.samples:
        paths[name] = analysis["base"] / out / f"{name}.parquet"
        score_variations(
            cfg,
            name,
            models,
            output=paths[name],
            summary=paths[name].with_suffix(".json"),
            ingest_summary=analysis["summaries"][name],
        )
    return paths


def read_summary(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text())
