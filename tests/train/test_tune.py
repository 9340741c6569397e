"""Hyperparameter search: candidates, determinism, the test fold never entering a trial,
selection, outputs, config errors, and the Snakemake jobs (one per trial)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, ingest_all
from sklearn.metrics import roc_auc_score

from hepml.config import config_from_dict
from hepml.exceptions import ConfigError, FoldMismatch
from hepml.plotdata.training import TuneTrials
from hepml.tables.features import Dataset
from hepml.train.bdt import train_fold
from hepml.train.tune import (
    grid_points,
    history_needed,
    n_trials,
    run_trial,
    select,
    suggest,
    tuned_parameters,
    with_rounds,
    write_selection,
)

SPACE = {
    "max_depth": {"values": [1, 2, 3]},
    "eta": {"low": 0.05, "high": 0.5, "log": True},
    "min_child_weight": {"low": 1, "high": 20},
}


def _config(small_config, **tune):
    small_config["training"]["tune"] = {"enabled": True, "space": SPACE, **tune}
    return config_from_dict(small_config)


@pytest.fixture
def ingested_for_tuning(small_config, tmp_path):
    """``small_config`` with a random search of 3 trials, ingested in tmp_path: (cfg, data)."""
    cfg = _config(small_config, method="random", trials=3)
    return cfg, ingest_all(cfg, tmp_path)[0]


def test_random_candidates_are_seeded_in_range_and_shared_by_folds(small_config):
    cfg = _config(small_config, method="random", trials=50)
    assert n_trials(cfg.training.tune) == 51
    assert suggest(cfg.training.tune, cfg.seed, 0, 0) == {}  # trial 0: the config's own
    draws = [suggest(cfg.training.tune, cfg.seed, 0, i) for i in range(1, 51)]
    assert draws == [suggest(cfg.training.tune, cfg.seed, 2, i) for i in range(1, 51)]
    assert draws != [suggest(cfg.training.tune, cfg.seed + 1, 0, i) for i in range(1, 51)]
    assert {d["max_depth"] for d in draws} == {1, 2, 3}
    eta = np.array([d["eta"] for d in draws])
    assert np.all((eta >= 0.05) & (eta <= 0.5))
    assert np.median(eta) < 0.2  # log-uniform: median near sqrt(0.05 * 0.5) = 0.16, not 0.275
    mcw = [d["min_child_weight"] for d in draws]
    assert all(isinstance(m, float) and 1 <= m <= 20 for m in mcw)
    assert history_needed(cfg.training.tune, 49) == []


def test_grid_is_complete_or_a_seeded_subset(small_config):
    space = {"max_depth": {"values": [2, 3]}, "max_bin": {"low": 16, "high": 256, "steps": 3}}
    small_config["training"]["tune"] = {"enabled": True, "method": "grid", "space": space}
    cfg = config_from_dict(small_config)
    grid = grid_points(cfg.training.tune)
    assert len(grid) == 6 == n_trials(cfg.training.tune) - 1
    assert {g["max_bin"] for g in grid} == {16, 136, 256}
    assert [suggest(cfg.training.tune, 1, 0, i) for i in range(1, 7)] == grid
    small_config["training"]["tune"]["trials"] = 4
    sub = config_from_dict(small_config).training.tune
    picked = [suggest(sub, 1, 0, i) for i in range(1, n_trials(sub))]
    assert len(picked) == 4 and all(p in grid for p in picked)
    assert len({json.dumps(p, sort_keys=True) for p in picked}) == 4
    with pytest.raises(FoldMismatch, match="trial 5 is out of range"):
        suggest(sub, 1, 0, 5)


def test_tpe_learns_from_earlier_batches_deterministically(small_config):
    pytest.importorskip("optuna", reason="the tune extra (optuna) is not installed")
    cfg = _config(small_config, method="tpe", trials=8, batch=2)
    assert history_needed(cfg.training.tune, 1) == []
    assert history_needed(cfg.training.tune, 5) == [0, 1, 2, 3]
    history = [
        {"trial": i, "params": suggest(cfg.training.tune, 7, 0, i, []), "objective": 0.5 - 0.01 * i}
        for i in range(2)
    ]
    with pytest.raises(FoldMismatch, match=r"needs the results of trials \[0, 1\]"):
        suggest(cfg.training.tune, 7, 0, 2, history[:1])
    a = suggest(cfg.training.tune, 7, 0, 2, history)
    assert a == suggest(cfg.training.tune, 7, 0, 2, history)
    assert set(a) == set(SPACE)
    assert a["max_depth"] in (1, 2, 3) and 0.05 <= a["eta"] <= 0.5


def test_tpe_without_optuna_names_the_install_command(small_config, monkeypatch):
    cfg = _config(small_config, method="tpe", trials=4, batch=2)
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'hepml\[tune\]'"):
        suggest(cfg.training.tune, 7, 0, 1, [])


def test_trial_objective_is_the_early_stopping_loss_of_that_model(ingested_for_tuning):
    cfg, data = ingested_for_tuning
    record = run_trial(cfg, data, 1, 2)
    params = with_rounds(cfg, suggest(cfg.training.tune, cfg.seed, 1, 2))
    assert record["params"] == params
    assert params["n_estimators"] == math.ceil(40 * 0.1 / params["eta"] - 1e-9)
    model = train_fold(cfg, data, 1, params=params)
    curve = model.learning_curve["validation"]["logloss"]
    assert record["best_iteration"] == model.best_iteration
    assert record["objective"] == pytest.approx(curve[model.best_iteration], rel=1e-12)
    assert record["objective"] == pytest.approx(min(curve), rel=1e-12)


def _perturb(data, fold):
    """Flip the labels and scramble the features and weights of one fold."""
    rows = data.fold == fold
    rng = np.random.default_rng(0)
    X = data.X.copy()
    X[rows] = rng.normal(size=X[rows].shape).astype(np.float32)
    return dataclasses.replace(
        data,
        X=X,
        label=np.where(rows, 1 - data.label, data.label).astype(data.label.dtype),
        weight=np.where(rows, rng.uniform(-5, 5, len(data)), data.weight),
    )


def test_test_fold_never_enters_the_search(ingested_for_tuning):
    """Perturbing model k's test fold changes neither its trials nor its chosen parameters;
    perturbing its validation fold does change them (so the check can fail)."""
    cfg, data = ingested_for_tuning
    n = n_trials(cfg.training.tune)
    trials = [run_trial(cfg, data, k, i) for k in range(cfg.training.folds) for i in range(n)]
    chosen = select(cfg, trials)
    for k in range(cfg.training.folds):
        mine = [t for t in trials if t["fold"] == k]
        perturbed = _perturb(data, fold=k)
        again = [run_trial(cfg, perturbed, k, i) for i in range(n)]
        assert again == mine
        swapped = [t for t in trials if t["fold"] != k] + again
        assert select(cfg, swapped)["folds"][str(k)] == chosen["folds"][str(k)]
    validation = _perturb(data, fold=1)
    assert run_trial(cfg, validation, 0, 0)["objective"] != trials[0]["objective"]


def _trial(k, i, logloss, auc, **params):
    return {
        "fold": k,
        "trial": i,
        "method": "random",
        "params": params if i else {},
        "objective": logloss,
        "best_iteration": 3,
        "validation_logloss": logloss,
        "validation_auc": auc,
    }


def test_selection_picks_the_best_trial_not_worse_than_the_defaults(ingested_for_tuning, tmp_path):
    """Trial 0 is the defaults; a candidate is chosen only with a better objective and a
    validation AUC not below the defaults'."""
    cfg, _ = ingested_for_tuning
    trials = [  # (fold, trial, logloss, auc)
        *[
            _trial(0, i, v, a, max_depth=i)
            for i, (v, a) in enumerate([(0.5, 0.8), (0.4, 0.81), (0.4, 0.82), (0.6, 0.9)])
        ],
        # fold 1: the best log-loss has a lower AUC than the defaults: the defaults stay
        *[
            _trial(1, i, v, a, max_depth=i)
            for i, (v, a) in enumerate([(0.3, 0.85), (0.2, 0.84), (0.35, 0.86), (0.31, 0.9)])
        ],
        *[_trial(2, i, 0.45 - 0.01 * i, 0.8, max_depth=i) for i in range(4)],
    ]
    chosen = select(cfg, trials)
    assert {k: c["trial"] for k, c in chosen["folds"].items()} == {"0": 1, "1": 0, "2": 3}
    assert chosen["folds"]["0"]["gain"] == pytest.approx(0.1)
    assert chosen["folds"]["0"]["auc_gain"] == pytest.approx(0.01)
    assert chosen["folds"]["1"]["gain"] == 0 and chosen["folds"]["1"]["params"] == {}
    assert chosen["mean_gain"] == pytest.approx((0.1 + 0 + 0.03) / 3)
    tune = dataclasses.replace(cfg.training.tune, objective="auc")
    auc = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, tune=tune))
    by_auc = [{**t, "objective": t["validation_auc"]} for t in trials]
    assert select(auc, by_auc)["folds"]["1"]["trial"] == 3
    with pytest.raises(FoldMismatch, match=r"model 2: expected the results of trials 0\.\.3"):
        select(auc, by_auc[:-1])
    other = [{**t, "method": "tpe"} if t["trial"] == 2 else t for t in trials]
    with pytest.raises(FoldMismatch, match="of a random search"):
        select(cfg, other)
    paths = write_selection(cfg, trials, tmp_path / "tune")
    assert all(p.stat().st_size > 0 for p in paths)
    # the trials plot's data: every trial, the chosen ones marked (drawn by hepml.plots)
    plotted = TuneTrials.read(tmp_path / "tune" / "trials.json")
    assert len(plotted.trials) == 12 and plotted.objective == "logloss"
    assert {(t.fold, t.trial) for t in plotted.trials if t.chosen} == {(0, 1), (1, 0), (2, 3)}
    best = tmp_path / "tune" / "best_params.json"
    assert tuned_parameters(best, 2) == trials[11]["params"]
    assert tuned_parameters(best, 1) == {}  # the defaults
    lines = (tmp_path / "tune" / "trials.csv").read_text().splitlines()
    assert len(lines) == 1 + 12
    assert sum(line.endswith("True") for line in lines) == 3
    assert "Gain of the choice over trial 0" in (tmp_path / "tune" / "trials.md").read_text()
    with pytest.raises(FoldMismatch, match="no parameters for model 5"):
        tuned_parameters(best, 5)


