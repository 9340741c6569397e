"""Every variant of one sample scored by the nominal's out-of-fold models (``hepml variations``).

The nominal and the variations that read the nominal's files and tree (other weights, replaced
branches) are computed in one pass over the files, chunk by chunk, by the code ingest uses
(:func:`hepml.ingest.sample_plan.evaluate_chunk`): the features, selection and weight of each
variant, and each selected event's score from **the model of its nominal fold**. The fold is a
function of the event number (or of the nominal (file, entry) with ``event_number: none``),
which no variation may change, so a varied event is scored by the model that never trained on
that event, whatever its varied features; no model is retrained. A weight-only variation keeps
the nominal's events and scores and evaluates only its weight.

Variations read from other files or another tree get a pass of their own; with
``event_number: none`` their files must match the nominal's entry by entry (same number of
files and entries), since (file, entry) then names the nominal event. Variations from other
files are normalised from those files (their sum of generator weights); every other variant
uses the nominal's normalisation, read from the ingest summary, and skips the files ingest
skipped. A file that fails here but not in ingest is an error: the yields would not match.

The output is one Parquet table per sample, one row per (variant, selected event):
``variation``, ``score``, ``weight`` (expected events), ``fold``, ``file``, ``entry``,
``event``; and a JSON summary of the yield and event count of each variant.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hepml.atomic import atomic_path, write_json
from hepml.config import Config, Sample
from hepml.exceptions import DataError, HepmlError, InputFileError
from hepml.folds import folds_and_events
from hepml.ingest.expressions.language import as_flat
from hepml.ingest.files import InputFile, input_files
from hepml.ingest.normalisation import normalisation_factor, sum_from_entries, sum_from_file
from hepml.ingest.reading import (
    BadFiles,
    check_branch_types,
    check_branches,
    check_entries,
    iterate_file,
    located,
    open_source,
)
from hepml.ingest.sample_plan import SamplePlan, evaluate_chunk, namespace_of, plan_sample
from hepml.models import FoldModels, predict
from hepml.outputs import check_outputs
from hepml.systematics.variants import NOMINAL, Variant, sample_variants

__all__ = ["COLUMNS", "VARIATIONS_KEY", "score_variations"]

log = logging.getLogger(__name__)

COLUMNS = ("variation", "score", "weight", "fold", "file", "entry", "event")


_TYPES = (pa.string(), pa.float64(), pa.float64(), pa.int8(), pa.int32(), pa.int64(), pa.uint64())
VARIATIONS_KEY = b"hepml_variations"  # schema metadata: every variant's name, rows or not


class _Writer:
    """The Parquet table of one sample's variants, and each variant's counts."""

    def __init__(self, path: Path, variants: Sequence[str]) -> None:
        self.path, self.writer = path, None
        fields = [pa.field(c, t) for c, t in zip(COLUMNS, _TYPES, strict=True)]
        self.schema = pa.schema(fields, metadata={VARIATIONS_KEY: json.dumps(list(variants))})
        self.counts = {v: {"selected": 0, "yield": 0.0} for v in variants}

    def add(self, variant: str, columns: dict[str, np.ndarray]) -> None:
        n = len(columns["score"])
        self.counts[variant]["selected"] += n
        self.counts[variant]["yield"] += math.fsum(columns["weight"])
        if not n:
            return
        arrays = [pa.array([variant] * n, pa.string())] + [
            pa.array(columns[c], t) for c, t in zip(COLUMNS[1:], _TYPES[1:], strict=True)
        ]
        if self.writer is None:
            self.writer = pq.ParquetWriter(
                self.path, self.schema, compression="zstd", use_dictionary=["variation"]
            )
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        if self.writer is None:  # no event at all: an empty table with the columns
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self.writer.close()


def _scores(models: FoldModels, features: dict, rows: np.ndarray, fold: np.ndarray, where: str):
    """Score of each selected row by the model of its (nominal) fold."""
    X = np.empty((len(rows), len(models.features)), dtype=np.float32)
    for j, name in enumerate(models.features):
        X[:, j] = features[name][rows]
    if np.isinf(X).any():
        name = models.features[int(np.flatnonzero(np.isinf(X).any(axis=0))[0])]
        msg = f"feature '{name}' is infinite for selected event(s) of {where}"
        raise DataError(msg)
    return predict(models, X, fold[rows], "fold") if len(rows) else np.zeros(0)


def _weight_only(plan: SamplePlan, chunk, features: dict, norm: float) -> np.ndarray:
    """``norm`` x the weight of a weight-only variant (the nominal's features already made)."""
    ns = namespace_of(chunk, plan.aliases)
    ns.update(features)
    values = as_flat(plan.weight.evaluate(ns), where=plan.weight.where, numbers_only=True)
    return norm * np.broadcast_to(np.asarray(values, dtype=np.float64), (len(chunk),))


def _columns(score, weight, fold, rows, index: int, start: int, event) -> dict[str, np.ndarray]:
    if not np.all(np.isfinite(weight)):
        msg = f"{np.count_nonzero(~np.isfinite(weight))} selected event weight(s) are NaN or inf"
        raise DataError(msg)
    return {
        "score": np.asarray(score, dtype=np.float64),
        "weight": np.asarray(weight, dtype=np.float64),
        "fold": fold[rows].astype(np.int8),
        "file": np.full(len(rows), index, dtype=np.int32),
        "entry": (start + rows).astype(np.int64),
        "event": event[rows],
    }


def _score_chunk(config, variants, plans, models, chunk, index, start, norm, writer) -> None:
    """Every variant of one chunk into ``writer`` (the first variant gives the folds)."""
    # every entry's fold and event number, as ingest assigns them
    id_branches = plans[variants[0].name].id_branches
    ids = [ak.to_numpy(chunk[b]) for b in id_branches]
    entries = np.arange(start, start + len(chunk), dtype=np.int64)
    fold, event = folds_and_events(
        ids, id_branches, index, entries, config.training.folds, config.seed
    )
    base = None  # the first variant's (features, rows, scores), which weight variants share
    for variant in variants:
        plan = plans[variant.name]
        if variant.kind == "weight" and base is not None:
            features, rows, score = base
            weight = _weight_only(plan, chunk, features, norm)[rows]
        else:
            features, masks, weight = evaluate_chunk(plan, chunk, norm)
            rows = np.flatnonzero(masks[-1])
            score = _scores(models, features, rows, fold, f"variation '{variant.name}'")
            weight = weight[rows]
            base = base or (features, rows, score)
        try:
            columns = _columns(score, weight, fold, rows, index, start, event)
        except DataError as err:
            msg = f"variation '{variant.name}': {err}"
            raise DataError(msg) from err
        writer.add(variant.name, columns)


def _read(config, variants, plans, files, skipped, models, norm, writer) -> None:
    branches = frozenset().union(*(plans[v.name].branches for v in variants))
    for index, file in enumerate(files):
        if file.path in skipped:
            continue
        for chunk, start, stop in iterate_file(file, branches, config.reading.step_size):
            try:
                _score_chunk(config, variants, plans, models, chunk, index, start, norm, writer)
            except HepmlError as err:
                raise located(err, f"in '{file.path}', entries {start} to {stop}") from err


def _plans(config: Config, variants: Sequence[Variant], files: list[InputFile], generator=False):
    """Plan each variant and check every file for the branches of all of them (each file
    opened once); any bad file stops the run. Returns the plans and each file's entries."""
    plans: dict[str, SamplePlan] = {}
    entries: dict[str, int] = {}
    bad = BadFiles(variants[0].sample.name, "error")
    for file in files:
        with bad.guard(file), open_source(file) as source:
            entries[file.path] = check_entries(source)
            for variant in variants:
                if variant.name not in plans:  # from the first file, as ingest plans
                    plans[variant.name] = plan_sample(config, variant.sample, source)
                plan = plans[variant.name]
                branches = plan.branches | plan.generator_branches if generator else plan.branches
                who = f"sample '{variant.sample.name}' ({variant.name})"
                needed = dict.fromkeys(branches, who)
                check_branches(source, needed)
                check_branch_types(source, needed)
    return plans, entries


def _alternative_normalisation(config, sample: Sample, plan, files, entries) -> float:
    """The normalisation of a variant read from other files: from those files' sums."""
    if sample.cross_section is None:
        return 1.0
    if sample.sum_of_weights is not None:
        msg = (
            f"sample '{sample.name}' gives sum_of_weights as a number, which cannot hold for "
            f"the other files of a variation ({files[0].path}, ...): give it as "
            "{tree: ..., branch: ...} or {histogram: ...}, or leave it out"
        )
        raise DataError(msg)
    total = 0.0
    for file in files:
        if sample.sum_of_weights_from is not None:
            total += sum_from_file(file, sample.sum_of_weights_from, sample.name)
        else:
            total += sum_from_entries(
                file,
                plan.generator_weight,
                plan.generator_branches,
                config.reading.step_size,
                entries[file.path],
                lambda chunk: namespace_of(chunk, plan.generator_aliases),
            )
    return normalisation_factor(sample, config.luminosity, total, sum(entries.values()))


def _check_aligned(variant: Variant, files, entries, nominal_files, nominal_entries) -> None:
    """With folds from (file, entry), a variant's files must match the nominal's entry by
    entry: as many files, and the entries of each file the nominal read (not skipped)."""
    counts = [entries.get(f.path) for f in files]
    nominal = [nominal_entries.get(f.path) for f in nominal_files]
    aligned = len(counts) == len(nominal) and all(
        n is None or c == n for c, n in zip(counts, nominal, strict=True)
    )
    if not aligned:
        msg = (
            f"variation '{variant.name}' of sample '{variant.sample.name}' reads {len(files)} "
            f"file(s) with {counts} entries where the nominal reads {len(nominal_files)} with "
            f"{nominal}; with event_number: none the folds come from (file, entry), so a "
            "variation's files must hold the nominal's events entry by entry. Give the "
            "ntuples an event number (event_number: BRANCH) instead"
        )
        raise InputFileError(msg)


def score_variations(
    config: Config,
    name: str,
    models: FoldModels,
    *,
    output: str | Path,
    summary: str | Path,
    ingest_summary: dict[str, Any],
    files: Sequence[str] | None = None,
    variation_files: dict[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Score every variant of sample ``name``; write the Parquet ``output`` and JSON ``summary``.

    ``ingest_summary`` is the sample's ingest summary (its normalisation and skipped files);
    ``files`` the nominal's files in order, ``variation_files`` those of each variant read
    from other files (the workflow resolves both once); None: the config's globs.
    """
    variants = sample_variants(config, name)
    sample = config.samples[name]
    nominal_files = input_files(sample, files)
    sources = {v.name: _files_of(config, v, variation_files, nominal_files) for v in variants}
    inputs = [f.path for fs in sources.values() for f in fs]
    check_outputs(files=[output, summary], inputs=[*dict.fromkeys(inputs), *models.paths])
    skipped = {r["file"] for r in ingest_summary.get("skipped_files", [])}
    norm = float(ingest_summary["normalisation"])
    same = [v for v in variants if v.same_events]
    good = [f for f in nominal_files if f.path not in skipped]
    plans, nominal_entries = _plans(config, same, good)  # every file checked up front
    passes = [_Pass(same, plans, nominal_files, skipped, norm)]
    records = {v.name: _record(v, good, norm, "ingest summary") for v in same}
    for variant in (v for v in variants if not v.same_events):
        nominal = (nominal_files, nominal_entries, skipped)
        passes.append(_source_pass(config, variant, sources[variant.name], norm, nominal))
        records[variant.name] = passes[-1].record
    with atomic_path(output) as tmp:
        writer = _Writer(tmp, [v.name for v in variants])
        try:
            for one in passes:
                _read(config, one.variants, one.plans, one.files, one.skipped, models, one.norm,
                      writer)  # fmt: skip
        finally:
            writer.close()
    for variant, record in records.items():
        record.update(writer.counts[variant])
    result = {
        "sample": name,
        "process": sample.process,
        "label": sample.label,
        "fold_source": "+".join(plans[NOMINAL].id_branches) or "(file, entry)",
        "variations": records,
        "models": list(models.paths),
        "config_hash": models.config_hash,
    }
    write_json(summary, result)
    for variant, record in records.items():
        log.info("%s %s: %d events, yield %.6g", name, variant, record["selected"],
                 record["yield"])  # fmt: skip
    return result


def _reads_other_files(config: Config, variant: Variant) -> bool:
    return variant.sample.files != config.samples[variant.sample.name].files


def _files_of(
    config: Config, variant: Variant, given: dict | None, nominal: list[InputFile]
) -> list[InputFile]:
    """The files a variant reads: the nominal's (with its tree), or its own in order."""
    if variant.same_events:
        return nominal
    if not _reads_other_files(config, variant):  # another tree of the nominal's files
        return [InputFile(f.path, variant.sample.tree) for f in nominal]
    if given is not None and variant.name in given:
        return input_files(variant.sample, given[variant.name])
    return input_files(variant.sample)


def _record(variant: Variant, files: Iterable[InputFile], norm: float, source: str) -> dict:
    return {
        "kind": variant.kind,
        "files": [str(f) for f in files],
        "normalisation": norm,
        "normalisation_from": source,
    }


@dataclasses.dataclass
class _Pass:
    """One reading of a file list: the variants it computes, their plans, the normalisation."""

    variants: list[Variant]
    plans: dict[str, SamplePlan]
    files: list[InputFile]
    skipped: set[str]
    norm: float
    record: dict[str, Any] = dataclasses.field(default_factory=dict)


def _source_pass(config, variant, files, nominal_norm, nominal) -> _Pass:
    """A variant read from other files or another tree: checked and normalised (not read)."""
    nominal_files, nominal_entries, skipped = nominal
    other_files = _reads_other_files(config, variant)
    # another tree of the nominal's files: the files ingest skipped stay skipped
    passed = set() if other_files else skipped
    good = [f for f in files if f.path not in passed]
    plans, entries = _plans(config, [variant], good, generator=other_files)
    if config.folds_from_entries:
        _check_aligned(variant, files, entries, nominal_files, nominal_entries)
    if other_files:
        norm = _alternative_normalisation(config, variant.sample, plans[variant.name], good,
                                          entries)  # fmt: skip
        source = "the variation's files"
    else:
        norm, source = nominal_norm, "ingest summary"
    record = _record(variant, good, norm, source)
    return _Pass([variant], plans, files, passed, norm, record)
