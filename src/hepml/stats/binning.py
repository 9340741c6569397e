"""Bin edges of the classifier score for the fit.

Two building blocks, combined by :func:`fit_edges` as :class:`FitBinning` says:

- :func:`flat_signal_edges`: edges at weighted quantiles of the signal score, so that each bin
  holds the same expected signal; ties stay in one bin, negative weights are tolerated;
- :func:`merge_edges`: starting from fine bins, merge neighbours from the high-score end until
  every bin has at least ``min_background`` expected background events and a relative Monte
  Carlo uncertainty of the background ``sqrt(sumw2) / sumw`` of at most ``max_rel_stat_unc``.

Everything is a deterministic function of its inputs (no random numbers, stable sorts).
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
from numpy.typing import ArrayLike

from hepml.exceptions import ConfigError, DataError
from hepml.stats.fill import histogram

__all__ = [
    "BINNING_METHODS",
    "FitBinning",
    "fit_edges",
    "flat_signal_edges",
    "merge_edges",
]

log = logging.getLogger(__name__)

BINNING_METHODS = ("merge", "flat_signal")


def flat_signal_edges(
    score: ArrayLike, weight: ArrayLike, n_bins: int, *, low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    """Edges from ``low`` to ``high`` with about ``1 / n_bins`` of the signal yield per bin.

    Each inner edge lies midway between two distinct signal scores, at the one whose
    cumulative weight is nearest the target ``k / n_bins`` of the total, so no event sits
    on an edge and events with tied scores stay together. Negative weights make the
    cumulative sum non-monotonic; the first crossing of each target is used. Fewer than
    ``n_bins`` bins come back (with a warning) when ties or few events leave no room.
    """
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        msg = f"the number of flat-signal bins must be a positive integer; got {n_bins!r}"
        raise ConfigError(msg)
    sumw, _ = histogram(score, weight, [low, high], what="the signal")  # checks the range
    if not sumw[0] > 0:
        msg = f"the signal yield is {sumw[0]:g}; flat-signal bins need it positive"
        raise DataError(msg)
    unique, inverse = np.unique(np.asarray(score, dtype=float), return_inverse=True)
    cumulative = np.cumsum(np.bincount(inverse.ravel(), weights=np.asarray(weight, float)))
    running_max = np.maximum.accumulate(cumulative)
    targets = np.arange(1, n_bins) / n_bins * cumulative[-1]
    first = np.minimum(np.searchsorted(running_max, targets, side="left"), unique.size - 1)
    below = np.maximum(first - 1, 0)
    nearer_below = np.abs(cumulative[below] - targets) < np.abs(cumulative[first] - targets)
    index = np.where(nearer_below, below, first)
    index = np.unique(index[index < unique.size - 1])  # an edge above the last score is `high`
    inner = 0.5 * (unique[index] + unique[index + 1])
    edges = np.concatenate([[low], inner, [high]])
    if edges.size - 1 < n_bins:
        log.warning(
            "flat-signal binning: %d bins instead of %d (tied or too few signal scores)",
            edges.size - 1,
            n_bins,
        )
    return edges


def _meets(sumw: float, sumw2: float, min_background: float, max_rel: float) -> bool:
    """Whether a merged bin's background passes both thresholds (and is positive)."""
    return sumw > 0 and sumw >= min_background and math.sqrt(max(sumw2, 0.0)) <= max_rel * sumw