@pytest.mark.parametrize(
    ("space", "method", "message"),
    [
        ({"eta": {"low": 0.3, "high": 0.1}}, "random", r"space\.eta: low \(0\.3\) must be below"),
        ({"eta": {"low": 0, "high": 0.1, "log": True}}, "random", "a log range needs low > 0"),
        ({"eta": {"low": 0.01, "high": 0.1}}, "grid", "a grid search needs values"),
        ({"eta": {"values": [0.1, 2]}}, "random", r"space\.eta: 2 is not a valid eta"),
        ({"eta": {"low": 0.1}}, "random", "give either values"),
        ({"etaa": {"values": [0.1]}}, "random", r"unknown key 'training\.tune\.space\.etaa'.*eta"),
        ({}, "random", "space is empty"),
    ],
)
def test_search_space_errors_name_the_key(small_config, space, method, message):
    small_config["training"]["tune"] = {"enabled": True, "method": method, "space": space}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(small_config)


# --- the Snakemake jobs ------------------------------------------------------------------


def _workflow_config(workdir: Path, trials: int) -> Path:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["demo"].update(events=6_000, files_per_process=1)
    cfg["training"].update(folds=3, early_stopping_rounds=5, baselines=["fisher"])
    cfg["training"]["xgboost"].update(n_estimators=20)
    cfg["training"]["tune"] = {
        "enabled": True,
        "method": "random",
        "trials": trials,
        "space": {"max_depth": {"values": [2, 3]}, "eta": {"low": 0.1, "high": 0.4}},
    }
    path = workdir / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", str(config), *args]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def test_every_trial_is_a_job_and_training_waits_for_the_choice(tmp_path):
    config = _workflow_config(tmp_path, trials=4)
    dry = _snakemake(tmp_path, config, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = {}
    for line in dry.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts["tune_trial"] == 3 * (1 + 4)  # the defaults, then 4 candidates
    assert counts["tune_select"] == 1
    assert counts["train_baseline"] == 3
    assert "results/tune/best_params.json" in dry.stdout


@pytest.mark.e2e
def test_workflow_trains_with_the_chosen_parameters(tmp_path):
    config = _workflow_config(tmp_path, trials=2)
    targets = ["results/evaluation/metrics.csv", "results/plots/tune_trials.png"]
    run = _snakemake(tmp_path, config, "--cores", "2", *targets)  # not apply, export, ...
    assert run.returncode == 0, run.stderr[-4000:]
    results = tmp_path / "results"
    chosen = json.loads((results / "tune" / "best_params.json").read_text())
    raw_xgboost = yaml.safe_load(config.read_text())["training"]["xgboost"]
    for k in range(3):
        meta = json.loads((results / "train" / f"fold{k}" / "metadata.json").read_text())
        assert meta["tuned_parameters"] == chosen["folds"][str(k)]["params"]
        # trial 0 (the config's own parameters) may be the choice: then nothing is overridden
        expected = {**raw_xgboost, **chosen["folds"][str(k)]["params"]}
        assert meta["parameters"]["max_depth"] == expected["max_depth"]
        trial = json.loads((results / "tune" / f"fold{k}" / "trial0.json").read_text())
        assert trial["fold"] == k
    assert (results / "plots" / "tune_trials.png").stat().st_size > 0
    metrics = (results / "evaluation" / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in metrics[1:]] == ["xgboost", "fisher"]
    scores = pq.read_table(results / "baselines" / "fisher" / "fold0" / "scores.parquet")
    assert set(scores.column("set").to_pylist()) == {"train", "validation", "test"}


# --- what the search looks at, and what it guarantees -------------------------------------


def test_default_space_has_the_parameters_of_weighted_hep_samples(small_config, monkeypatch):
    small_config["training"]["tune"] = {"enabled": True}
    tuning = config_from_dict(small_config).training.tune
    names = {d.name for d in tuning.space}
    assert {"min_child_weight", "lambda", "alpha", "max_depth", "eta", "subsample"} <= names
    assert tuning.trials == 20
    import importlib.util

    expected = "tpe" if importlib.util.find_spec("optuna") else "random"
    assert tuning.method == expected  # method auto
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a)
    )
    assert config_from_dict(small_config).training.tune.method == "random"


