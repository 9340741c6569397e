"""Hyperparameter search on the validation folds, never on the test folds.

Each fold model k gets its own search: a *trial* trains model k's BDT with candidate XGBoost
parameters on its training folds, early-stops on its validation fold (k+1) mod K, and scores
the weighted validation log-loss (or AUC) at the best iteration. The test fold k is removed
from the data before anything else happens, so it cannot influence the parameters chosen
for model k, and model k's out-of-fold scores stay an unbiased estimate of the performance
(nested cross-validation). The chosen parameters of model k are those of its best trial.

Candidates come from the ``training.tune.space`` of the config:

- ``grid``: every combination (``values``, or ``steps`` points of a range); if there are
  more than ``trials`` combinations, a seeded random subset of ``trials`` of them;
- ``random``: independent draws (uniform, or log-uniform with ``log: true``);
- ``tpe``: Optuna's Tree-structured Parzen Estimator (``pip install hepml[tune]``); trials
  are suggested in batches of ``batch`` that run in parallel, each batch learning from the
  finished trials of the earlier ones.

Grid and random candidates depend on the seed and the trial index only (the same candidate
for every fold), so every trial is an independent job. All of it is deterministic.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml.atomic import write_json
from hepml.config import Config
from hepml.config.model import Dimension, Tuning
from hepml.exceptions import ConfigError, DataError, FoldMismatch
from hepml.folds import fold_roles
from hepml.plotdata.training import Trial, TuneTrials
from hepml.tables.features import Dataset
from hepml.tables.text import write_table
from hepml.train.bdt import fit_booster, n_rounds, xgboost_params

__all__ = [
    "grid_points",
    "history_needed",
    "n_trials",
    "run_trial",
    "select",
    "suggest",
    "tuned_parameters",
    "write_selection",
]

log = logging.getLogger(__name__)

DIRECTION = {"logloss": "minimize", "auc": "maximize"}


def _values(d: Dimension) -> tuple[Any, ...] | None:
    """The discrete values of a dimension (``values``, or the ``steps`` points of a range)."""
    if d.values:
        return d.values
    if d.steps is None:
        return None
    space = np.geomspace if d.log else np.linspace
    points = space(d.low, d.high, d.steps)
    if d.integer:
        return tuple(dict.fromkeys(round(float(p)) for p in points))
    return tuple(float(p) for p in points)


def grid_points(tuning: Tuning) -> list[dict[str, Any]]:
    """Every combination of a grid search, in a fixed order."""
    axes = [_values(d) for d in tuning.space]
    names = [d.name for d in tuning.space]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def n_trials(tuning: Tuning) -> int:
    """Number of trials per fold model: the budget, or the grid size if smaller."""
    if tuning.method == "grid":
        return min(tuning.trials, len(grid_points(tuning)))
    return tuning.trials


def history_needed(tuning: Tuning, trial: int) -> list[int]:
    """The earlier trials (of the same fold) whose results trial ``trial`` builds on."""
    if tuning.method != "tpe":
        return []
    return list(range(tuning.batch * (trial // tuning.batch)))


def _draw(d: Dimension, rng: np.random.Generator) -> Any:
    values = _values(d)
    if values is not None:
        return values[int(rng.integers(len(values)))]
    if d.log:
        x = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
    else:
        x = rng.uniform(d.low, d.high)
    return min(max(round(float(x)), int(d.low)), int(d.high)) if d.integer else float(x)


def _tpe(tuning: Tuning, seed: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    try:
        import optuna
    except ImportError as err:
        msg = "training.tune.method 'tpe' needs Optuna: pip install 'hepml[tune]'"
        raise ConfigError(msg) from err
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {}
    for d in tuning.space:
        values = _values(d)
        if values is not None:
            dists[d.name] = optuna.distributions.CategoricalDistribution(values)
        elif d.integer:
            dists[d.name] = optuna.distributions.IntDistribution(int(d.low), int(d.high), log=d.log)
        else:
            dists[d.name] = optuna.distributions.FloatDistribution(d.low, d.high, log=d.log)
    sampler = optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=max(1, min(10, tuning.trials // 2))
    )
    study = optuna.create_study(direction=DIRECTION[tuning.objective], sampler=sampler)
    for past in history:
        study.add_trial(
            optuna.trial.create_trial(
                params=dict(past["params"]), distributions=dists, value=past["objective"]
            )
        )
    return dict(study.ask(dists).params)


def suggest(
    tuning: Tuning, seed: int, k: int, trial: int, history: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The candidate parameters of trial ``trial`` of model ``k``.

    ``history`` (tpe only) holds the finished trials :func:`history_needed` names.
    """
    if not 0 <= trial < n_trials(tuning):
        msg = f"trial {trial} is out of range: the search has {n_trials(tuning)} trials per fold"
        raise FoldMismatch(msg)
    if tuning.method == "grid":
        grid = grid_points(tuning)
        if len(grid) > tuning.trials:  # a seeded subset, the same for every fold
            order = np.random.default_rng([seed, 1]).permutation(len(grid))
            return grid[int(order[trial])]
        return grid[trial]
    if tuning.method == "random":
        rng = np.random.default_rng([seed, 2, trial])  # the same candidate for every fold
        return {d.name: _draw(d, rng) for d in tuning.space}
    needed = history_needed(tuning, trial)
    got = sorted(int(h["trial"]) for h in history)
    if got != needed:
        msg = f"TPE trial {trial} of model {k} needs the results of trials {needed}, got {got}"
        raise FoldMismatch(msg)
    return _tpe(tuning, (seed * 1_000_003 + k * 10_007 + trial) % 2**32, history)


