"""Learning curves and early stopping of a fold model, as XGBoost training callbacks.

What a round costs beyond the boosting itself decides how close training comes to a bare
notebook that early-stops on the validation log-loss alone (bench/bench_train.py). So:

- the **validation log-loss** (weighted, the early-stopping metric) is XGBoost's own
  evaluation of the whole validation set, every round, as in the notebook;
- the **training log-loss** is evaluated every round on a fixed subsample of the training
  events (as many as the validation set has, at most): enough to see the gap between the
  curves, at a fraction of the cost of the whole training set;
- the **AUC** of both (a sort per evaluation, the costly metric) every ``auc_every`` rounds
  and at the best iteration (:class:`AucEvery`); the other rows of ``learning_curve.csv``
  leave it empty.

Early stopping (:class:`EarlyStopping`) stops when the validation log-loss has not improved
for ``patience`` rounds and keeps the best round, but never fewer than ``min_rounds`` trees:
where a few events carry most of a class's weight (QCD multijet MC), the validation loss
jumps from round to round, and its first minimum can come after a handful of trees. On the
CMS HEP tutorial sample (bench/bench_hard_sample.py, 16 seeds) a floor of 20 rounds raised
the out-of-fold AUC from 0.911 to 0.927 and halved its spread over seeds; a loss averaged
over the last 5 or 10 rounds instead of the floor gained less (0.914, 0.921), and nothing on
top of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from hepml.tables.features import Dataset

__all__ = ["AucEvery", "EarlyStopping", "Fit", "best_round", "subsample_rows", "weighted_auc"]

log = logging.getLogger(__name__)


def weighted_auc(score: np.ndarray, label: np.ndarray, weight: np.ndarray) -> float:
    """Area under the ROC curve with non-negative event weights, ties counted as 1/2.

    The trapezoid rule over the weighted ROC curve (what ``sklearn.metrics.roc_auc_score``
    computes); NaN when a class has no weight.
    """
    order = np.argsort(-np.asarray(score), kind="stable")
    s, w = np.asarray(score)[order], np.asarray(weight)[order]
    signal = np.asarray(label)[order] == 1
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.array([], int)
    tp = np.cumsum(np.where(signal, w, 0.0))[last_of_tie]
    fp = np.cumsum(np.where(signal, 0.0, w))[last_of_tie]
    if not (tp.size and tp[-1] > 0 and fp[-1] > 0):
        return float("nan")
    return float(np.trapezoid(np.r_[0.0, tp] / tp[-1], np.r_[0.0, fp] / fp[-1]))


def subsample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` of the row indices 0..n-1 (all of them if n <= size), drawn with ``seed``,
    in increasing order."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


class AucEvery(xgb.callback.TrainingCallback):
    """The weighted AUC of some sets every ``every`` rounds (round 0 first).

    ``sets`` maps a name to ``(matrix, label, weight)``; each matrix is one of the training's
    evaluation sets, so predicting it costs only the newest tree (XGBoost's prediction
    cache). ``values[name]`` maps round -> AUC; ``auc(score, label, weight)`` computes it
    (:func:`weighted_auc` by default).
    """

    def __init__(
        self,
        sets: Mapping[str, tuple[Any, np.ndarray, np.ndarray]],
        every: int,
        auc: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None,
    ):
        super().__init__()
        self.sets, self.every = sets, every
        self.auc = auc or weighted_auc
        self.values: dict[str, dict[int, float]] = {name: {} for name in sets}

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        if self.every and epoch % self.every == 0:
            for name, (matrix, label, weight) in self.sets.items():
                self.values[name][epoch] = self.auc(model.predict(matrix), label, weight)
        return False


def best_round(loss: Any, min_rounds: int) -> int:
    """The round :class:`EarlyStopping` keeps, from the whole validation-loss curve ``loss``:
    the first lowest loss from round ``min_rounds - 1`` on (or the last round if fewer)."""
    loss = np.asarray(loss, dtype=np.float64)
    first = min(max(min_rounds, 1), loss.size) - 1
    return first + int(np.argmin(loss[first:]))


class EarlyStopping(xgb.callback.TrainingCallback):
    """Stop when the validation log-loss has not improved for ``patience`` rounds.

    The loss is the metric ``metric`` of the evaluation set ``data``. Rounds before
    ``min_rounds`` never count as the best, so the kept model has at least ``min_rounds``
    trees (or all the rounds there were). ``best`` is the index of the best round so far.
    """

    def __init__(
        self,
        patience: int,
        *,
        min_rounds: int = 1,
        data: str = "validation",
        metric: str = "logloss",
    ):
        super().__init__()
        self.patience, self.min_rounds = patience, max(min_rounds, 1)
        self.data, self.metric = data, metric
        self.best, self._best_loss = 0, np.inf

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        value = float(evals_log[self.data][self.metric][-1])
        if epoch + 1 <= self.min_rounds or value < self._best_loss:
            # until min_rounds, the latest round is the best there may be
            self.best, self._best_loss = epoch, value
        return epoch + 1 >= self.min_rounds and epoch - self.best >= self.patience


@dataclass
class Fit:
    """A booster cut at its best iteration, with its learning curve.

    ``history[set][metric]`` has one value per round (:mod:`hepml.train.curves`): the
    log-loss every round, the AUC every ``training.learning_curve.auc_every`` rounds and
    None in between. ``auc_sets`` holds, per set, the rows of the data set, labels and
    weights the curve's AUC is computed on; :meth:`finish` adds the AUC at the best round
    from the scores of the final model (which training computes anyway).
    """

    booster: xgb.Booster
    history: dict[str, dict[str, list[float | None]]]
    best: int
    auc_sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    auc: Callable[[np.ndarray, np.ndarray, np.ndarray], float] = weighted_auc

    def finish(self, score: np.ndarray) -> None:
        """Fill in the AUC at the best round; ``score[i]`` is the final model's score of
        row i of the data set (only the rows of ``auc_sets`` are read)."""
        for name, (rows, label, weight) in self.auc_sets.items():
            auc = self.history[name]["auc"]
            if auc[self.best] is None:
                auc[self.best] = self.auc(score[rows], label, weight)

    def score_curve_sets(self, data: Dataset) -> np.ndarray:
        """The final model's scores of the rows of ``auc_sets`` (NaN elsewhere)."""
        rows = np.unique(np.concatenate([r for r, _, _ in self.auc_sets.values()]))
        score = np.full(len(data), np.nan)
        score[rows] = self.booster.inplace_predict(data.X[rows], validate_features=False)
        return score
