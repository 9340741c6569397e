"""Calibrated outputs and the rarity of a score, fitted on one fold model's validation fold.

A BDT trained on balanced classes orders events well, but its score is not the probability
that an event is signal. The ``calibration`` section fits, for each fold model on its own
validation fold only (never its test fold, on which the evaluation then measures them):

- ``isotonic``: scikit-learn's ``IsotonicRegression`` of the class (1 signal, 0 background)
  on the score: the monotone step function closest to the signal fraction, kept as knots and
  interpolated linearly (``np.interp``, clipped at the ends, as scikit-learn predicts);
- ``platt``: Platt scaling, a logistic regression of the class on the score's log-odds
  (scikit-learn's ``LogisticRegression`` without penalty): ``expit(a logit(s) + b)``;
- ``rarity``: TMVA's rarity transform, ``R(s) = F_B(s)``, the background's (weighted)
  cumulative distribution of the score: flat for background, peaked at 1 for signal. Kept
  as at most :data:`RARITY_KNOTS` knots of the empirical distribution, linear between them.

Weights: the physics weights with the training's negative-weight policy applied element by
element (``abs``; ``drop``/``zero``: 0; ``annihilate``, which pairs events in feature space,
falls back to ``abs`` here), and with ``prior: balanced`` the signal and background sums made
equal (the training's balance), else left at the expected yields (``physics``): the
calibrated score is then the probability of signal at the configured luminosity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from hepml.exceptions import DataError
from hepml.score_outputs import ScoreOutputs, logit

__all__ = [
    "RARITY_KNOTS",
    "calibration_weights",
    "fit_calibration",
    "fit_isotonic",
    "fit_platt",
    "fit_rarity",
]

log = logging.getLogger(__name__)

RARITY_KNOTS = 2001  # at most this many knots of the background's cumulative distribution


def calibration_weights(
    weight: np.ndarray, label: np.ndarray, *, policy: str, prior: str
) -> np.ndarray:
    """Non-negative weights of the calibration (see the module docstring)."""
    w = np.asarray(weight, dtype=np.float64)
    w = np.where(w < 0, 0.0, w) if policy in ("drop", "zero") else np.abs(w)
    if prior == "balanced":
        signal = np.asarray(label) == 1
        totals = {name: float(w[m].sum()) for name, m in (("signal", signal), ("bkg", ~signal))}
        if not all(t > 0 for t in totals.values()):
            msg = f"calibration weights sum to {totals}; both classes must be positive"
            raise DataError(msg)
        w = np.where(signal, w / totals["signal"], w / totals["bkg"])
    elif prior != "physics":
        msg = f"unknown calibration prior '{prior}' (physics or balanced)"
        raise ValueError(msg)
    return w


def _check(score: np.ndarray, label: np.ndarray, weight: np.ndarray, what: str) -> None:
    for value, name in ((1, "signal"), (0, "background")):
        total = float(weight[label == value].sum())
        if not total > 0:
            msg = (
                f"{what}: the {name} events of the validation fold weigh {total:g}; "
                "a fit needs both classes"
            )
            raise DataError(msg)


def fit_isotonic(
    score: np.ndarray, label: np.ndarray, weight: np.ndarray
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots (x, y) of the isotonic regression of ``label`` on ``score`` (weights >= 0)."""
    from sklearn.isotonic import IsotonicRegression

    _check(score, label, weight, "isotonic calibration")
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    keep = weight > 0
    model.fit(score[keep], label[keep].astype(np.float64), sample_weight=weight[keep])
    return tuple(map(float, model.X_thresholds_)), tuple(map(float, model.y_thresholds_))


def fit_platt(score: np.ndarray, label: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of ``P(signal) = expit(slope logit(score) + intercept)``."""
    from sklearn.linear_model import LogisticRegression

    _check(score, label, weight, "Platt calibration")
    keep = weight > 0
    # rescaled to mean 1: the solver's tolerance is then the same for yields of any size
    w = weight[keep] / weight[keep].mean()
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)  # no penalty
    model.fit(logit(score[keep])[:, None], label[keep], sample_weight=w)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def fit_rarity(
    score: np.ndarray, weight: np.ndarray, *, knots: int = RARITY_KNOTS
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Knots (x, cdf) of the weighted cumulative distribution of background ``score``.

    ``cdf`` at ``x`` is the weight fraction with a score <= x. Knots are the scores at which
    the distribution crosses ``j / (knots - 1)``, plus its ends; (0, 0) and (1, 1) bound it
    when the scores lie inside [0, 1], so that R maps [0, 1] onto [0, 1].
    """
    score = np.asarray(score, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    total = float(weight.sum())
    if not total > 0:
        msg = f"rarity: the background of the validation fold weighs {total:g}; it must be positive"
        raise DataError(msg)
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    cumulative = np.cumsum(weight[order]) / total
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_score)), sorted_score.size - 1]
    x, cdf = sorted_score[last_of_tie], cumulative[last_of_tie]
    cdf[-1] = 1.0
    if x.size > knots:
        targets = np.linspace(0.0, 1.0, knots)
        picked = np.unique(np.r_[0, np.searchsorted(cdf, targets), x.size - 1].clip(0, x.size - 1))
        x, cdf = x[picked], cdf[picked]
    if x[0] > 0.0:
        x, cdf = np.r_[0.0, x], np.r_[0.0, cdf]
    if x[-1] < 1.0:
        x, cdf = np.r_[x, 1.0], np.r_[cdf, 1.0]
    return tuple(map(float, x)), tuple(map(float, cdf))


def fit_calibration(
    outputs: ScoreOutputs,
    score: np.ndarray,
    label: np.ndarray,
    weight: np.ndarray,
    *,
    methods: Sequence[str],
    rarity: bool,
) -> ScoreOutputs:
    """``outputs`` with the calibrations fitted on (``score``, ``label``, ``weight``): the
    validation fold's scores, classes and calibration weights (:func:`calibration_weights`)."""
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label)
    weight = np.asarray(weight, dtype=np.float64)
    fitted = {}
    if "isotonic" in methods:
        fitted["isotonic"] = fit_isotonic(score, label, weight)
    if "platt" in methods:
        fitted["platt"] = fit_platt(score, label, weight)
    if rarity:
        background = label == 0
        fitted["rarity"] = fit_rarity(score[background], weight[background])
    log.info("calibration fitted on %d validation events: %s", len(score), ", ".join(fitted))
    from dataclasses import replace

    return replace(outputs, **fitted)
