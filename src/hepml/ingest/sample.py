"""Ingest: the ntuples of one sample -> a flat feature table (Parquet) and a cutflow.

The ntuples are ROOT TTrees, ROOT RNTuples or Parquet files, read alike through
:mod:`hepml.ingest.sources`; the same events give the same table whichever kind stores them.

For each sample the files are checked up front (:mod:`hepml.ingest.reading`) and the expressions
planned (:mod:`hepml.ingest.sample_plan`); the sum of generator weights is taken from the config,
the files' bookkeeping or a first pass over all entries (:mod:`hepml.ingest.normalisation`); then
each file is read in chunks so memory stays bounded. In every chunk the features are computed by the
safe expression language, the selection is applied cut by cut (counting raw and weighted events for
the cutflow, :mod:`hepml.ingest.cutflow`), and each event gets its luminosity-normalised weight and
its fold.

Bad files: a file that is not ROOT, truncated, corrupt, without entries or without the tree
stops the run with an error naming it (``on_bad_file: error``, the default), or is skipped with
a warning and a record in the summary and the cutflow (``on_bad_file: skip``). A file skipped
half-way leaves no rows in the table and no counts in the cutflow; its sum of generator weights
is taken out of the normalisation too (unless the sum was given in the config).

Table columns: one per feature (float32), then the bookkeeping columns, whose names start
with an underscore so they can never clash with a feature: ``_weight`` (float64, signed),
``_label`` (int8, 1 = signal), ``_fold`` (int8), ``_event`` (uint64, the last event-number
branch, or the entry number), ``_file`` (int32, index into the sorted list of all the sample's
files, skipped ones included), ``_entry`` (int64, entry number within that file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hepml.atomic import atomic_path
from hepml.config import Config, Sample
from hepml.exceptions import DataError, HepmlError
from hepml.folds import folds_and_events
from hepml.ingest.cutflow import Cutflow, FileTally, write_cutflow
from hepml.ingest.normalisation import normalisation_factor, sum_from_entries, sum_from_file
from hepml.ingest.reading import (
    BadFiles,
    InputFile,
    input_files,
    iterate_file,
    located,
)
from hepml.ingest.result import IngestResult, sample_result, sample_sum_of_weights, summary_of
from hepml.ingest.sample_plan import (
    SamplePlan,
    check_files,
    evaluate_chunk,
    namespace_of,
    plan_sample,
)
from hepml.outputs import check_outputs
from hepml.progress import Progress

__all__ = [
    "Cutflow",
    "IngestResult",
    "SamplePlan",
    "evaluate_chunk",
    "ingest_sample",
    "plan_sample",
    "sample_result",
    "sample_sum_of_weights",
    "summary_of",
    "write_cutflow",
]

log = logging.getLogger(__name__)


def ingest_sample(
    config: Config,
    sample_name: str,
    output: str | Path,
    *,
    threads: int = 1,
    files: Sequence[str] | None = None,
) -> IngestResult:
    """Read one sample and write its feature table to ``output`` (Parquet, atomically).

    ``files`` (``path`` or ``path.root:tree``, in order) replaces the sample's globs: the
    workflow resolves them once, so that every job of a run reads the same list.
    """
    del threads  # decompression is single-threaded; the argument keeps the CLI uniform
    sample = config.samples[sample_name]
    files = input_files(sample, files)
    check_outputs(files=[output], inputs=[f.path for f in files])  # before anything is read
    run = _Run(config, sample, files, BadFiles.of(config, sample))
    norm = normalisation_factor(sample, config.luminosity, run.sum_of_weights(), run.entries())
    total = FileTally.empty(len(run.plan.cuts) + 1)
    progress = Progress(f"sample '{sample.name}'", run.entries(), "entries", log)
    with atomic_path(output) as tmp:
        written = run.main_pass(tmp, norm, total, progress)
        result = run.result(total)
        if written != total.rows or result.normalisation != norm:  # a file failed half-way
            dropped = {i for i, f in enumerate(files) if f.path in run.bad.skipped}
            _rewrite(tmp, dropped, result.normalisation / norm)
    log.info(
        progress.summary(
            f"{result.cutflow.events[-1]:,} of {result.entries:,} entries selected from "
            f"{len(files) - len(result.skipped_files)} file(s), "
            f"{len(result.skipped_files)} skipped"
        )
    )
    return result


class _Run:
    """One sample's ingest (or one part of it): files checked and planned on construction,
    then read.

    ``first_file`` is the index of ``files[0]`` in the sample's whole file list (a part of a
    sample split into jobs, :mod:`hepml.ingest.partial`): the ``_file`` column and the
    (file, entry) folds use the sample's indices. ``tallies`` keeps what each file read to its
    end contributed, for the parts' merge.
    """

    def __init__(
        self,
        config: Config,
        sample: Sample,
        files: list[InputFile],
        bad: BadFiles,
        *,
        first_file: int = 0,
    ) -> None:
        self.config, self.sample, self.files, self.bad = config, sample, files, bad
        self.first_file = first_file
        self.tallies: dict[str, FileTally] = {}
        plan, self.n_entries = check_files(config, sample, files, bad, generator=True)
        self.plan: SamplePlan = plan
        bad.phase = 1
        self.sums = self._sums_of_weights()
        bad.phase = 2

    def entries(self) -> int:
        """Entries of the files not skipped."""
        return sum(self.n_entries[f.path] for f in self.bad.good(self.files))

    def _sums_of_weights(self) -> dict[str, float]:
        """The sum of generator weights of every good file ({} when not read from files)."""
        sample, plan = self.sample, self.plan
        if sample.cross_section is None or sample.sum_of_weights is not None:
            return {}
        sums: dict[str, float] = {}
        for file in self.bad.good(self.files):
            with self.bad.guard(file):
                if sample.sum_of_weights_from is not None:
                    sums[file.path] = sum_from_file(file, sample.sum_of_weights_from, sample.name)
                    continue
                sums[file.path] = sum_from_entries(
                    file,
                    plan.generator_weight,
                    plan.generator_branches,
                    self.config.reading.step_size,
                    self.n_entries[file.path],
                    lambda chunk: namespace_of(chunk, plan.generator_aliases),
                )
        return sums

    def sum_of_weights(self) -> float:
        """The sample's sum of generator weights over the files not skipped (NaN: no xsec)."""
        good = [f.path for f in self.bad.good(self.files)]
        return sample_sum_of_weights(self.sample, self.sums, good)

    def main_pass(self, tmp: Path, norm: float, total: FileTally, progress: Progress) -> int:
        """Read every good file into the Parquet file ``tmp``; return the rows written.

        Only files read to their end are added to ``total``. ``progress`` logs the entries
        read (every few seconds and after each file).
        """
        writer, written = None, 0
        label = 1 if self.sample.is_signal else 0
        n_files = len(self.files)
        try:
            for index, file in enumerate(self.files):
                if file.path in self.bad.skipped:
                    continue
                tally = FileTally.empty(len(total.events))
                with self.bad.guard(file):
                    for chunk, start, stop in iterate_file(
                        file, self.plan.branches, self.config.reading.step_size
                    ):
                        try:
                            table = _chunk_table(
                                self.config,
                                self.plan,
                                chunk,
                                start,
                                self.first_file + index,
                                norm,
                                label,
                                tally,
                            )
                        except HepmlError as err:
                            where = f"in '{file.path}', entries {start} to {stop}"
                            raise located(err, where) from err
                        progress.advance(stop - start)
                        if table is None:
                            continue
                        if writer is None:
                            writer = _parquet_writer(tmp, table.schema)
                        writer.write_table(table)
                        written += table.num_rows
                        tally.rows += table.num_rows
                    total.merge(tally)
                    self.tallies[file.path] = tally
                    progress.advance(0, note=f"file {index + 1} of {n_files} read", force=True)
        finally:
            if writer is not None:
                writer.close()
        return written

    def result(self, total: FileTally) -> IngestResult:
        """The sample's result, normalised anew if files were skipped; refuses empty ones."""
        self.bad.good(self.files)  # raises if the last good file failed half-way
        return sample_result(
            self.config,
            self.sample,
            [str(f) for f in self.files],
            steps=["all", *[c for c, _ in self.plan.cuts]],
            total=total,
            sum_of_weights=self.sum_of_weights(),  # less than at the start if a file failed
            entries=self.entries(),
            skipped=self.bad.records(),
            fold_source="+".join(self.plan.id_branches) or "(file, entry)",
        )


