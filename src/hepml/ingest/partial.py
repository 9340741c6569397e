"""A sample split into jobs of a few files: each part ingested alone, then merged.

A sample of thousands of files is ingested as several jobs (``reading.files_per_job``, the
workflow's plan makes the parts: :mod:`hepml.workflow.parts`), so that the files are read in
parallel on a cluster and a failed or corrupt part reruns alone. The normalisation needs the
sum of generator weights over *all* the sample's files, which no part knows, so:

- :func:`ingest_part` reads its files exactly as one job per sample reads them (the same
  checks, chunks, features, cuts and folds, the ``_file`` column and the (file, entry) folds
  counting from the part's first index in the whole sample), but writes the weights
  unnormalised, and a part summary with what each file contributed: its entries, its sum of
  generator weights and its cutflow tally (in unnormalised weights), and the files skipped;
- :func:`merge_parts` adds the parts' per-file numbers up in the sample's file order, exactly
  as one job adds them (the sum of generator weights with ``math.fsum``, the cutflow tallies
  file after file), computes the normalisation and writes the sample's table, each part's row
  groups with ``_weight`` multiplied by it: the same floating-point operations as one job, so
  the table, the cutflow and the summary are byte for byte those of one job per sample.

One exception, documented: a file that fails half-way through the main pass under
``on_bad_file: skip``: one job rescales the weights already written (``new/old`` factor, one
rounding), the merge normalises once, so ``_weight`` may differ in the last bit.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hepml.atomic import atomic_path, write_json
from hepml.config import Config
from hepml.config.settings import settings_hash, stage_settings
from hepml.exceptions import DataError, InputFileError
from hepml.ingest.cutflow import FileTally
from hepml.ingest.files import check_part_order
from hepml.ingest.reading import BadFiles, input_files
from hepml.ingest.result import IngestResult, sample_result, sample_sum_of_weights
from hepml.ingest.sample import _parquet_writer, _rewrite, _Run
from hepml.outputs import check_outputs
from hepml.progress import Progress
from hepml.tables.merge import merge_tables
from hepml.tables.parquet_splice import Replacement

__all__ = ["PART_FORMAT", "check_part_order", "ingest_part", "merge_parts", "part_summary_path"]

log = logging.getLogger(__name__)

PART_FORMAT = 1


def part_summary_path(table: str | Path) -> Path:
    """The part summary written beside a part's table (``part3.parquet`` -> ``part3.json``)."""
    return Path(table).with_suffix(".json")


def _sample_settings(config: Config, sample: str) -> str:
    """The hash of the ingest settings of ``sample``: parts of another config are refused."""
    return settings_hash(stage_settings(config)["ingest"][sample])


def ingest_part(
    config: Config,
    sample_name: str,
    output: str | Path,
    *,
    files: Sequence[str],
    first_file: int = 0,
) -> dict[str, Any]:
    """Ingest ``files`` (a part of ``sample_name``, whose first file has index
    ``first_file`` in the sample) into ``output`` with unnormalised weights; write the part
    summary beside it (:func:`part_summary_path`) and return it."""
    sample = config.samples[sample_name]
    inputs = input_files(sample, files)
    summary_path = part_summary_path(output)
    check_outputs(files=[output, summary_path], inputs=[f.path for f in inputs])
    policy = sample.on_bad_file or config.reading.on_bad_file
    bad = BadFiles(sample.name, policy, require_good=False)
    run = _Run(config, sample, inputs, bad, first_file=first_file)
    steps = None if run.plan is None else ["all", *[c for c, _ in run.plan.cuts]]
    total = FileTally.empty(len(steps or ()))
    with atomic_path(output) as tmp:
        written = 0
        if run.plan is not None:
            where = f"sample '{sample.name}', files from {first_file}"
            progress = Progress(where, run.entries(), "entries", log)
            written = run.main_pass(tmp, 1.0, total, progress)
        if not tmp.stat().st_size:  # no selected event in the part: no writer was opened
            pq.write_table(_empty_table(config), tmp)
        elif written != total.rows:  # a file failed half-way: its rows leave the table
            dropped = {first_file + i for i, f in enumerate(inputs) if f.path in bad.skipped}
            _rewrite(tmp, dropped, 1.0)
    record = {
        "format": PART_FORMAT,
        "sample": sample.name,
        "settings": _sample_settings(config, sample.name),
        "first_file": first_file,
        "files": [str(f) for f in inputs],
        "steps": steps,
        "fold_source": None
        if run.plan is None
        else "+".join(run.plan.id_branches) or "(file, entry)",
        "per_file": [_file_record(run, f.path) for f in inputs],
        "skipped": [
            {"file": path, "reason": why, "phase": bad.phases[path]}
            for path, why in bad.skipped.items()
        ],
        "rows": total.rows,
    }
    write_json(summary_path, record)
    log.info(
        "sample '%s', files %d to %d: %d rows (%d file(s) skipped)",
        sample.name,
        first_file,
        first_file + len(inputs) - 1,
        total.rows,
        len(bad.skipped),
    )
    return record


def _file_record(run: _Run, path: str) -> dict[str, Any]:
    """What one file contributed (None where it was skipped before): entries, sum of
    generator weights, cutflow tally. A list in file order (JSON objects get sorted keys)."""
    tally = run.tallies.get(path)
    return {
        "path": path,
        "entries": run.n_entries.get(path),
        "sum_of_weights": run.sums.get(path),
        "tally": None if tally is None else dataclasses.asdict(tally),
    }


