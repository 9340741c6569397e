"""Hyperparameter search on the validation folds, never on the test folds.

Each fold model k gets its own search: a *trial* trains model k's BDT with candidate XGBoost
parameters on its training folds, early-stops on its validation fold (k+1) mod K, and scores
the weighted validation log-loss (or AUC) at the best iteration. The test fold k is removed
from the data before anything else happens, so it cannot influence the parameters chosen
for model k, and model k's out-of-fold scores stay an unbiased estimate of the performance
(nested cross-validation). The chosen parameters of model k are those of its best trial.

Trial 0 of every fold model is the config's own ``training.xgboost`` parameters (the
*defaults*); trials 1 to ``trials`` are candidates from the ``training.tune.space`` of the
config (by default the parameters that matter for weighted HEP samples: ``max_depth``,
``eta``, ``min_child_weight``, ``lambda``, ``alpha``, ``subsample``). A searched ``eta``
comes with its number of rounds, ``n_estimators x eta(config) / eta``, so that a small step
is not cut short by the cap on rounds (unless ``n_estimators`` is searched itself). The
candidates (grid, random, Optuna's TPE; ``auto``: TPE when Optuna is installed, else
random) come from :mod:`hepml.train.search`.

The chosen trial of model k is the one with the best objective among the trials whose
validation AUC is not below the defaults' (so the defaults are chosen unless a candidate is
better on both counts): a search never makes a fold model worse on its validation fold than
the untuned one. ``best_params.json`` reports each model's gain over the defaults.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml.atomic import write_json
from hepml.config import Config
from hepml.config.model import Tuning
from hepml.exceptions import ConfigError, DataError, FoldMismatch
from hepml.folds import fold_roles
from hepml.plotdata.training import Trial, TuneTrials
from hepml.tables.features import Dataset
from hepml.tables.text import write_table
from hepml.train.bdt import fit_booster, n_rounds, xgboost_params
from hepml.train.search import DIRECTION, grid_points, history_needed, n_trials, suggest

__all__ = [
    "grid_points",
    "history_needed",
    "n_trials",
    "run_trial",
    "select",
    "suggest",
    "tuned_parameters",
    "with_rounds",
    "write_selection",
]

log = logging.getLogger(__name__)


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
    params = with_rounds(config, suggest(tuning, config.seed, k, trial, history))
    roles = fold_roles(k, config.training.folds)
    seen = data.subset(data.fold != roles["test"])  # the test fold never enters a trial
    masks = {"validation": seen.fold == roles["validation"]}
    masks["train"] = ~masks["validation"]
    for name, mask in masks.items():
        if len(np.unique(seen.label[mask])) < 2:
            msg = f"model {k}: the {name} set lacks signal or background events"
            raise DataError(msg)
    fit = fit_booster(
        config,
        seen,
        masks,
        xgboost_params(config, k, threads, params),
        num_boost_round=n_rounds(config, params),
        threads=threads,
    )
    fit.finish(fit.score_curve_sets(seen))
    history_curve, best = fit.history, fit.best
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
        # the values this trial trained with, the defaults' included (TPE learns from them)
        "point": {
            **{d.name: {**config.training.xgboost, **params}.get(d.name) for d in tuning.space},
            "n_estimators": n_rounds(config, params),
        },
        "best_iteration": best,
        **at_best,
    }
    log.info(
        "model %d trial %d: %s -> %s %.5f", k, trial, params, tuning.objective, record["objective"]
    )
    return record


def with_rounds(config: Config, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the number of rounds of a searched ``eta``: the config's
    ``n_estimators`` times the config's ``eta`` over the candidate's (at least 1), unless
    ``n_estimators`` is searched too."""
    params = dict(params)
    if "eta" in params and "n_estimators" not in params:
        xgb = config.training.xgboost
        scaled = n_rounds(config) * float(xgb.get("eta", 0.3)) / float(params["eta"])
        params["n_estimators"] = max(math.ceil(scaled - 1e-9), 1)
    return params


