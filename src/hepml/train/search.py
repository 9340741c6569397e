"""Candidates of the hyperparameter search (:mod:`hepml.train.tune`), trial by trial.

Trial 0 of every fold model is the config's own parameters (no candidate: ``{}``); trial
i >= 1 is candidate i - 1 of the method:

- ``grid``: every combination (``values``, or ``steps`` points of a range); if there are
  more than ``trials`` combinations, a seeded random subset of ``trials`` of them;
- ``random``: independent draws (uniform, or log-uniform with ``log: true``);
- ``tpe``: Optuna's Tree-structured Parzen Estimator (``pip install hepml[tune]``), in
  batches of ``batch`` trials that learn from the finished trials of the earlier batches
  (trial 0 included, when the config's values lie inside the space).

Grid and random candidates depend on the seed and the trial index only (the same candidate
for every fold), so every trial is an independent job. All of it is deterministic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepml.config.model import Dimension, Tuning
from hepml.exceptions import ConfigError, FoldMismatch

__all__ = ["grid_points", "history_needed", "n_trials", "suggest"]

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
    """Number of trials per fold model: the defaults (trial 0), then the budget of
    candidates, or the grid size if smaller."""
    if tuning.method == "grid":
        return 1 + min(tuning.trials, len(grid_points(tuning)))
    return 1 + tuning.trials


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
        point = {name: past.get("point", past["params"]).get(name) for name in dists}
        if all(_within(dists[name], value) for name, value in point.items()):
            # the defaults may lie outside the space: then TPE does not learn from them
            study.add_trial(
                optuna.trial.create_trial(
                    params=point, distributions=dists, value=past["objective"]
                )
            )
    return dict(study.ask(dists).params)


def _within(dist: Any, value: Any) -> bool:
    """Whether ``value`` is a point of the Optuna distribution ``dist``."""
    if value is None:
        return False
    if hasattr(dist, "choices"):
        return value in dist.choices
    return isinstance(value, int | float) and dist.low <= value <= dist.high


def suggest(
    tuning: Tuning, seed: int, k: int, trial: int, history: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The candidate parameters of trial ``trial`` of model ``k`` ({} for trial 0: the
    config's own parameters).

    ``history`` (tpe only) holds the finished trials :func:`history_needed` names.
    """
    if not 0 <= trial < n_trials(tuning):
        msg = f"trial {trial} is out of range: the search has {n_trials(tuning)} trials per fold"
        raise FoldMismatch(msg)
    if trial == 0:
        return {}
    candidate = trial - 1
    if tuning.method == "grid":
        grid = grid_points(tuning)
        if len(grid) > tuning.trials:  # a seeded subset, the same for every fold
            order = np.random.default_rng([seed, 1]).permutation(len(grid))
            return grid[int(order[candidate])]
        return grid[candidate]
    if tuning.method == "random":
        rng = np.random.default_rng([seed, 2, candidate])  # the same candidate for every fold
        return {d.name: _draw(d, rng) for d in tuning.space}
    needed = history_needed(tuning, trial)
    got = sorted(int(h["trial"]) for h in history)
    if got != needed:
        msg = f"TPE trial {trial} of model {k} needs the results of trials {needed}, got {got}"
        raise FoldMismatch(msg)
    return _tpe(tuning, (seed * 1_000_003 + k * 10_007 + trial) % 2**32, history)
