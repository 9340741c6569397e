"""Expected significance of a cut on the classifier score, and the cut that maximises it.

The weights are luminosity-normalised (``hepml.train.weights``), so the weighted sums of the
out-of-fold test events above a cut are the expected signal and background yields ``s`` and
``b`` at the configured luminosity. For each cut the scan gives ``s``, ``b``, the efficiencies,
the purity ``s / (s + b)`` and three significances:

- ``s / sqrt(b)``, the large-background limit;
- ``s / sqrt(s + b)``;
- the Asimov significance of a counting experiment (Cowan, Cranmer, Gross, Vitells, Eur.
  Phys. J. C 71 (2011) 1554, eq. 97) ``Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s))``, which tends
  to ``s / sqrt(b)`` for ``s << b`` and stays sensible when ``b`` is small.

No background uncertainty is included. Pure functions on numpy arrays, no I/O.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hepml.exceptions import ConfigError, DataError

__all__ = [
    "METRICS",
    "SignificanceScan",
    "asimov_significance",
    "optimal_cut",
    "scan_summary",
    "significance_scan",
    "yields_above",
]

log = logging.getLogger(__name__)

# name of the significance -> its column in the scan (and in tables and JSON)
METRICS = ("asimov", "s_over_sqrt_b", "s_over_sqrt_s_plus_b")


def asimov_significance(s: ArrayLike, b: ArrayLike) -> np.ndarray:
    """``Z_A = sqrt(2 ((s + b) ln(1 + s/b) - s))`` element-wise, for expected yields s and b.

    NaN where ``b <= 0`` (undefined), 0 where ``s <= 0`` (no excess, no significance).
    ``log1p`` keeps the small-``s/b`` limit ``Z_A -> s / sqrt(b)`` accurate.
    """
    s, b = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(b, dtype=float))
    good = (b > 0) & (s > 0)
    safe_s, safe_b = np.where(good, s, 1.0), np.where(good, b, 1.0)
    # clip tiny negative rounding of the bracket for s << b before the square root
    bracket = np.maximum(2.0 * ((safe_s + safe_b) * np.log1p(safe_s / safe_b) - safe_s), 0.0)
    return np.where(good, np.sqrt(bracket), np.where(b > 0, 0.0, np.nan))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is not positive."""
    good = denominator > 0
    return np.where(good, numerator / np.where(good, denominator, 1.0), np.nan)


def yields_above(scores: ArrayLike, weights: ArrayLike, cuts: ArrayLike) -> np.ndarray:
    """Sum of ``weights`` of the events with ``score > cut``, for each cut (sorted cumsum)."""
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(scores, kind="stable")
    tail = np.r_[np.cumsum(np.asarray(weights, dtype=float)[order][::-1])[::-1], 0.0]
    return tail[np.searchsorted(scores[order], np.asarray(cuts, dtype=float), side="right")]


@dataclasses.dataclass(frozen=True)
class SignificanceScan:
    """Yields and significances after ``score > cut`` for each cut (all arrays of one length).

    ``signal``/``background`` are expected events (weighted), ``*_events`` the numbers of
    Monte Carlo events behind them (for judging statistical reliability).
    """

    cut: np.ndarray
    signal: np.ndarray
    background: np.ndarray
    signal_events: np.ndarray
    background_events: np.ndarray
    signal_efficiency: np.ndarray
    background_efficiency: np.ndarray
    purity: np.ndarray
    s_over_sqrt_b: np.ndarray
    s_over_sqrt_s_plus_b: np.ndarray
    asimov: np.ndarray

    def as_dict(self) -> dict[str, list[float | None]]:
        """JSON-ready lists (NaN -> None)."""
        return {
            f.name: [float(v) if np.isfinite(v) else None for v in getattr(self, f.name)]
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[float | None]]) -> SignificanceScan:
        """Inverse of :meth:`as_dict` (None -> NaN)."""
        return cls(
            **{
                f.name: np.array([np.nan if v is None else v for v in data[f.name]], dtype=float)
                for f in dataclasses.fields(cls)
            }
        )

    def at(self, index: int) -> dict[str, float]:
        """Every quantity at cut number ``index``, as a dict of floats."""
        return {f.name: float(getattr(self, f.name)[index]) for f in dataclasses.fields(self)}


def significance_scan(
    scores: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike,
    cuts: ArrayLike,
    counts: ArrayLike | None = None,
) -> SignificanceScan:
    """Scan ``score > cut`` over ``cuts`` (labels 1 = signal, 0 = background).

    Efficiencies are relative to the class totals before the cut, which must be positive.
    ``counts``: the Monte Carlo events behind each row (binned events); default one each.
    """
    scores = np.asarray(scores, dtype=float).ravel()
    is_signal = np.asarray(labels).ravel() == 1
    weights = np.asarray(weights, dtype=float).ravel()
    cuts = np.asarray(cuts, dtype=float).ravel()
    if not scores.size == is_signal.size == weights.size:
        msg = f"{scores.size} scores, {is_signal.size} labels and {weights.size} weights differ"
        raise DataError(msg)
    totals = {}
    for name, mask in (("signal", is_signal), ("background", ~is_signal)):
        totals[name] = float(weights[mask].sum())
        if not totals[name] > 0:
            msg = f"the {name} yield is {totals[name]:g}; a significance scan needs it positive"
            raise DataError(msg)
    s = yields_above(scores[is_signal], weights[is_signal], cuts)
    b = yields_above(scores[~is_signal], weights[~is_signal], cuts)
    events = np.ones(scores.size) if counts is None else np.asarray(counts, dtype=float).ravel()
    return SignificanceScan(
        cut=cuts,
        signal=s,
        background=b,
        signal_events=yields_above(scores[is_signal], events[is_signal], cuts),
        background_events=yields_above(scores[~is_signal], events[~is_signal], cuts),
        signal_efficiency=s / totals["signal"],
        background_efficiency=b / totals["background"],
        purity=_ratio(s, s + b),
        s_over_sqrt_b=_ratio(s, np.sqrt(np.maximum(b, 0.0))),
        s_over_sqrt_s_plus_b=_ratio(s, np.sqrt(np.maximum(s + b, 0.0))),
        asimov=asimov_significance(s, b),
    )


def optimal_cut(
    scan: SignificanceScan, *, metric: str = "asimov", min_background: float = 1.0
) -> int | None:
    """Index of the cut that maximises ``metric`` with at least ``min_background`` events.

    ``min_background`` (expected background events) keeps the optimum away from the score
    tail where a handful of Monte Carlo events fake an arbitrarily large significance.
    Returns None when no cut qualifies. Ties go to the loosest cut.
    """
    if metric not in METRICS:
        msg = f"unknown significance metric '{metric}'; valid: {', '.join(METRICS)}"
        raise ConfigError(msg)
    values = np.where(scan.background >= min_background, getattr(scan, metric), np.nan)
    if not np.any(np.isfinite(values)):
        log.warning(
            "no cut keeps at least %g expected background events; no optimal cut", min_background
        )
        return None
    return int(np.nanargmax(values))


def scan_summary(scan: SignificanceScan, *, metric: str, min_background: float) -> dict[str, Any]:
    """The scan and its optimum as JSON-ready data (``optimum`` None when no cut qualifies)."""
    index = optimal_cut(scan, metric=metric, min_background=min_background)
    return {
        "metric": metric,
        "min_background": min_background,
        "scan": scan.as_dict(),
        "optimum": None if index is None else {"index": index, **scan.at(index)},
    }