def _chunk_table(
    config, plan, chunk, start: int, file_id: int, norm: float, label: int, tally: FileTally
) -> pa.Table | None:
    """Compute one chunk, count it in ``tally``, return its selected rows (None if none)."""
    features, masks, raw = evaluate_chunk(plan, chunk, 1.0)
    keep = masks[-1]
    rows = np.flatnonzero(keep)  # once, rather than a boolean mask per column
    selected = {name: values[rows] for name, values in features.items()}
    tally.add_chunk(masks, raw, selected)
    if not len(rows):
        return None
    for name, values in selected.items():
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            msg = (
                f"feature '{name}' is infinite for {n_inf} selected event(s); XGBoost cannot "
                "use inf. Guard the expression, e.g. where(isfinite(x), x, nan), or clip(x, lo, hi)"
            )
            raise DataError(msg)
    weight = norm * raw[rows]
    n_bad = int(np.count_nonzero(~np.isfinite(weight)))
    if n_bad:
        msg = f"{plan.weight.where} is NaN or infinite for {n_bad} selected event(s)"
        raise DataError(msg)
    entry = start + rows.astype(np.int64)
    ids = [ak.to_numpy(chunk[b])[rows] for b in plan.id_branches]
    fold, event = folds_and_events(
        ids, plan.id_branches, file_id, entry, config.training.folds, config.seed
    )
    columns = selected | {
        "_weight": weight,
        "_label": np.full(len(weight), label, dtype=np.int8),
        "_fold": fold,
        "_event": event,
        "_file": np.full(len(weight), file_id, dtype=np.int32),
        "_entry": entry,
    }
    return _arrow_table(columns)