def merge_edges(
    edges: ArrayLike,
    background_sumw: ArrayLike,
    background_sumw2: ArrayLike,
    *,
    min_background: float = 0.0,
    max_rel_stat_unc: float | None = None,
) -> np.ndarray:
    """Merge adjacent bins from the high-score end until each passes the background thresholds.

    Bins are accumulated from the top down and closed as soon as the accumulated background
    is positive, at least ``min_background`` (expected events) and has ``sqrt(sumw2)/sumw <=
    max_rel_stat_unc`` (None: no limit). The unclosed remainder at the low-score end joins
    the bin above it (and further ones, should that bin then fail). Every returned bin passes;
    if even one bin over the whole range fails, a DataError says by how much.
    """
    edges = np.asarray(edges, dtype=float)
    sumw = np.asarray(background_sumw, dtype=float)
    sumw2 = np.asarray(background_sumw2, dtype=float)
    if not edges.size - 1 == sumw.size == sumw2.size:
        msg = f"{edges.size} edges need {edges.size - 1} bins; got {sumw.size} and {sumw2.size}"
        raise DataError(msg)
    max_rel = math.inf if max_rel_stat_unc is None else float(max_rel_stat_unc)
    if min_background < 0 or not max_rel > 0:
        msg = (
            "merging needs min_background >= 0 and max_rel_stat_unc > 0; got "
            f"{min_background} and {max_rel_stat_unc}"
        )
        raise ConfigError(msg)
    total_w, total_w2 = float(sumw.sum()), float(sumw2.sum())
    if not _meets(total_w, total_w2, min_background, max_rel):
        rel = math.sqrt(max(total_w2, 0.0)) / total_w if total_w > 0 else math.inf
        msg = (
            f"even one bin over [{edges[0]:g}, {edges[-1]:g}] has a background of {total_w:g} "
            f"events with relative MC uncertainty {rel:.3g}; the binning needs at least "
            f"{min_background:g} events (fit.binning.min_background) and at most {max_rel:g} "
            "(fit.binning.max_rel_stat_unc). A sample whose weight sits in a few events "
            "cannot meet a tight limit: raise max_rel_stat_unc, or set it to null (the MC "
            "statistics are in the fit's staterror either way)"
        )
        raise DataError(msg)
    boundaries = []  # indices into edges of closed bins' lower edges, from the top down
    acc_w = acc_w2 = 0.0
    for i in range(sumw.size - 1, 0, -1):
        acc_w, acc_w2 = acc_w + sumw[i], acc_w2 + sumw2[i]
        if _meets(acc_w, acc_w2, min_background, max_rel):
            boundaries.append(i)
            acc_w = acc_w2 = 0.0
    # the remainder (bins below the last boundary) joins the bins above until it passes
    while boundaries:
        low_w = float(sumw[: boundaries[-1]].sum())
        low_w2 = float(sumw2[: boundaries[-1]].sum())
        if _meets(low_w, low_w2, min_background, max_rel):
            break
        boundaries.pop()
    return edges[[0, *sorted(boundaries), sumw.size]]


@dataclasses.dataclass(frozen=True)
class FitBinning:
    """How the fit's score bins are chosen.

    ``method='merge'`` starts from ``fine_bins`` uniform bins in ``[low, high]``;
    ``method='flat_signal'`` from ``n_bins`` bins of equal expected signal. Either way the
    bins are then merged from the high-score end until each has at least ``min_background``
    expected background events (and always a positive background, which the fit needs) and a
    relative MC uncertainty of the background of at most ``max_rel_stat_unc`` (None: no
    limit).
    """

    method: str = "merge"
    n_bins: int = 10
    fine_bins: int = 100
    low: float = 0.0
    high: float = 1.0
    min_background: float = 1.0
    max_rel_stat_unc: float | None = 0.2

    def __post_init__(self) -> None:
        if self.method not in BINNING_METHODS:
            msg = f"unknown fit binning method '{self.method}'; valid: {', '.join(BINNING_METHODS)}"
            raise ConfigError(msg)
        for name in ("n_bins", "fine_bins"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                msg = f"fit binning {name} must be a positive integer; got {value!r}"
                raise ConfigError(msg)
        if not self.low < self.high:
            msg = f"fit binning needs low < high; got {self.low} and {self.high}"
            raise ConfigError(msg)
        if self.min_background < 0:
            msg = f"fit binning min_background must be >= 0; got {self.min_background}"
            raise ConfigError(msg)
        if self.max_rel_stat_unc is not None and not self.max_rel_stat_unc > 0:
            value = self.max_rel_stat_unc
            msg = f"fit binning max_rel_stat_unc must be positive or null; got {value}"
            raise ConfigError(msg)


def fit_edges(
    binning: FitBinning,
    signal_score: ArrayLike,
    signal_weight: ArrayLike,
    background_score: ArrayLike,
    background_weight: ArrayLike,
) -> np.ndarray:
    """The score bin edges for the fit, from the nominal signal and background events."""
    if binning.method == "flat_signal":
        fine = flat_signal_edges(
            signal_score, signal_weight, binning.n_bins, low=binning.low, high=binning.high
        )
    else:
        fine = np.linspace(binning.low, binning.high, binning.fine_bins + 1)
    sumw, sumw2 = histogram(background_score, background_weight, fine, what="the background")
    edges = merge_edges(
        fine,
        sumw,
        sumw2,
        min_background=binning.min_background,
        max_rel_stat_unc=binning.max_rel_stat_unc,
    )
    log.info("fit binning (%s): %d bins, edges %s", binning.method, edges.size - 1, edges)
    return edges
