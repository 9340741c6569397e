"""Training weights: the signed physics weights made usable by a classifier.

XGBoost (and most scikit-learn estimators) reject negative weights, so training applies a
*negative-weight policy* to the signed, luminosity-normalised weights of ingest (in events):

- ``abs``: use |w| (keeps every event, over-counts the regions where NLO weights cancel);
- ``drop`` / ``zero``: negative weights become 0 (the event no longer enters the loss);
- ``annihilate``: each negative weight is cancelled against its nearest positive-weight
  neighbours of the same class in standardised feature space, like TMVA's
  ``PairNegWeightsGlobal``: the weight sum of each class is preserved, no weight stays
  negative, and the cancellation happens where it would happen in the physics distribution.

Optionally the background processes are balanced among themselves (each gets the same weight
sum) and the classes are balanced (signal sum = background sum). The result is scaled to a
mean of 1 over the events with non-zero weight so that ``min_child_weight`` keeps its usual
meaning. Evaluation never sees these weights: it uses the signed physics weights.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from sklearn.neighbors import NearestNeighbors

from hepml.exceptions import DataError

__all__ = [
    "POLICIES",
    "annihilate",
    "apply_policy",
    "balance",
    "group_factors",
    "training_weights",
]

log = logging.getLogger(__name__)

POLICIES = ("abs", "drop", "zero", "annihilate")
_FIRST_NEIGHBOURS = 8  # neighbours fetched per negative event at first; more only if needed


def _standardised(X: np.ndarray) -> np.ndarray:
    """Features in units of their standard deviation, missing values placed apart.

    A NaN (missing object) is put one standard deviation below the smallest observed value
    of its column, so events that lack the same object are close to each other and away
    from the events that have it (XGBoost's own treatment: missing values go to one side).
    """
    Z = np.asarray(X, dtype=np.float64)
    finite = np.isfinite(Z)
    Z = np.where(finite, Z, np.nan)
    with warnings.catch_warnings():  # all-NaN columns: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(Z, axis=0)
        std = np.nanstd(Z, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        Z = (Z - mean) / std
        low = np.nanmin(Z, axis=0) if len(Z) else np.zeros(Z.shape[1])
    low = np.where(np.isfinite(low), low, 0.0)
    return np.where(finite, Z, low - 1.0)


def _annihilate_group(w: np.ndarray, Z: np.ndarray) -> int:
    """Cancel the negative entries of ``w`` (in place) against their nearest positive ones.

    ``Z`` holds the standardised features of the same rows. Negative events are processed
    in row order; each takes weight from its positive neighbours in order of distance until
    its own weight is absorbed. Returns the number of positive events used up (set to 0).
    """
    neg = np.flatnonzero(w < 0)
    pos = np.flatnonzero(w > 0)
    # A k-d tree over the positive events: sklearn's exact nearest neighbours, deterministic.
    tree = NearestNeighbors(algorithm="kd_tree").fit(Z[pos])
    n_first = min(_FIRST_NEIGHBOURS, len(pos))
    neighbours = tree.kneighbors(Z[neg], n_neighbors=n_first, return_distance=False)
    emptied = 0
    for row, first in zip(neg, neighbours, strict=True):
        need = -w[row]
        n_tried = n_first
        candidates = first
        while True:
            for p in pos[candidates]:
                take = min(need, w[p])
                if take <= 0:
                    continue
                w[p] -= take
                need -= take
                if w[p] <= 0:
                    w[p] = 0.0
                    emptied += 1
                if need <= 0:
                    break
            if need <= 0 or n_tried >= len(pos):
                break
            # rare: the nearest ones were used up; look further out
            n_more = min(2 * n_tried, len(pos))
            ranked = tree.kneighbors(Z[row : row + 1], n_neighbors=n_more, return_distance=False)
            candidates = ranked[0, n_tried:]
            n_tried = n_more
        w[row] = 0.0
    return emptied


def _name(group: object) -> str:
    """'signal'/'background' for class labels 1/0, else the group value."""
    if isinstance(group, int | np.integer):
        return {1: "signal", 0: "background"}.get(int(group), str(group))
    return str(group)


def annihilate(weight: np.ndarray, X: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cancel negative weights against nearest positive neighbours within each ``group``.

    ``group`` is the class label (or any grouping: events never exchange weight across
    groups). Distances are Euclidean in features standardised per group. Preserves the
    weight sum of every group; raises :class:`DataError` if a group's sum is not positive
    (then no non-negative set of weights can represent it).
    """
    w = np.array(weight, dtype=np.float64)  # a copy: the caller's weights stay signed
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        wg = w[rows]
        if not np.any(wg < 0):
            continue
        total = wg.sum()
        if not total > 0:
            msg = (
                f"cannot annihilate the negative weights of the {_name(g)} events: their "
                f"weights sum to {total:g}; use negative_weights: abs or drop"
            )
            raise DataError(msg)
        n_neg = int(np.count_nonzero(wg < 0))
        emptied = _annihilate_group(wg, _standardised(X[rows]))
        w[rows] = wg
        log.info(
            "annihilated %d negative weights of the %s events against positive neighbours "
            "(%d positive events used up)",
            n_neg,
            _name(g),
            emptied,
        )
    return w


def apply_policy(
    weight: np.ndarray, label: np.ndarray, policy: str, X: np.ndarray | None = None
) -> np.ndarray:
    """Non-negative weights from signed ones by ``policy`` (see the module docstring)."""
    w = np.asarray(weight, dtype=np.float64)
    if policy == "abs":
        return np.abs(w)
    if policy in ("drop", "zero"):
        return np.where(w < 0, 0.0, w)
    if policy == "annihilate":
        if X is None:
            msg = "negative-weight policy 'annihilate' needs the feature matrix"
            raise ValueError(msg)
        return annihilate(w, X, label)
    msg = f"unknown negative-weight policy '{policy}' (allowed: {', '.join(POLICIES)})"
    raise ValueError(msg)


def balance(
    w: np.ndarray,
    label: np.ndarray,
    *,
    classes: bool,
    process: np.ndarray | None = None,
) -> np.ndarray:
    """Scale non-negative weights so that classes (and background processes) have equal sums.

    With ``process`` given, each background process is scaled to the same share of the
    background sum first (so a large Drell-Yan sample does not drown a small ttbar one);
    with ``classes`` the signal sum is then made equal to the background sum. Raises
    :class:`DataError` naming the class or process whose weights sum to zero.
    """
    w = np.asarray(w, dtype=np.float64)
    sig, bkg = label == 1, label == 0
    if process is not None:
        names = np.unique(process[bkg])
        target = w[bkg].sum() / max(len(names), 1)
        scale = np.ones_like(w)
        for name in names:
            rows = bkg & (process == name)
            total = w[rows].sum()
            if not total > 0:
                msg = (
                    f"background process '{name}' has training weights summing to {total:g}; "
                    "it cannot be balanced against the other backgrounds"
                )
                raise DataError(msg)
            scale[rows] = target / total
        w = w * scale
    sum_sig, sum_bkg = w[sig].sum(), w[bkg].sum()
    if not (sum_sig > 0 and sum_bkg > 0):
        msg = (
            f"training weights sum to {sum_sig:g} (signal) and {sum_bkg:g} (background); "
            "both must be positive"
        )
        raise DataError(msg)
    if classes:
        w = np.where(sig, w / sum_sig, w / sum_bkg)
    return w


def training_weights(
    weight: np.ndarray,
    label: np.ndarray,
    *,
    policy: str,
    balance: bool,
    X: np.ndarray | None = None,
    process: np.ndarray | None = None,
    balance_backgrounds: bool = False,
) -> np.ndarray:
    """Non-negative training weights with mean 1 from signed physics weights.

    ``policy`` is the negative-weight policy (``annihilate`` needs the features ``X``);
    ``balance`` equalises the signal and background sums; ``balance_backgrounds`` (needs
    ``process``) gives every background process the same weight sum.
    """
    w = apply_policy(weight, label, policy, X)
    if balance_backgrounds and process is None:
        msg = "balance_backgrounds needs the process of each event"
        raise ValueError(msg)
    w = _balance(w, label, classes=balance, process=process if balance_backgrounds else None)
    return w * (np.count_nonzero(w) / w.sum())


_balance = balance  # ``training_weights`` has a parameter named ``balance``


def group_factors(
    sums: np.ndarray,
    label: np.ndarray,
    n_nonzero: int,
    *,
    balance: bool,
    process: np.ndarray | None = None,
) -> np.ndarray:
    """What :func:`training_weights` does, as one factor per group of events.

    For data handled in pieces (:mod:`hepml.train.distributed`), where only sums over the whole set
    can be had. The events are split into non-empty groups of one label (and one process);
    ``sums`` holds each group's sum of weights after an element-wise policy
    (:func:`apply_policy`: abs, drop, zero) and ``n_nonzero`` the number of events whose
    weight is then non-zero. An event's policy weight times its group's factor is its
    training weight: the same balancing (``process`` given: background processes too), the
    same errors, and a mean of 1 over the non-zero weights, up to rounding.
    """
    sums = np.asarray(sums, dtype=np.float64)
    balanced = _balance(sums, label, classes=balance, process=process)
    factors = np.divide(balanced, sums, out=np.zeros_like(balanced), where=sums > 0)
    return factors * (n_nonzero / balanced.sum())
