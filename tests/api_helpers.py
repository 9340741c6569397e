"""A finished run made with the `hepml` commands the workflow's rules call, for the API tests."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import yaml
from conftest import ROOT

from hepml.cli.app import main

DEMO_SAMPLES = ("vbf_h", "dy", "ttbar")


def demo_config(events: int = 6000) -> dict:
    """The shipped demo config, shrunk: fewer events, 3 folds, few trees, one baseline."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["demo"].update(events=events, files_per_process=2)
    cfg["training"].update(folds=3, early_stopping_rounds=10, baselines=["fisher"])
    cfg["training"]["xgboost"].update(n_estimators=40)
    return cfg


@contextlib.contextmanager
def _inside(directory: Path):
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def _hepml(*argv: str) -> None:
    status = main(list(argv))
    assert status == 0, f"hepml {' '.join(argv)} failed"


def run_commands(base: Path, config: dict, *, evaluate: bool = True) -> Path:
    """Run the analysis of ``config`` in ``base`` as the rules do, command by command (no
    Snakemake: the same `hepml` commands, in process): the demo files if the config makes
    them, ingest, train (and baselines), evaluate, apply, export, and the merged config.
    Relative paths of the config are relative to ``base``. Returns ``base / "results"``."""
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    c = ("--config", "config.yaml")
    folds = range(config["training"]["folds"])
    samples = list(config["samples"])
    with _inside(base):
        if "demo" in config:
            _hepml("make-demo", *c)
        for s in samples:
            _hepml("ingest", *c, "--sample", s, "--output", f"results/ingest/{s}.parquet",
                   "--summary", f"results/ingest/{s}.summary.json",
                   "--cutflow", f"results/cutflow/{s}.csv")  # fmt: skip
        tables = [f"{s}=results/ingest/{s}.parquet" for s in samples]
        for k in folds:
            _hepml("train", *c, "--fold", str(k), "--tables", *tables,
                   "--output-dir", f"results/train/fold{k}")  # fmt: skip
            for b in config["training"].get("baselines", []):
                _hepml("train", *c, "--classifier", b, "--fold", str(k), "--tables", *tables,
                       "--output-dir", f"results/baselines/{b}/fold{k}")  # fmt: skip
        models = [f"results/train/fold{k}/model.json" for k in folds]
        scores = [f"results/train/fold{k}/scores.parquet" for k in folds]
        if evaluate:
            baselines = [
                arg
                for b in config["training"].get("baselines", [])
                for arg in ("--baseline", b, *(f"results/baselines/{b}/fold{k}/scores.parquet"
                                               for k in folds))
            ]  # fmt: skip
            _hepml("evaluate", *c, "--scores", *scores, *baselines,
                   "--output-dir", "results/evaluation")  # fmt: skip
        for s in samples:
            _hepml("apply", *c, "--sample", s, "--models", *models, "--output-dir", "results/apply")
        summaries = [f"{s}=results/ingest/{s}.summary.json" for s in samples]
        _hepml("export", *c, "--models", *models, "--scores", *scores, "--tables", *tables,
               "--summaries", *summaries, "--output-dir", "results/export", "--onnx", "no",
               "--closure-events", "200")  # fmt: skip
        _hepml("provenance", *c, "--models", *models, "--output", "results/provenance.json",
               "--merged-config", "results/config.yaml")  # fmt: skip
    return base / "results"