def _empty_table(config: Config) -> pa.Table:
    """A table without rows, with the columns of an ingest table."""
    types = [(name, pa.float32()) for name in config.feature_names]
    types += [("_weight", pa.float64()), ("_label", pa.int8()), ("_fold", pa.int8())]
    types += [("_event", pa.uint64()), ("_file", pa.int32()), ("_entry", pa.int64())]
    return pa.schema(types).empty_table()


def _read_parts(config: Config, sample: str, parts: Sequence[str | Path]) -> list[dict]:
    """The part summaries, checked: this sample and config, contiguous files from index 0."""
    records, expected = [], _sample_settings(config, sample)
    next_file = 0
    for table in parts:
        path = part_summary_path(table)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            msg = f"part '{table}' of sample '{sample}' has no summary '{path}': rerun its job"
            raise InputFileError(msg) from err
        except (OSError, ValueError) as err:
            msg = f"the part summary '{path}' cannot be read ({err}): rerun its job"
            raise InputFileError(msg) from err
        where = f"part '{table}'"
        if record.get("format") != PART_FORMAT or record.get("sample") != sample:
            msg = f"{where} is not a part of sample '{sample}' (it says '{record.get('sample')}')"
            raise DataError(msg)
        if record["settings"] != expected:
            msg = (
                f"{where} of sample '{sample}' was ingested with other settings than the "
                "config's (a changed selection, feature or sample?): rerun its job"
            )
            raise DataError(msg)
        check_part_order(where, sample, record["first_file"], next_file)
        next_file += len(record["files"])
        records.append(record)
    if not records:
        msg = f"sample '{sample}': no parts to merge"
        raise InputFileError(msg)
    return records


def _steps(records: list[dict], sample: str) -> tuple[list[str], str]:
    """The selection steps and the fold source, which every part with a good file shares."""
    planned = [(r["steps"], r["fold_source"]) for r in records if r["steps"] is not None]
    if not planned:  # every file of every part skipped
        reasons = "; ".join(s["reason"] for r in records for s in r["skipped"])
        n = sum(len(r["files"]) for r in records)
        msg = f"sample '{sample}': none of its {n} file(s) can be read: {reasons}"
        raise InputFileError(msg)
    if any(p != planned[0] for p in planned):
        msg = (
            f"the parts of sample '{sample}' disagree on the selection steps or the event "
            f"number ({sorted({str(p) for p in planned})}): their files differ in branches"
        )
        raise DataError(msg)
    return planned[0]


def merge_parts(
    config: Config, sample_name: str, parts: Sequence[str | Path], output: str | Path
) -> IngestResult:
    """The sample's table (``output``, Parquet, atomically) and result from its parts
    (their tables, in file order, each with its summary beside it)."""
    sample = config.samples[sample_name]
    records = _read_parts(config, sample.name, parts)
    check_outputs(files=[output], inputs=[*parts, *map(part_summary_path, parts)])
    steps, fold_source = _steps(records, sample.name)
    files = [f for r in records for f in r["files"]]
    skipped = sorted((s for r in records for s in r["skipped"]), key=lambda s: s["phase"])
    skipped_paths = {s["file"] for s in skipped}
    per_file = {f["path"]: f for r in records for f in r["per_file"]}  # in file order
    if len(per_file) != len(files):
        msg = f"the parts of sample '{sample.name}' list a file twice: give each part once"
        raise DataError(msg)
    good = [p for p, f in per_file.items() if p not in skipped_paths and f["entries"] is not None]
    total = FileTally.empty(len(steps))
    for path in good:  # file after file, as one job adds them up
        total.merge(FileTally(**per_file[path]["tally"]))
    entries = {p: per_file[p]["entries"] for p in good}
    sums = {p: per_file[p]["sum_of_weights"] for p in good}
    result = sample_result(
        config,
        sample,
        files,
        steps=steps,
        total=total,
        sum_of_weights=sample_sum_of_weights(sample, sums, good),
        entries=sum(entries[p] for p in good),
        skipped=[{"file": s["file"], "reason": s["reason"]} for s in skipped],
        fold_source=fold_source,
    )
    written = _write_merged(parts, output, result.normalisation)
    if written != total.rows:
        msg = (
            f"sample '{sample.name}': the parts' tables hold {written} rows but their "
            f"summaries count {total.rows}: a part is stale or corrupt, rerun its jobs"
        )
        raise DataError(msg)
    log.info(
        "sample '%s': %d parts merged, %d of %d entries selected (%d file(s) skipped)",
        sample.name,
        len(records),
        result.cutflow.events[-1],
        result.entries,
        len(skipped),
    )
    return result


def _write_merged(parts: Sequence[str | Path], output: str | Path, norm: float) -> int:
    """Every row group of the parts with rows, in order, ``_weight`` times ``norm``; the rows
    written. The row groups' bytes are copied and only ``_weight`` encoded anew
    (:func:`hepml.tables.parquet_splice.merge_tables`, which decodes and encodes every row
    group where that cannot give the bytes a writer gives)."""
    weights = Replacement("_weight", functools.partial(_normalised, norm=norm), _parquet_writer)
    with atomic_path(output) as tmp:
        written = merge_tables(parts, tmp, _parquet_writer, replace=weights)
        if not written:  # pragma: no cover - sample_result refuses a sample without events
            msg = "no rows to merge"
            raise DataError(msg)
    return written


def _normalised(table: pa.Table, norm: float) -> pa.Table:
    """``table`` with ``_weight`` multiplied by ``norm`` (numpy: the product one job takes)."""
    index = table.schema.get_field_index("_weight")
    weight = norm * table.column(index).to_numpy()
    column = pa.Array.from_buffers(pa.float64(), len(weight), [None, pa.py_buffer(weight)])
    return table.set_column(index, table.schema.field(index), column)
