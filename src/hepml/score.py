"""Score ROOT ntuples with the K fold models, streaming: the core of ``hepml apply`` and ``score``.

Each file is read in chunks with ``uproot.iterate`` (memory bounded by the step size), its
features and selection computed by exactly the code ingest uses
(:func:`hepml.ingest.plan_sample`, :func:`hepml.ingest.evaluate_chunk`), and each selected
event scored:

- ``fold`` mode: by model k for an event of fold k, where the fold is the same hash of the
  event number that training used (:func:`hepml.folds.fold_of_event`). Model k never trained
  or early-stopped on fold k, so no MC event is scored by a model that saw it, and the score of
  a training event equals its out-of-fold score from training, bit for bit.
- ``mean`` mode (collision data only): the mean of the K models' probabilities.

The output of one input file is a friend tree with one entry per source entry, in the same
order: the score (float64; ``fill`` for events failing the selection), ``passes_selection``,
the ``fold`` and the event-number branch(es) copied, so ``TTree::AddFriend`` needs no join.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uproot

from hepml.config import Config, Sample
from hepml.exceptions import DataError, HepmlError
from hepml.fold_models import MODES, FoldModels, predict
from hepml.folds import fold_of_entry, fold_of_event
from hepml.ingest import SamplePlan, evaluate_chunk, plan_sample
from hepml.inputs import (
    InputFile,
    check_branch_types,
    check_branches,
    check_entries,
    iterate_file,
    located,
    opened_tree,
    resolve_files,
)

__all__ = [
    "Chunk",
    "ScoreOptions",
    "atomic_directory",
    "feature_chunks",
    "friend_names",
    "plan_files",
    "score_files",
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


def plan_files(config: Config, sample: Sample) -> tuple[list[InputFile], SamplePlan]:
    """Resolve and check every file of ``sample`` before anything is read or written.

    As in ingest, the plan comes from the first file and every other file must have its
    branches, so the fold source (event number, or (file, entry)) is the one ingest used.
    """
    files = resolve_files(sample.name, sample.files, sample.tree)
    plan = None
    for file in files:
        with opened_tree(file) as tree:
            check_entries(tree, file)
            if plan is None:
                plan = plan_sample(config, sample, set(tree.keys(recursive=True)), file)
            needed = dict.fromkeys(plan.branches, f"sample '{sample.name}'")
            check_branches(tree, file, needed)
            check_branch_types(tree, file, needed)
    return files, plan


@dataclass(frozen=True)
class Chunk:
    """One chunk of one file, ready to be scored: what the reading thread hands over."""

    file_index: int
    X: np.ndarray  # (selected events, features) float32
    selected: np.ndarray  # bool, every entry of the chunk
    fold: np.ndarray  # int8, every entry
    ids: dict[str, np.ndarray]  # event-number branches, every entry


def feature_chunks(
    config: Config, plan: SamplePlan, files: Sequence[InputFile], features, step_size
) -> Iterator[Chunk]:
    """Read every file in chunks; compute the features, selection and fold of each chunk.

    ``features`` are the names of the model's features, in order (the columns of ``X``).
    """
    for index, file in enumerate(files):
        for chunk, start, stop in iterate_file(file, plan.branches, step_size):
            try:
                values, masks, _ = evaluate_chunk(plan, chunk, 1.0)
            except HepmlError as err:
                raise located(err, f"in '{file.path}', entries {start} to {stop}") from err
            selected = masks[-1]
            ids = {b: ak.to_numpy(chunk[b]) for b in plan.id_branches}
            if ids:
                fold = fold_of_event(list(ids.values()), config.folds, config.seed)
            else:
                entries = np.arange(start, stop, dtype=np.int64)
                fold = fold_of_entry(index, entries, config.folds, config.seed)
            X = np.empty((int(selected.sum()), len(features)), dtype=np.float32)
            for j, name in enumerate(features):
                X[:, j] = values[name][selected]
            _check_finite(X, features, file)
            yield Chunk(index, X, selected, fold, ids)


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
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(file index, friend-tree columns of every entry of one chunk), in entry order."""
    chunks = feature_chunks(config, plan, files, models.features, options.step_size)
    for c in _prefetched(chunks):
        score = np.full(len(c.selected), options.fill, dtype=np.float64)
        if len(c.X):
            score[c.selected] = predict(models, c.X, c.fold[c.selected], options.mode)
        yield (
            c.file_index,
            {
                options.branch: score,
                "passes_selection": c.selected,
                "fold": c.fold,
                **c.ids,
            },
        )


def _check_finite(X: np.ndarray, features: tuple[str, ...], file: InputFile) -> None:
    bad = np.isinf(X).any(axis=0)
    if bad.any():
        name = features[int(np.flatnonzero(bad)[0])]
        msg = (
            f"feature '{name}' is infinite for selected event(s) in '{file}'; the models "
            "cannot score inf. Guard the expression, e.g. where(isfinite(x), x, nan)."
        )
        raise DataError(msg)


def friend_names(files: Sequence[InputFile]) -> list[str]:
    """File names of the friend files: the source's name, prefixed by its index on a clash."""
    names = [Path(f.path.split("?")[0]).name for f in files]
    if len(set(names)) == len(names):
        return names
    return [f"{i:04d}_{name}" for i, name in enumerate(names)]


def score_files(
    config: Config,
    files: Sequence[InputFile],
    plan: SamplePlan,
    models: FoldModels,
    options: ScoreOptions,
    *,
    friend_dir: Path | None,
    parquet: Path | None,
) -> list[dict[str, Any]]:
    """Score every file; write friend trees into ``friend_dir`` and/or one ``parquet`` table.

    Returns one record per file (source, friend file name, entries, selected). The caller
    makes the outputs atomic (see :func:`atomic_directory`).
    """
    names = friend_names(files)
    records = [
        {"source": str(f), "friend": n, "entries": 0, "selected": 0}
        for f, n in zip(files, names, strict=True)
    ]
    writer = tree = None
    current = -1
    try:
        for index, columns in _iterate_scores(config, plan, files, models, options):
            record = records[index]
            if friend_dir is not None and index != current:
                if tree is not None:
                    tree.file.close()  # the previous friend file is complete
                    tree = None
                out = uproot.recreate(friend_dir / names[index], compression=_FRIEND_COMPRESSION)
                tree = out.mktree(options.friend_tree, {k: v.dtype for k, v in columns.items()})
                current = index
            if tree is not None:
                tree.extend(columns)
            if parquet is not None:
                table = _parquet_table(columns, index, record["entries"])
                if writer is None:
                    writer = pq.ParquetWriter(
                        parquet, table.schema, compression="zstd", use_dictionary=False
                    )  # dictionaries of unique float scores cost 6x the writing time
                writer.write_table(table)
            record["entries"] += len(columns["fold"])
            record["selected"] += int(columns["passes_selection"].sum())
    finally:
        if tree is not None:
            tree.file.close()
        if writer is not None:
            writer.close()
    for record in records:
        log.info("'%s': %d of %d entries scored", record["source"], record["selected"],
                 record["entries"])  # fmt: skip
    return records


def _parquet_table(columns: dict[str, np.ndarray], file_index: int, start: int) -> pa.Table:
    n = len(columns["fold"])
    return pa.table(
        {
            "file": np.full(n, file_index, dtype=np.int32),
            "entry": np.arange(start, start + n, dtype=np.int64),
            **columns,
        }
    )


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; it replaces ``target`` on success.

    An interrupted or failed run leaves no partial directory under the final name (the
    temporary one is removed on error).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.replace(old)
            tmp.replace(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
