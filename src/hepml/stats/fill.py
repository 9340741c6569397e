"""Filling score templates from per-event arrays (one variation at a time).

:class:`Events` holds the classifier score, weight and process of each event of one
variation; :func:`fill_templates` histograms the nominal events and every variation into
:class:`~hepml.stats.templates.Templates`. One pass per variation: the bin and process of each
event become one index, summed by ``numpy.bincount``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping

import numpy as np
from numpy.typing import ArrayLike

from hepml.exceptions import DataError, did_you_mean
from hepml.stats.templates import NOMINAL, Templates, check_edges, split_variation

__all__ = ["Events", "fill_templates", "histogram"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class Events:
    """Per-event arrays of one variation: classifier ``score``, ``weight`` (expected events at
    the analysis luminosity) and ``process`` name, all of one length."""

    score: np.ndarray
    weight: np.ndarray
    process: np.ndarray

    def __post_init__(self) -> None:
        for field in ("score", "weight"):
            object.__setattr__(self, field, np.asarray(getattr(self, field), dtype=float).ravel())
        object.__setattr__(self, "process", np.asarray(self.process).ravel())
        sizes = {self.score.size, self.weight.size, self.process.size}
        if len(sizes) != 1:
            msg = (
                f"{self.score.size} scores, {self.weight.size} weights and "
                f"{self.process.size} process names differ in length"
            )
            raise DataError(msg)
        if not np.all(np.isfinite(self.weight)):
            msg = f"{np.count_nonzero(~np.isfinite(self.weight))} event weights are NaN or inf"
            raise DataError(msg)


def _binned_sums(
    bins: np.ndarray, codes: np.ndarray, weight: np.ndarray, n_codes: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of weights and of squared weights per (process code, bin), shape (n_codes, n_bins)."""
    flat = codes * n_bins + bins
    size = n_codes * n_bins
    sumw = np.bincount(flat, weights=weight, minlength=size).reshape(n_codes, n_bins)
    sumw2 = np.bincount(flat, weights=weight**2, minlength=size).reshape(n_codes, n_bins)
    return sumw, sumw2


def _bin_index(score: np.ndarray, edges: np.ndarray, what: str) -> np.ndarray:
    """Bin of each score (``[lo, hi)``, last bin closed); scores outside the edges are errors."""
    outside = ~((score >= edges[0]) & (score <= edges[-1]))  # NaN counts as outside
    if np.any(outside):
        msg = (
            f"{np.count_nonzero(outside)} scores of {what} are NaN or outside the binning "
            f"[{edges[0]:g}, {edges[-1]:g}] (e.g. {score[outside][0]!r}); no event may be lost"
        )
        raise DataError(msg)
    return np.minimum(np.searchsorted(edges, score, side="right") - 1, edges.size - 2)


def histogram(
    score: ArrayLike, weight: ArrayLike, edges: ArrayLike, *, what: str = "the events"
) -> tuple[np.ndarray, np.ndarray]:
    """``(sumw, sumw2)`` of ``weight`` in the score bins ``edges`` (no event may fall outside)."""
    events = Events(score, weight, np.zeros(np.size(score), dtype=int))
    edges = check_edges(edges)
    bins = _bin_index(events.score, edges, what)
    sumw, sumw2 = _binned_sums(bins, events.process, events.weight, 1, edges.size - 1)
    return sumw[0], sumw2[0]


def _histograms(
    events: Events, edges: np.ndarray, processes: list[str], what: str
) -> tuple[np.ndarray, np.ndarray]:
    names, codes = np.unique(events.process.astype(str), return_inverse=True)
    unknown = sorted(set(names) - set(processes))
    if unknown:
        hint = did_you_mean(unknown[0], processes)
        msg = f"{what} has events of process '{unknown[0]}' without a role.{hint}"
        raise DataError(msg)
    bins = _bin_index(events.score, edges, what)
    sumw, sumw2 = _binned_sums(bins, codes.ravel(), events.weight, names.size, edges.size - 1)
    rows = {name: i for i, name in enumerate(names)}
    empty = np.zeros(edges.size - 1)
    return (
        np.array([sumw[rows[p]] if p in rows else empty for p in processes]),
        np.array([sumw2[rows[p]] if p in rows else empty for p in processes]),
    )


def fill_templates(
    edges: ArrayLike,
    roles: Mapping[str, str],
    nominal: Events,
    variations: Mapping[str, Events] | None = None,
    *,
    channel: str = "SR",
    applies_to: Mapping[str, Collection[str]] | None = None,
) -> Templates:
    """Histogram the score of every process in ``nominal`` and each variation over ``edges``.

    ``variations`` maps ``<syst>Up``/``<syst>Down`` to the events of that variation (same
    events with other scores, or other weights). ``applies_to`` maps a systematic to the
    processes it affects (default: every signal and background process); a process with no
    event in a variation it is affected by gets an empty template, which is a real result (all
    its events migrated away), not a missing one.
    """
    edges = check_edges(edges, f"channel '{channel}'")
    processes = list(roles)
    variations = dict(variations or {})
    shape = _histograms(nominal, edges, processes, "the nominal events")
    sumw = {p: {NOMINAL: shape[0][i]} for i, p in enumerate(processes)}
    sumw2 = {p: {NOMINAL: shape[1][i]} for i, p in enumerate(processes)}
    simulated = [p for p in processes if roles[p] != "data"]
    systs = {split_variation(v)[0] for v in variations}
    for syst in sorted(set(applies_to or {}) - systs):
        msg = f"applies_to names systematic '{syst}' without variations.{did_you_mean(syst, systs)}"
        raise DataError(msg)
    for variation, events in variations.items():
        syst, _ = split_variation(variation)
        affected = list((applies_to or {}).get(syst, simulated))
        for process in affected:
            if roles.get(process) not in ("signal", "background"):
                hint = did_you_mean(process, simulated)
                msg = f"systematic '{syst}' applies to '{process}', which is not simulated.{hint}"
                raise DataError(msg)
        shape = _histograms(events, edges, processes, f"variation '{variation}'")
        for i, process in enumerate(processes):
            if process in affected:
                sumw[process][variation] = shape[0][i]
                sumw2[process][variation] = shape[1][i]
    templates = Templates(channel, edges, roles, sumw, sumw2)
    log.info(
        "templates of channel %s: %d bins, %d processes, systematics %s",
        channel,
        templates.n_bins,
        len(processes),
        templates.systematics,
    )
    return templates