def _arrow_table(columns: dict[str, np.ndarray]) -> pa.Table:
    """Numpy columns as an Arrow table, sharing their memory.

    ``pa.array`` would copy, and its first call imports pandas (half a second) to look for
    pandas types; wrapping the buffers does neither.
    """
    arrays = []
    for values in columns.values():
        values = np.ascontiguousarray(values)
        if values.dtype.kind in "iuf":
            kind = pa.from_numpy_dtype(values.dtype)
            arrays.append(pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)]))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # dictionary encoding only where values repeat: on float features it costs 3x the time
    small = [name for name in ("_label", "_fold", "_file") if name in schema.names]
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=small)


def _rewrite(path: Path, drop_files: set[int], scale: float) -> None:
    """Drop the rows of files skipped half-way and rescale ``_weight``, in bounded memory."""
    source = pq.ParquetFile(path)
    scratch = path.with_name(path.name + ".rewrite")
    try:
        with _parquet_writer(scratch, source.schema_arrow) as writer:
            for i in range(source.num_row_groups):
                table = source.read_row_group(i)
                if drop_files:
                    keep = pc.invert(
                        pc.is_in(table["_file"], pa.array(sorted(drop_files), pa.int32()))
                    )
                    table = table.filter(keep)
                if scale != 1.0:
                    index = table.schema.get_field_index("_weight")
                    table = table.set_column(index, "_weight", pc.multiply(table["_weight"], scale))
                writer.write_table(table)
        source.close()
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)