def _tuning(config: Config) -> Tuning:
    if config.training.tune is None:
        msg = "hyperparameter search is not enabled: set training.tune.enabled: true"
        raise ConfigError(msg)
    return config.training.tune


def select(config: Config, trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen parameters of every fold model, and what they gain over the defaults.

    Model k's choice is its trial with the best objective among those whose validation AUC
    is not below the defaults' (trial 0); ties go to the earlier trial, so the defaults win
    unless a candidate is better. ``gain`` is the objective's improvement over the defaults
    (positive: better), ``auc_gain`` the validation AUC's. Raises :class:`FoldMismatch`
    unless every fold has exactly the trials 0..n-1 of this search method.
    """
    tuning = _tuning(config)
    n = n_trials(tuning)
    sign = 1.0 if DIRECTION[tuning.objective] == "minimize" else -1.0
    chosen = {}
    for k in range(config.training.folds):
        mine = sorted((t for t in trials if t["fold"] == k), key=lambda t: t["trial"])
        got = [t["trial"] for t in mine]
        if got != list(range(n)) or any(
            t.get("method", tuning.method) != tuning.method for t in mine
        ):
            msg = (
                f"model {k}: expected the results of trials 0..{n - 1} of a {tuning.method} "
                f"search, got trials {got}; rerun the search"
            )
            raise FoldMismatch(msg)
        defaults = mine[0]
        allowed = [t for t in mine if t["validation_auc"] >= defaults["validation_auc"]]
        best = min(allowed, key=lambda t: (sign * t["objective"], t["trial"]))
        chosen[str(k)] = {
            "trial": best["trial"],
            "objective": best["objective"],
            "params": best["params"],
            "defaults_objective": defaults["objective"],
            "gain": sign * (defaults["objective"] - best["objective"]),
            "validation_auc": best["validation_auc"],
            "auc_gain": best["validation_auc"] - defaults["validation_auc"],
        }
        log.info(
            "model %d: trial %d chosen, validation %s %.5f (defaults %.5f), AUC %+.5f",
            k,
            best["trial"],
            tuning.objective,
            best["objective"],
            defaults["objective"],
            chosen[str(k)]["auc_gain"],
        )
    gains = [c["gain"] for c in chosen.values()]
    return {
        "method": tuning.method,
        "objective": tuning.objective,
        "direction": DIRECTION[tuning.objective],
        "trials_per_fold": n,
        "mean_gain": float(np.mean(gains)),
        "mean_auc_gain": float(np.mean([c["auc_gain"] for c in chosen.values()])),
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
    values = {(t["fold"], t["trial"]): t.get("point", t["params"]) for t in trials}
    names = list(dict.fromkeys(name for v in values.values() for name in v))
    for t in sorted(trials, key=lambda t: (t["fold"], t["trial"])):
        point = values[t["fold"], t["trial"]]
        row = {"fold": t["fold"], "trial": t["trial"], **{n: point.get(n) for n in names}}
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
    gains = ", ".join(
        f"model {k}: {c['gain']:+.5f} ({c['auc_gain']:+.5f} AUC)"
        for k, c in chosen["folds"].items()
    )
    note = (
        f"{chosen['method']} search, {chosen['trials_per_fold']} trials per fold model, trial 0 "
        f"the config's own parameters; objective: weighted validation-fold "
        f"{chosen['objective']} at the best iteration (the test fold of each model is never "
        "used); `chosen` marks each model's choice: the best objective among the trials whose "
        "validation AUC is not below trial 0's. Gain of the choice over trial 0 (objective, "
        f"positive = better): {gains}."
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
                params=dict(t.get("point", t["params"])),  # trial 0 too
                objective=t["objective"],
                best_iteration=t["best_iteration"],
                chosen=chosen["folds"][str(t["fold"])]["trial"] == t["trial"],
            )
            for t in sorted(trials, key=lambda t: (t["fold"], t["trial"]))
        ),
    )
    paths = [out / "best_params.json", out / "trials.csv", out / "trials.md"]
    return [*paths, plot_data.write(out / "trials.json")]
