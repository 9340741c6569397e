"""Score ntuples with the K fold models, streaming: the core of ``hepml apply`` and ``score``.

Each file (TTree, RNTuple or Parquet, :mod:`hepml.ingest.sources`) is read in chunks (memory bounded
by the step size), its features and selection computed by exactly the code ingest uses
(:func:`hepml.ingest.sample_plan.check_files`, :func:`hepml.ingest.sample_plan.evaluate_chunk`), and
each selected event scored:

- ``fold`` mode: by model k for an event of fold k, where the fold is the same hash of the
  event number that training used (:func:`hepml.folds.fold_of_event`). Model k never trained
  or early-stopped on fold k, so no MC event is scored by a model that saw it, and the score of
  a training event equals its out-of-fold score from training, bit for bit.
- ``mean`` mode (collision data only): the mean of the K models' probabilities.

The output of one input file is a friend tree with one entry per source entry, in the same
order: the score (float64; ``fill`` for events failing the selection), ``passes_selection``,
the ``fold`` and the event-number branch(es) copied, so ``TTree::AddFriend`` needs no join.
The friend is a ROOT TTree whatever the source's kind (``x.parquet`` gets ``x.root``), row
``i`` belonging to entry (row) ``i`` of the source.

Bad files follow the sample's ``on_bad_file`` policy (:class:`hepml.ingest.reading.BadFiles`), as in
ingest. A skipped file keeps its position in the file list, which the (file, entry) folds and
the Parquet ``file`` column use, so the other files' folds are those of training; it gets no
friend file and no Parquet rows, even when it fails half-way through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import uproot

from hepml.apply.friends import friend_names
from hepml.config import Config, Sample
from hepml.exceptions import DataError, HepmlError
from hepml.folds import fold_of_entry, fold_of_event
from hepml.ingest.reading import BadFiles, InputFile, guarded, input_files, iterate_file, located
from hepml.ingest.sample_plan import SamplePlan, check_files, evaluate_chunk
from hepml.models import MODES, FoldModels, predict_outputs

__all__ = [
    "Chunk",
    "FileSkipped",
    "ScoreOptions",
    "chunk_features",
    "feature_chunks",
    "friend_names",
    "plan_files",
    "score_chunk",
    "score_files",
    "score_outputs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreOptions:
    """How events are scored and written (the ``apply`` section of the config)."""

    mode: str = "fold"  # "fold" | "mean"
    fill: float = -1.0  # score of events failing the selection
    branch: str = "bdt_score"
    friend_tree: str = "hepml"
    step_size: str | int = "100 MB"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            msg = f"scoring mode '{self.mode}' is not one of {', '.join(MODES)}"
            raise ValueError(msg)


def plan_files(
    config: Config,
    sample: Sample,
    bad: BadFiles | None = None,
    files: Sequence[str] | None = None,
) -> tuple[list[InputFile], SamplePlan]:
    """Resolve and check every file of ``sample`` before anything is read or written.

    As in ingest, the plan comes from the first good file and every other file must have its
    branches, so the fold source (event number, or (file, entry)) is the one ingest used.
    With ``bad``, each file's checks run under its policy: a skipped file is recorded in
    ``bad.skipped`` but stays in the returned list (its position is its ``file`` index), and
    :class:`~hepml.exceptions.InputFileError` is raised when no file is good. Without ``bad``,
    any :class:`~hepml.exceptions.BadFile` stops the run. ``files`` (in order) replaces the
    sample's globs, as for ingest.
    """
    inputs = input_files(sample, files)
    plan, _ = check_files(config, sample, inputs, bad)
    return inputs, plan


@dataclass(frozen=True)
class Chunk:
    """One chunk of one file, ready to be scored: what the reading thread hands over."""

    file_index: int
    X: np.ndarray  # (selected events, features) float32, rows grouped by fold
    rows: np.ndarray  # the chunk entry of each row of X
    selected: np.ndarray  # bool, every entry of the chunk
    fold: np.ndarray  # int8, every entry
    ids: dict[str, np.ndarray]  # event-number branches, every entry


class FileSkipped(NamedTuple):
    """Handed over instead of a chunk: file ``file_index`` failed half-way and is skipped,
    so what its earlier chunks produced must be withdrawn."""

    file_index: int


def feature_chunks(
    config: Config,
    plan: SamplePlan,
    files: Sequence[InputFile],
    features,
    step_size,
    bad: BadFiles | None = None,
    first_file: int = 0,
) -> Iterator[Chunk | FileSkipped]:
    """Read every file in chunks; compute the features, selection and fold of each chunk.

    ``features`` are the names of the model's features, in order (the columns of ``X``).
    The rows of ``X`` are the selected entries grouped by fold (entry order within a fold),
    so that each fold model scores a contiguous block without another copy.
    Files in ``bad.skipped`` are passed over. A file that ``bad`` skips while it is read
    yields :class:`FileSkipped` after its good chunks, and reading goes on with the next file
    (caught here: an exception raised through :func:`_prefetched` would end the iteration).
    File indices count from ``first_file`` (a part of a sample split into jobs).
    """
    for index, file in enumerate(files, start=first_file):
        if bad is not None and file.path in bad.skipped:
            continue
        with guarded(bad, file):
            for chunk, start, _stop in iterate_file(file, plan.branches, step_size):
                yield chunk_features(
                    config, plan, features, chunk, file_index=index, start=start, where=file.path
                )
        if bad is not None and file.path in bad.skipped:
            yield FileSkipped(index)


def chunk_features(
    config: Config,
    plan: SamplePlan,
    features: Sequence[str],
    chunk: ak.Array,
    *,
    file_index: int,
    start: int,
    where: str,
) -> Chunk:
    """The features, selection and fold of one chunk: entries ``start`` on of file
    ``file_index``, whose name (``where``) errors give. ``features`` are the names of the
    model's features, in order (the columns of ``X``)."""
    stop = start + len(chunk)
    try:
        values, masks, _ = evaluate_chunk(plan, chunk, 1.0)
    except HepmlError as err:
        raise located(err, f"in '{where}', entries {start} to {stop}") from err
    selected = masks[-1]
    ids = {b: ak.to_numpy(chunk[b]) for b in plan.id_branches}
    if ids:
        fold = fold_of_event(list(ids.values()), config.training.folds, config.seed)
    else:
        entries = np.arange(start, stop, dtype=np.int64)
        fold = fold_of_entry(file_index, entries, config.training.folds, config.seed)
    rows = np.flatnonzero(selected)
    rows = rows[np.argsort(fold[rows], kind="stable")]
    X = np.empty((len(rows), len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        X[:, j] = values[name][rows]
    _check_finite(X, features, where)
    return Chunk(file_index, X, rows, selected, fold, ids)


def score_outputs(
    models: FoldModels, chunk: Chunk, mode: str, fill: float
) -> dict[str, np.ndarray]:
    """Suffix -> every output (float64) of every entry of ``chunk``, ``fill`` where the
    selection fails: the score (suffix ``""``) first, then any class and calibrated outputs
    (:func:`hepml.models.predict_outputs`)."""
    rows = chunk.fold[chunk.rows]
    values = predict_outputs(models, chunk.X, rows, mode) if len(chunk.X) else {}
    outputs = {}
    for suffix in models.suffixes:
        outputs[suffix] = np.full(len(chunk.selected), fill, dtype=np.float64)
        if len(chunk.X):
            outputs[suffix][chunk.rows] = values[suffix]
    return outputs


def score_chunk(models: FoldModels, chunk: Chunk, mode: str, fill: float) -> np.ndarray:
    """The score (float64) of every entry of ``chunk``: ``fill`` where the selection fails."""
    return score_outputs(models, chunk, mode, fill)[""]


_END = object()
_FRIEND_COMPRESSION = uproot.LZ4(1)  # 5x cheaper than ZLIB; any ROOT >= 6.08 reads it


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """Yield from ``items`` while a worker thread already computes the next item.

    Reading (decompression), the awkward/numpy feature kernels and XGBoost's prediction all
    release the GIL for most of their time, so reading chunk i+1 overlaps scoring chunk i.
    At most two chunks are in memory.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hepml-read") as pool:
        future = pool.submit(next, items, _END)
        while (item := future.result()) is not _END:
            future = pool.submit(next, items, _END)
            yield item


def _iterate_scores(
    config: Config,
    plan: SamplePlan,
    files: Sequence[InputFile],
    models: FoldModels,
    options: ScoreOptions,
    bad: BadFiles | None,
    first_file: int,
) -> Iterator[tuple[int, dict[str, np.ndarray] | None]]:
    """(file index, friend-tree columns of every entry of one chunk), in entry order;
    (file index, None) when that file failed half-way and is skipped."""
    chunks = feature_chunks(
        config, plan, files, models.features, options.step_size, bad, first_file
    )
    for c in _prefetched(chunks):
        if isinstance(c, FileSkipped):
            yield c.file_index, None
            continue
        # the score, then any class outputs and calibrated outputs (hepml.score_outputs)
        outputs = score_outputs(models, c, options.mode, options.fill)
        scores = {options.branch + suffix: values for suffix, values in outputs.items()}
        yield (
            c.file_index,
            {
                **scores,
                "passes_selection": c.selected,
                "fold": c.fold,
                **c.ids,
            },
        )


def _check_finite(X: np.ndarray, features: Sequence[str], where: str) -> None:
    bad = np.isinf(X).any(axis=0)
    if bad.any():
        name = features[int(np.flatnonzero(bad)[0])]
        msg = (
            f"feature '{name}' is infinite for selected event(s) in '{where}'; the models "
            "cannot score inf. Guard the expression, e.g. where(isfinite(x), x, nan)."
        )
        raise DataError(msg)


def score_files(
    config: Config,
    files: Sequence[InputFile],
    plan: SamplePlan,
    models: FoldModels,
    options: ScoreOptions,
    *,
    friend_dir: Path | None,
    parquet: Path | None,
    bad: BadFiles | None = None,
    first_file: int = 0,
    indexed_names: bool | None = None,
) -> list[dict[str, Any]]:
    """Score every file; write friend trees into ``friend_dir`` and/or one ``parquet`` table.

    Returns one record per file (source, friend file name, entries, selected). The caller
    makes the outputs atomic (see :func:`hepml.atomic.atomic_directory`). With ``bad`` (as given to
    :func:`plan_files`), a file it skips, up front or half-way, has no friend file (``friend``
    None), no Parquet rows and zero counts; if no file is left, ``InputFileError``.
    ``first_file`` is the index of ``files[0]`` in its sample (the Parquet ``file`` column,
    the (file, entry) folds) and ``indexed_names`` whether friend names carry it
    (:func:`hepml.apply.friends.friend_names`), for a part of a sample split into jobs.
    """
    names = friend_names([f.path for f in files], first=first_file, indexed=indexed_names)
    records = [
        {"source": str(f), "friend": n, "entries": 0, "selected": 0}
        for f, n in zip(files, names, strict=True)
    ]
    writers = _Writers(friend_dir, parquet, options.friend_tree)
    with writers:
        scores = _iterate_scores(config, plan, files, models, options, bad, first_file)
        for index, columns in scores:
            record, name = records[index - first_file], names[index - first_file]
            if columns is None:  # failed half-way: withdraw what it wrote
                writers.withdraw(index, name, record["entries"] > 0)
                record.update(entries=0, selected=0)
                continue
            writers.write(index, name, columns, record["entries"])
            record["entries"] += len(columns["fold"])
            record["selected"] += int(columns["passes_selection"].sum())
    if bad is not None:
        bad.good(files)  # raises if the last good file failed half-way
        for record, file in zip(records, files, strict=True):
            if file.path in bad.skipped:
                record["friend"] = None
    writers.drop_withdrawn_rows()
    for record in records:
        log.info("'%s': %d of %d entries scored", record["source"], record["selected"],
                 record["entries"])  # fmt: skip
    return records


class _Writers:
    """The friend file being written and the Parquet writer of :func:`score_files`."""

    def __init__(self, friend_dir: Path | None, parquet: Path | None, friend_tree: str) -> None:
        self.friend_dir, self.parquet, self.friend_tree = friend_dir, parquet, friend_tree
        self.tree = self.writer = None
        self.current = -1  # file index of the friend file open
        self.withdrawn: set[int] = set()  # files whose rows must leave the Parquet table

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc) -> None:
        self._close_friend()
        if self.writer is not None:
            self.writer.close()

    def write(self, index: int, name: str, columns: dict[str, np.ndarray], start: int) -> None:
        """Append one chunk of file ``index`` (its entries from ``start`` on)."""
        if self.friend_dir is not None and index != self.current:
            self._close_friend()  # the previous friend file is complete
            out = uproot.recreate(self.friend_dir / name, compression=_FRIEND_COMPRESSION)
            self.tree = out.mktree(self.friend_tree, {k: v.dtype for k, v in columns.items()})
            self.current = index
        if self.tree is not None:
            self.tree.extend(columns)
        if self.parquet is not None:
            table = _parquet_table(columns, index, start)
            if self.writer is None:
                self.writer = _parquet_writer(self.parquet, table.schema)
            self.writer.write_table(table)

    def withdraw(self, index: int, name: str, written: bool) -> None:
        """Take back file ``index``: delete its partial friend file, mark its rows."""
        if self.tree is not None and self.current == index:
            self._close_friend()
            (self.friend_dir / name).unlink()
        if written:
            self.withdrawn.add(index)

    def _close_friend(self) -> None:
        if self.tree is not None:
            self.tree.file.close()
            self.tree = None

    def drop_withdrawn_rows(self) -> None:
        """Rewrite the closed Parquet table without the withdrawn files' rows, one row group
        at a time (a ParquetWriter cannot take rows back)."""
        if self.parquet is None or not self.withdrawn:
            return
        source = pq.ParquetFile(self.parquet)
        scratch = self.parquet.with_name(self.parquet.name + ".rewrite")
        drop = pa.array(sorted(self.withdrawn), pa.int32())
        try:
            with _parquet_writer(scratch, source.schema_arrow) as writer:
                for i in range(source.num_row_groups):
                    table = source.read_row_group(i)
                    writer.write_table(table.filter(pc.invert(pc.is_in(table["file"], drop))))
            source.close()
            scratch.replace(self.parquet)
        finally:
            scratch.unlink(missing_ok=True)


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # dictionaries of unique float scores cost 6x the writing time
    return pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=False)


def _parquet_table(columns: dict[str, np.ndarray], file_index: int, start: int) -> pa.Table:
    n = len(columns["fold"])
    return pa.table(
        {
            "file": np.full(n, file_index, dtype=np.int32),
            "entry": np.arange(start, start + n, dtype=np.int64),
            **columns,
        }
    )
