"""Collision data against the Monte Carlo prediction, with the signal region blinded.

For every input variable and for the classifier score, the MC processes (luminosity
weighted, out-of-fold scores) and the data are histogrammed on one binning, as data for
``hepml.plots_inputs.plot_data_mc``.

Blinding is applied here, before anything is written, so no file holds the blinded data:
unless ``unblind`` is set, data events with ``score > blind_above`` are dropped, the score
bins reaching above ``blind_above`` carry no data (null), and the input-variable histograms
of data *and* MC are restricted to ``score <= blind_above`` so that they stay comparable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepml.dataset import load_dataset
from hepml.exceptions import DataError
from hepml.importance import load_fold_models
from hepml.input_variables import feature_edges, histogram_with_flow

__all__ = ["Events", "data_mc_from_files", "data_mc_histograms", "score_edges"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Events:
    """Selected events of one process (or of the data): features, weights, classifier score."""

    X: np.ndarray  # (n, n_features)
    weight: np.ndarray  # expected events per event (1 for data)
    score: np.ndarray
    label: int = 0  # 1 signal, 0 background (ignored for data)


def score_edges(bins: int) -> np.ndarray:
    """``bins`` equal score bins on [0, 1], the last one closed (a score of 1.0 is kept)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    edges[-1] = np.nextafter(1.0, 2.0)
    return edges


def _blinded_bins(edges: np.ndarray, blind_above: float) -> list[bool]:
    """Score bins (with flow bins around them) that reach above ``blind_above``.

    A bin whose upper edge equals ``blind_above`` up to rounding (0.6000000000000001 from
    ``linspace``) stays visible: it holds no score above the threshold.
    """
    inner = [bool(high > blind_above and not np.isclose(high, blind_above)) for high in edges[1:]]
    return [False, *inner, True]


def _histograms(
    mc: Mapping[str, Events],
    data: Events,
    values_of,
    edges: np.ndarray,
    keep_mc,
    keep_data: np.ndarray,
) -> dict[str, Any]:
    """MC histograms per process and the data histogram of one variable."""
    processes = {}
    for name, ev in mc.items():
        keep = keep_mc(ev)
        processes[name] = {
            "label": ev.label,
            **histogram_with_flow(values_of(ev)[keep], ev.weight[keep], edges),
        }
    return {
        "edges": edges.tolist(),
        "processes": processes,
        "data": histogram_with_flow(values_of(data)[keep_data], data.weight[keep_data], edges),
    }


def data_mc_histograms(
    mc: Mapping[str, Events],
    data: Events,
    features: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    bins: int = 40,
    score_bins: int = 40,
    blind_above: float = 0.5,
    unblind: bool = False,
) -> dict[str, Any]:
    """data_mc.json: per input variable and for the score, MC per process and data.

    ``mc`` maps process name -> :class:`Events`. Binning per feature as for the input
    variables (from all MC and data events). See the module docstring for the blinding.
    """
    if not mc:
        msg = "a data/MC comparison needs at least one MC process"
        raise DataError(msg)
    blind = not unblind
    data_kept = data.score <= blind_above if blind else np.ones(data.score.size, bool)
    n_hidden = int((~data_kept).sum())
    if blind:
        log.info("blinding: %d data events with score > %g hidden", n_hidden, blind_above)
    variables = {}
    for i, name in enumerate(features):
        everything = np.concatenate([ev.X[:, i] for ev in (*mc.values(), data)])
        variables[name] = {
            "label": (labels or {}).get(name) or name,
            "region": f"score <= {blind_above:g}" if blind else "all events",
            **_histograms(
                mc,
                data,
                lambda ev, i=i: ev.X[:, i],
                feature_edges(everything, bins),
                lambda ev: ev.score <= blind_above if blind else np.ones(ev.score.size, bool),
                data_kept,
            ),
        }
    score = _histograms(
        mc,
        data,
        lambda ev: ev.score,
        score_edges(score_bins),
        lambda ev: np.ones(ev.score.size, bool),
        data_kept,
    )
    if blind:
        hidden = _blinded_bins(np.asarray(score["edges"]), blind_above)
        for key in ("sumw", "sumw2"):
            score["data"][key] = [
                None if h else v for v, h in zip(score["data"][key], hidden, strict=True)
            ]
    return {
        "version": 1,
        "blind_above": None if unblind else blind_above,
        "unblind": unblind,
        "hidden_data_events": n_hidden,
        "variables": variables,
        "score": {"label": "Classifier score", "region": "all events", **score},
    }


def _score_table(tables, features, processes, boosters) -> dict[str, Events]:
    """Events per process of the ingest ``tables``, scored by the model of their fold."""
    data = load_dataset(tables, list(features), processes)
    if np.any((data.fold < 0) | (data.fold >= len(boosters))):
        msg = f"events with a fold outside 0..{len(boosters) - 1}: ingested with another config?"
        raise DataError(msg)
    score = np.empty(len(data))
    for k, booster in enumerate(boosters):
        rows = data.fold == k
        if rows.any():
            score[rows] = booster.inplace_predict(data.X[rows], validate_features=False)
    out = {}
    for name in dict.fromkeys(data.process.tolist()):
        rows = data.process == name
        out[name] = Events(data.X[rows], data.weight[rows], score[rows], int(data.label[rows][0]))
    return out


def data_mc_from_files(
    model_paths: Sequence[str | os.PathLike],
    mc_tables: Mapping[str, str | os.PathLike],
    data_tables: Mapping[str, str | os.PathLike],
    *,
    processes: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """data_mc.json from the fold models and the ingest tables of MC and data samples.

    Every event is scored by the model of its fold (MC: the model that never saw it), as
    ``hepml apply`` does. ``options`` go to :func:`data_mc_histograms`.
    """
    boosters, features = load_fold_models(model_paths)
    mc = _score_table(mc_tables, features, processes, boosters)
    data_parts = _score_table(data_tables, features, None, boosters).values()
    data = Events(
        np.concatenate([d.X for d in data_parts]),
        np.concatenate([d.weight for d in data_parts]),
        np.concatenate([d.score for d in data_parts]),
    )
    return {
        "data_samples": list(data_tables),
        **data_mc_histograms(mc, data, features, labels=labels, **options),
    }
