"""Collision data against the Monte Carlo prediction, with the signal region blinded.

For every input variable and for the classifier score, the MC processes (luminosity
weighted, out-of-fold scores) and the data are histogrammed on one binning, as data for
``hepml.plots.inputs.plot_data_mc``.

Blinding is applied here, before anything is written, so no file holds the blinded data:
unless ``unblind`` is set, data events with ``score > blind_above`` are dropped, the score
bins reaching above ``blind_above`` carry no data (null), and the input-variable histograms
of data *and* MC are restricted to ``score <= blind_above`` so that they stay comparable.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepml.evaluate.inputs import Binning, feature_edges, histogram_with_flow
from hepml.exceptions import DataError
from hepml.models import load_fold_models, load_fold_outputs
from hepml.plotdata.histograms import FlowHistogram
from hepml.plotdata.inputs import DataMC, DataMCVariable, ProcessFlowHistogram
from hepml.tables.features import check_tables, feature_batches, read_column

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


@dataclass(frozen=True)
class _Scored:
    """What the histograms need of a process besides its feature values."""

    weight: np.ndarray
    score: np.ndarray
    label: int = 0


def _histograms(
    mc: Mapping[str, _Scored],
    data: _Scored,
    values: Mapping[str, np.ndarray],
    data_values: np.ndarray,
    edges: np.ndarray,
    keep_mc,
    keep_data: np.ndarray,
    region: str,
) -> DataMCVariable:
    """MC histograms per process and the data histogram of one variable."""
    processes = {}
    for name, ev in mc.items():
        keep = keep_mc(ev)
        processes[name] = ProcessFlowHistogram(
            ev.label, histogram_with_flow(values[name][keep], ev.weight[keep], edges)
        )
    data_histogram = histogram_with_flow(data_values[keep_data], data.weight[keep_data], edges)
    return DataMCVariable(edges, processes, data_histogram, region)


def data_mc_histograms(
    mc: Mapping[str, Events], data: Events, features: Sequence[str], **options: Any
) -> DataMC:
    """data_mc.json: per input variable and for the score, MC per process and data.

    ``mc`` maps process name -> :class:`Events`. Binning per feature as for the input
    variables (from all MC and data events). See the module docstring for the blinding.
    ``options``: ``bins`` (40), ``binning`` (feature -> :class:`~hepml.evaluate.inputs.Binning`,
    a feature's own bins or range), ``score_bins`` (40), ``blind_above`` (0.5), ``unblind``
    (False).
    """
    return _data_mc(
        {name: _Scored(ev.weight, ev.score, ev.label) for name, ev in mc.items()},
        _Scored(data.weight, data.score),
        lambda i: ({name: ev.X[:, i] for name, ev in mc.items()}, data.X[:, i]),
        features,
        **options,
    )


def _edges(
    mc: Mapping[str, _Scored], data: _Scored, values, data_values, binning: Binning
) -> np.ndarray:
    """A feature's bins from the MC (weighted as expected events) and the data together."""
    everything = np.concatenate([*values.values(), data_values])
    weight = np.concatenate([*(ev.weight for ev in mc.values()), data.weight])
    return feature_edges(everything, binning.bins, weight=weight, value_range=binning.range)


def _data_mc(
    mc: Mapping[str, _Scored],
    data: _Scored,
    column: Callable[[int], tuple[dict[str, np.ndarray], np.ndarray]],
    features: Sequence[str],
    *,
    bins: int = 40,
    binning: Mapping[str, Binning] | None = None,
    score_bins: int = 40,
    blind_above: float = 0.5,
    unblind: bool = False,
) -> DataMC:
    """:func:`data_mc_histograms` (its options), with feature ``i``'s values per process and
    of the data given by ``column(i)``: in memory, or read from the tables a column at a time."""
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
        values, data_values = column(i)
        own = (binning or {}).get(name) or Binning(bins)
        variables[name] = _histograms(
            mc,
            data,
            values,
            data_values,
            _edges(mc, data, values, data_values, own),
            lambda ev: ev.score <= blind_above if blind else np.ones(ev.score.size, bool),
            data_kept,
            f"score <= {blind_above:g}" if blind else "all events",
        )
        del values, data_values
    score = _histograms(
        mc,
        data,
        {name: ev.score for name, ev in mc.items()},
        data.score,
        score_edges(score_bins),
        lambda ev: np.ones(ev.score.size, bool),
        data_kept,
        "all events",
    )
    if blind:
        hidden = np.array(_blinded_bins(score.edges, blind_above))
        shown = score.data
        blinded = FlowHistogram(
            np.where(hidden, np.nan, shown.sumw),
            np.where(hidden, np.nan, shown.sumw2),
            events=shown.events,
            yield_=shown.yield_,
            nan_events=shown.nan_events,
            nan_yield=shown.nan_yield,
        )
        score = dataclasses.replace(score, data=blinded)
    return DataMC(variables, score, None if unblind else blind_above, n_hidden)


def _scores(
    path: str | os.PathLike, features: Sequence[str], boosters, batch_rows: int, outputs=None
):
    """Each event's score by the model of its fold, read in row batches of ``batch_rows``;
    ``outputs`` (per fold, :mod:`hepml.score_outputs`) make a multiclass model's score."""
    parts = []
    for X, columns in feature_batches(path, list(features), ("_fold",), batch_rows):
        fold = columns["_fold"]
        if np.any((fold < 0) | (fold >= len(boosters))):
            msg = (
                f"'{path}': events with a fold outside 0..{len(boosters) - 1}: ingested "
                "with another config?"
            )
            raise DataError(msg)
        score = np.empty(len(X))
        for k, booster in enumerate(boosters):
            rows = fold == k
            if rows.any():
                raw = booster.inplace_predict(X[rows], validate_features=False)
                score[rows] = outputs[k].columns(raw)[""] if outputs else raw
        parts.append(score)
    return np.concatenate(parts) if parts else np.empty(0)


def _grouped(
    tables: Mapping[str, str | os.PathLike],
    group_of: Mapping[str, str],
    features: Sequence[str],
    boosters,
    batch_rows: int,
    outputs=None,
) -> tuple[dict[str, _Scored], Callable[[int], dict[str, np.ndarray]]]:
    """The scored events of ``tables`` grouped by ``group_of[sample]`` (in order of first
    appearance), and a function giving feature ``i``'s values per group (float32, as the
    models see them), read one column at a time."""
    members: dict[str, dict[str, str | os.PathLike]] = {}
    for sample, path in tables.items():
        members.setdefault(group_of[sample], {})[sample] = path
    groups = {}
    for group, member_tables in members.items():
        label = read_column(member_tables, "_label")
        groups[group] = _Scored(
            read_column(member_tables, "_weight").astype(np.float64),
            np.concatenate(
                [
                    _scores(path, features, boosters, batch_rows, outputs)
                    for path in member_tables.values()
                ]
            ),
            int(label[0]) if label.size else 0,
        )

    def column(i: int) -> dict[str, np.ndarray]:
        return {g: read_column(t, features[i]).astype(np.float32) for g, t in members.items()}

    return groups, column


def data_mc_from_files(
    model_paths: Sequence[str | os.PathLike],
    mc_tables: Mapping[str, str | os.PathLike],
    data_tables: Mapping[str, str | os.PathLike],
    *,
    processes: Mapping[str, str] | None = None,
    batch_rows: int = 100_000,
    **options: Any,
) -> DataMC:
    """data_mc.json from the fold models and the ingest tables of MC and data samples.

    Every event is scored by the model of its fold (MC: the model that never saw it), as
    ``hepml apply`` does, in row batches; the histograms then read one feature's column at a
    time, so memory grows with the events (scores and weights), not events x features.
    MC samples are grouped by ``processes`` (default: each sample its own); the data samples
    are summed. ``options`` go to :func:`data_mc_histograms`.
    """
    boosters, features = load_fold_models(model_paths)
    outputs = [o if o.classes else None for o in load_fold_outputs(model_paths)]
    outputs = outputs if any(outputs) else None  # a multiclass model's score: its discriminant
    check_tables({**mc_tables, **data_tables}, features)
    mc, mc_column = _grouped(
        mc_tables, {s: (processes or {}).get(s, s) for s in mc_tables}, features, boosters,
        batch_rows, outputs,
    )  # fmt: skip
    data, data_column = _grouped(
        data_tables, dict.fromkeys(data_tables, "data"), features, boosters, batch_rows, outputs
    )
    if not data:
        msg = "a data/MC comparison needs at least one data sample"
        raise DataError(msg)
    content = _data_mc(
        mc,
        _Scored(data["data"].weight, data["data"].score),
        lambda i: (mc_column(i), data_column(i)["data"]),
        features,
        **options,
    )
    return dataclasses.replace(content, data_samples=tuple(data_tables))
