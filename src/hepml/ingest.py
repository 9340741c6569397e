"""Ingest: ROOT ntuples of one sample -> a flat feature table (Parquet) and a cutflow.

For each sample the files are checked up front (:mod:`hepml.inputs`), then read in chunks
with ``uproot.iterate`` so memory stays bounded. In every chunk the features are computed by
the safe expression language (:mod:`hepml.expressions`), the selection is applied cut by
cut (counting raw and weighted events for the cutflow), and each event gets its
luminosity-normalised weight and its fold.

Normalisation (MC): ``weight = xsec [pb] * lumi [fb^-1] * 1000 / sum(generator weights) *
per-event weight``, where the sum runs over *all* entries before any selection. It is taken
from ``sum_of_weights`` in the config when given, else computed in a first, cheap pass that
reads only the generator-weight branches. A sample without a cross section keeps its
per-event weights as they are (already normalised ntuples, or collision data).

Table columns: one per feature (float32), then the bookkeeping columns, whose names start
with an underscore so they can never clash with a feature: ``_weight`` (float64, signed),
``_label`` (int8, 1 = signal), ``_fold`` (int8), ``_event`` (uint64, the first event-number
branch, or the entry number), ``_file`` (int32, index into the sorted file list), ``_entry``
(int64, entry number within that file).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

from hepml.atomic import atomic_path
from hepml.config import PB_PER_INVERSE_FB, Config, Sample
from hepml.exceptions import DataError, InputFileError
from hepml.expressions import Expression, as_flat, as_mask, parse_expression, required_branches
from hepml.folds import fold_of_entry, fold_of_event
from hepml.inputs import InputFile, check_branches, open_tree, resolve_files

__all__ = [
    "Cutflow",
    "IngestResult",
    "SamplePlan",
    "evaluate_chunk",
    "ingest_sample",
    "plan_sample",
    "summary_of",
    "write_cutflow",
]

log = logging.getLogger(__name__)


@dataclass
class Cutflow:
    """Raw and weighted event counts after each selection step ("all" first)."""

    steps: list[str]
    events: list[int]
    weighted: list[float]

    def add(self, other_events: list[int], other_weighted: list[float]) -> None:
        self.events = [a + b for a, b in zip(self.events, other_events, strict=True)]
        self.weighted = [a + b for a, b in zip(self.weighted, other_weighted, strict=True)]


@dataclass
class IngestResult:
    """What ingesting one sample produced, for the summary and the logs."""

    sample: str
    files: list[str]
    entries: int
    sum_of_weights: float
    normalisation: float
    cutflow: Cutflow
    nan_counts: dict[str, int] = field(default_factory=dict)
    negative_weight_fraction: float = 0.0
    negative_weight_yield: float = 0.0
    fold_source: str = ""


@dataclass(frozen=True)
class SamplePlan:
    """Parsed expressions and the branches to read for one sample."""

    features: list[tuple[str, Expression, float]]
    cuts: list[tuple[str, Expression]]
    weight: Expression
    generator_weight: Expression
    id_branches: tuple[str, ...]
    branches: frozenset[str]


def plan_sample(config: Config, sample: Sample, available: set[str], file: InputFile) -> SamplePlan:
    """Parse every expression and work out which branches must be read."""
    features = [
        (f.name, parse_expression(f.expr, where=f"feature '{f.name}'"), f.fill)
        for f in config.features
    ]
    cuts = [
        (c.name, parse_expression(c.expr, where=f"selection cut '{c.name}'"))
        for c in config.selection
    ]
    weight = parse_expression(sample.weight, where=f"weight of sample '{sample.name}'")
    gen = parse_expression(
        sample.generator_weight, where=f"generator_weight of sample '{sample.name}'"
    )
    needed: dict[str, str] = {}
    defined: list[str] = []
    for name, expr, _ in features:
        for b in required_branches(expr, available | set(needed), defined):
            needed.setdefault(b, f"feature '{name}'")
        defined.append(name)
    for name, expr in cuts:
        for b in required_branches(expr, available | set(needed), defined):
            needed.setdefault(b, f"selection cut '{name}'")
    for expr in (weight, gen):
        for b in required_branches(expr, available, ()):
            needed.setdefault(b, expr.where)
    ids = tuple(b for b in config.event_number if b in available)
    if ids != config.event_number:
        missing = [b for b in config.event_number if b not in available]
        log.warning(
            "sample '%s': event-number branch(es) %s absent in '%s'; folds are assigned from "
            "(file, entry) instead, which is deterministic but changes if the file list does",
            sample.name,
            missing,
            file.path,
        )
        ids = ()
    branches = frozenset(needed) | frozenset(ids)
    check_branches(
        open_tree(file), file, {b: needed.get(b, "the fold assignment") for b in branches}
    )
    return SamplePlan(features, cuts, weight, gen, ids, branches)


def _sum_generator_weights(
    files: list[InputFile], expr: Expression, branches: set[str], step_size
) -> tuple[float, int]:
    """First pass: the sum of generator weights over all entries, and the number of entries."""
    entries = sum(open_tree(f).num_entries for f in files)
    if not branches:  # a constant expression such as "1": no need to read anything
        return float(np.asarray(expr.evaluate({})).ravel()[0]) * entries, entries
    total = 0.0
    for chunk in _iterate(files, branches, step_size):
        values = as_flat(expr.evaluate(_namespace(chunk)), where=expr.where)
        total += float(np.sum(values, dtype=np.float64))
    return total, entries


def _iterate(
    files: list[InputFile], branches: set[str], step_size, report: bool = False
) -> Iterator:
    """``uproot.iterate`` over the files, re-raising read errors with the file name."""
    spec = {f.path: f.tree for f in files}
    try:
        yield from uproot.iterate(
            spec, filter_name=sorted(branches), step_size=step_size, library="ak", report=report
        )
    except (OSError, ValueError, uproot.deserialization.DeserializationError) as err:
        msg = (
            f"reading failed ({type(err).__name__}: {err}); one of these files may be "
            f"truncated or corrupt: {', '.join(spec)}"
        )
        raise InputFileError(msg) from err


def _namespace(chunk: ak.Array) -> dict[str, ak.Array]:
    return {name: chunk[name] for name in chunk.fields}


def evaluate_chunk(
    plan: SamplePlan, chunk: ak.Array, norm: float
) -> tuple[dict[str, np.ndarray], list[np.ndarray], np.ndarray]:
    """Features (all events), cumulative cut masks, and weights of one chunk."""
    ns = _namespace(chunk)
    features: dict[str, np.ndarray] = {}
    for name, expr, fill in plan.features:
        values = as_flat(expr.evaluate(ns, fill=fill), where=expr.where)
        features[name] = np.asarray(values, dtype=np.float32)
        ns[name] = features[name]
    n = len(chunk)
    mask = np.ones(n, dtype=bool)
    masks = [mask]
    for _, expr in plan.cuts:
        mask = mask & _broadcast(as_mask(expr.evaluate(ns), where=expr.where), n)
        masks.append(mask)
    weight = _broadcast(as_flat(plan.weight.evaluate(ns), where=plan.weight.where), n)
    return features, masks, norm * np.asarray(weight, dtype=np.float64)


def _broadcast(values, n: int) -> np.ndarray:
    arr = np.asarray(values)
    return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr


def ingest_sample(
    config: Config, sample_name: str, output: str | Path, *, threads: int = 1
) -> IngestResult:
    """Read one sample and write its feature table to ``output`` (Parquet, atomically)."""
    del threads  # decompression is single-threaded; the argument keeps the CLI uniform
    sample = config.samples[sample_name]
    files = resolve_files(sample.name, sample.files, sample.tree)
    trees = [open_tree(f) for f in files]  # every file checked before any is read
    available = set(trees[0].keys(recursive=True))
    plan = plan_sample(config, sample, available, files[0])
    for tree, f in zip(trees[1:], files[1:], strict=True):
        check_branches(tree, f, dict.fromkeys(plan.branches, f"sample '{sample.name}'"))
    entries = sum(t.num_entries for t in trees)
    norm, sumw = _normalisation(config, sample, files, plan, entries)
    result = IngestResult(
        sample.name,
        [str(f) for f in files],
        entries,
        sumw,
        norm,
        Cutflow(
            ["all", *[c for c, _ in plan.cuts]],
            [0] * (len(plan.cuts) + 1),
            [0.0] * (len(plan.cuts) + 1),
        ),
    )
    file_index = {f.path: i for i, f in enumerate(files)}
    label = 1 if sample.is_signal else 0
    with atomic_path(output) as tmp:
        writer = None
        try:
            for chunk, report in _iterate(files, set(plan.branches), config.step_size, report=True):
                table = _chunk_table(config, plan, chunk, report, file_index, norm, label, result)
                if table is None:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        _check_result(sample, result)
        if writer is None:  # unreachable: _check_result raised on zero events
            raise DataError(sample.name)
    log.info(
        "sample '%s': %d of %d entries selected", sample.name, result.cutflow.events[-1], entries
    )
    return result


def _normalisation(
    config: Config, sample: Sample, files: list[InputFile], plan: SamplePlan, entries: int
) -> tuple[float, float]:
    if sample.cross_section is None:
        return 1.0, math.nan
    if sample.sum_of_weights is not None:
        sumw = float(sample.sum_of_weights)
    else:
        branches = required_branches(plan.generator_weight, plan.branches | {"_"}, ())
        sumw, _ = _sum_generator_weights(
            files, plan.generator_weight, set(branches), config.step_size
        )
    if not sumw > 0:
        msg = (
            f"sample '{sample.name}': the sum of generator weights ({sample.generator_weight}) "
            f"over {entries} entries is {sumw:g}; it must be positive to normalise the sample. "
            "Check the weight expression, or set sum_of_weights in the config."
        )
        raise DataError(msg)
    return sample.cross_section * config.luminosity * PB_PER_INVERSE_FB / sumw, sumw


def _chunk_table(config, plan, chunk, report, file_index, norm, label, result) -> pa.Table | None:
    """Compute one chunk, update the bookkeeping in ``result``, return the selected rows."""
    features, masks, weight = evaluate_chunk(plan, chunk, norm)
    result.cutflow.add([int(m.sum()) for m in masks], [float(weight[m].sum()) for m in masks])
    keep = masks[-1]
    if not keep.any():
        return None
    entry = np.arange(report.tree_entry_start, report.tree_entry_stop, dtype=np.int64)[keep]
    file_id = file_index[report.file_path]
    if plan.id_branches:
        ids = [ak.to_numpy(chunk[b])[keep] for b in plan.id_branches]
        fold = fold_of_event(ids, config.folds, config.seed)
        event = (
            ids[-1].astype(np.int64).view(np.uint64)
            if ids[-1].dtype.kind == "i"
            else ids[-1].astype(np.uint64)
        )
        result.fold_source = "+".join(plan.id_branches)
    else:
        fold = fold_of_entry(file_id, entry, config.folds, config.seed)
        event = entry.astype(np.uint64)
        result.fold_source = "(file, entry)"
    columns = {name: values[keep] for name, values in features.items()}
    for name, values in columns.items():
        result.nan_counts[name] = result.nan_counts.get(name, 0) + int(np.isnan(values).sum())
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            msg = (
                f"feature '{name}' is infinite for {n_inf} selected event(s) in "
                f"'{report.file_path}'; "
                "XGBoost cannot use inf. Guard the expression, e.g. where(isfinite(x), x, nan), "
                "or clip(x, lo, hi)."
            )
            raise DataError(msg)
    w = weight[keep]
    result.negative_weight_fraction += float((w < 0).sum())  # a count until _check_result
    result.negative_weight_yield += float(w[w < 0].sum())
    columns |= {
        "_weight": w,
        "_label": np.full(len(w), label, dtype=np.int8),
        "_fold": fold,
        "_event": event,
        "_file": np.full(len(w), file_id, dtype=np.int32),
        "_entry": entry,
    }
    return pa.table(columns)


def _check_result(sample: Sample, result: IngestResult) -> None:
    selected = result.cutflow.events[-1]
    if selected == 0:
        steps = ", ".join(
            f"{s}: {n}" for s, n in zip(result.cutflow.steps, result.cutflow.events, strict=True)
        )
        msg = f"sample '{sample.name}': the selection keeps no events (cutflow {steps})"
        raise DataError(msg)
    result.negative_weight_fraction /= selected
    if result.cutflow.weighted[-1] == 0:
        msg = f"sample '{sample.name}': the selected events' weights sum to zero"
        raise DataError(msg)


def write_cutflow(result: IngestResult, csv_path: str | Path, markdown_path: str | Path) -> None:
    """Write the cutflow as CSV (machines) and Markdown (humans), atomically."""
    from hepml.tables import write_table

    cf = result.cutflow
    rows = []
    for i, step in enumerate(cf.steps):
        rows.append(
            {
                "step": step,
                "events": cf.events[i],
                "weighted_yield": cf.weighted[i],
                "efficiency_step": cf.events[i] / cf.events[i - 1]
                if i and cf.events[i - 1]
                else 1.0,
                "efficiency_total": cf.events[i] / cf.events[0] if cf.events[0] else math.nan,
            }
        )
    title = f"Cutflow of sample `{result.sample}` ({result.entries} entries, weights normalised)"
    write_table(rows, csv_path, markdown_path, title=title)


def summary_of(result: IngestResult) -> dict:
    """A JSON-ready summary of one ingested sample, for reviewers and the report."""
    return {
        "sample": result.sample,
        "files": result.files,
        "entries": result.entries,
        "selected": result.cutflow.events[-1],
        "sum_of_generator_weights": result.sum_of_weights,
        "normalisation": result.normalisation,
        "weighted_yield": result.cutflow.weighted[-1],
        "negative_weight_fraction": result.negative_weight_fraction,
        "negative_weight_yield": result.negative_weight_yield,
        "nan_counts": result.nan_counts,
        "fold_source": result.fold_source,
    }