def test_a_searched_eta_brings_its_rounds(small_config):
    small_config["training"]["xgboost"].update(eta=0.1, n_estimators=300)
    cfg = _config(small_config)
    assert with_rounds(cfg, {"eta": 0.03})["n_estimators"] == 1000
    assert with_rounds(cfg, {"eta": 0.3})["n_estimators"] == 100
    assert with_rounds(cfg, {"eta": 0.03, "n_estimators": 50})["n_estimators"] == 50
    assert with_rounds(cfg, {"max_depth": 3}) == {"max_depth": 3}
    assert with_rounds(cfg, {}) == {}


SAMPLE_LABELS = {"sig": "signal", "bkg": "background"}


def _oof_auc(models, data):
    score = np.full(len(data), np.nan)
    for m in models:
        test = m.scores["set"] == "test"
        score[test] = m.scores["score"][test]
    return roc_auc_score(data.label, score, sample_weight=np.abs(data.weight))


def _interaction_data(n=12000, seed=4):
    """Signal where x0 and x1 have the same sign: trees of depth 1 cannot learn it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    label = ((X[:, 0] * X[:, 1] + 0.5 * rng.normal(size=n)) > 0).astype(np.int8)
    weight = rng.exponential(1.0, n)
    names = np.where(label == 1, "sig", "bkg")
    ids = np.arange(n)
    return Dataset(
        ["a", "b", "c"],
        X,
        weight,
        label,
        rng.integers(0, 3, n).astype(np.int8),
        names,
        names,
        ids.astype(np.uint64),
        np.zeros(n, dtype=np.int32),
        ids.astype(np.int64),
    )


def test_tuned_models_are_not_worse_out_of_fold_than_untuned():
    """The whole search (TPE when Optuna is installed) from weak defaults (stumps, which
    cannot learn an interaction): every choice is at least as good as the defaults on its
    validation fold, and the tuned out-of-fold AUC (sklearn) is well above the untuned one."""
    samples = {n: {"label": lab, "files": f"{n}.root"} for n, lab in SAMPLE_LABELS.items()}
    cfg = config_from_dict(
        {
            "samples": samples,
            "features": [{"name": f, "expr": f} for f in "abc"],
            "training": {
                "folds": 3,
                "early_stopping_rounds": 10,
                "xgboost": {"n_estimators": 30, "max_depth": 1, "eta": 0.1},
                "tune": {"enabled": True, "trials": 5, "batch": 3},
            },
        }
    )
    data = _interaction_data()
    trials = []
    for k in range(cfg.training.folds):
        for i in range(n_trials(cfg.training.tune)):
            needed = set(history_needed(cfg.training.tune, i))
            history = [t for t in trials if t["fold"] == k and t["trial"] in needed]
            trials.append(run_trial(cfg, data, k, i, history=history))
    chosen = select(cfg, trials)
    for c in chosen["folds"].values():
        assert c["gain"] > 0 and c["auc_gain"] > 0.05  # the search found something
    untuned = [train_fold(cfg, data, k) for k in range(cfg.training.folds)]
    tuned = [
        train_fold(cfg, data, k, params=chosen["folds"][str(k)]["params"])
        for k in range(cfg.training.folds)
    ]
    assert _oof_auc(tuned, data) > _oof_auc(untuned, data) + 0.05


def test_when_no_candidate_beats_the_defaults_the_untuned_models_are_kept(
    ingested_for_tuning, tmp_path
):
    """Every candidate worse on validation than trial 0: the chosen parameters are {} and
    the tuned models are the untuned ones, byte for byte."""
    cfg, data = ingested_for_tuning
    trials = [run_trial(cfg, data, k, i) for k in range(3) for i in range(4)]
    for t in trials:  # make every candidate look worse than the defaults
        if t["trial"]:
            t["objective"] = t["validation_logloss"] = 10.0
    chosen = select(cfg, trials)
    assert all(c["trial"] == 0 and c["params"] == {} for c in chosen["folds"].values())
    for k in range(3):
        tuned = train_fold(cfg, data, k, params=chosen["folds"][str(k)]["params"])
        untuned = train_fold(cfg, data, k)
        assert tuned.booster.save_raw() == untuned.booster.save_raw()