def run_trial(
    config: Config,
    data: Dataset,
    k: int,
    trial: int,
    *,
    history: Sequence[Mapping[str, Any]] = (),
    threads: int = 1,
) -> dict[str, Any]:
    """Train model ``k`` with trial ``trial``'s parameters; return the trial record.

    The test fold k is dropped first: the objective sees only the training and validation
    folds.
    """
    tuning = _tuning(config)
    params = suggest(tuning, config.seed, k, trial, history)
    roles = fold_roles(k, config.training.folds)
    seen = data.subset(data.fold != roles["test"])  # the test fold never enters a trial
    masks = {"validation": seen.fold == roles["validation"]}
    masks["train"] = ~masks["validation"]
    for name, mask in masks.items():
        if len(np.unique(seen.label[mask])) < 2:
            msg = f"model {k}: the {name} set lacks signal or background events"
            raise DataError(msg)
    _, history_curve, best = fit_booster(
        config,
        seen,
        masks,
        xgboost_params(config, k, threads, params),
        num_boost_round=n_rounds(config, params),
        threads=threads,
    )
    at_best = {
        f"{s}_{m}": float(history_curve[s][m][best])
        for s in ("train", "validation")
        for m in ("logloss", "auc")
    }
    record = {
        "fold": k,
        "trial": trial,
        "method": tuning.method,
        "objective_name": tuning.objective,
        "direction": DIRECTION[tuning.objective],
        "objective": at_best[f"validation_{tuning.objective}"],
        "params": params,
        "best_iteration": best,
        **at_best,
    }
    log.info(
        "model %d trial %d: %s -> %s %.5f", k, trial, params, tuning.objective, record["objective"]
    )
    return record


def _tuning(config: Config) -> Tuning:
    if config.training.tune is None:
        msg = "hyperparameter search is not enabled: set training.tune.enabled: true"
        raise ConfigError(msg)
    return config.training.tune


def select(config: Config, trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen parameters of every fold model: those of its best trial (ties: first).

    Raises :class:`FoldMismatch` unless every fold has exactly the trials 0..n-1.
    """
    tuning = _tuning(config)
    n = n_trials(tuning)
    sign = 1.0 if DIRECTION[tuning.objective] == "minimize" else -1.0
    chosen = {}
    for k in range(config.training.folds):
        mine = sorted((t for t in trials if t["fold"] == k), key=lambda t: t["trial"])
        if [t["trial"] for t in mine] != list(range(n)):
            got = [t["trial"] for t in mine]
            msg = f"model {k}: expected the results of trials 0..{n - 1}, got {got}"
            raise FoldMismatch(msg)
        best = min(mine, key=lambda t: (sign * t["objective"], t["trial"]))
        chosen[str(k)] = {
            "trial": best["trial"],
            "objective": best["objective"],
            "params": best["params"],
        }
    return {
        "method": tuning.method,
        "objective": tuning.objective,
        "direction": DIRECTION[tuning.objective],
        "trials_per_fold": n,
        "folds": chosen,
    }


def tuned_parameters(path: str | Path, k: int) -> dict[str, Any]:
    """The chosen parameters of model ``k`` from a ``best_params.json``."""
    try:
        chosen = json.loads(Path(path).read_text(encoding="utf-8"))["folds"]
    except (OSError, ValueError, KeyError) as err:
        msg = f"cannot read the tuned parameters from '{path}': {err}"
        raise DataError(msg) from err
    if str(k) not in chosen:
        msg = f"'{path}' has no parameters for model {k} (it has {sorted(chosen)}); rerun tuning"
        raise FoldMismatch(msg)
    return dict(chosen[str(k)]["params"])


def trial_rows(trials: Sequence[Mapping[str, Any]], chosen: Mapping[str, Any]) -> list[dict]:
    """One table row per trial, ordered by fold and trial, the chosen ones marked."""
    rows = []
    for t in sorted(trials, key=lambda t: (t["fold"], t["trial"])):
        row = {"fold": t["fold"], "trial": t["trial"], **t["params"]}
        row |= {
            "objective": t["objective"],
            "best_iteration": t["best_iteration"],
            "validation_logloss": t["validation_logloss"],
            "validation_auc": t["validation_auc"],
            "chosen": chosen["folds"][str(t["fold"])]["trial"] == t["trial"],
        }
        rows.append(row)
    return rows


def write_selection(
    config: Config, trials: Sequence[Mapping[str, Any]], output_dir: str | Path
) -> list[Path]:
    """Write best_params.json, trials.csv/.md and trials.json (the plot data of the trials
    plot, which the plots package draws: training never draws)."""
    chosen = select(config, trials)
    out = Path(output_dir)
    write_json(out / "best_params.json", chosen)
    rows = trial_rows(trials, chosen)
    note = (
        f"{chosen['method']} search, {chosen['trials_per_fold']} trials per fold model; "
        f"objective: weighted validation-fold {chosen['objective']} at the best iteration "
        "(the test fold of each model is never used); `chosen` marks each model's best trial."
    )
    write_table(
        rows, out / "trials.csv", out / "trials.md", title="Hyperparameter trials", note=note
    )
    plot_data = TuneTrials(
        method=chosen["method"],
        objective=chosen["objective"],
        trials=tuple(
            Trial(
                fold=t["fold"],
                trial=t["trial"],
                params=dict(t["params"]),
                objective=t["objective"],
                best_iteration=t["best_iteration"],
                chosen=chosen["folds"][str(t["fold"])]["trial"] == t["trial"],
            )
            for t in sorted(trials, key=lambda t: (t["fold"], t["trial"]))
        ),
    )
    paths = [out / "best_params.json", out / "trials.csv", out / "trials.md"]
    return [*paths, plot_data.write(out / "trials.json")]
