"""The parts of a sample scored as several jobs, merged into the outputs of one job.

Each part (``hepml apply --part``, :func:`hepml.apply.samples.apply_sample` with an
:class:`~hepml.apply.samples.ApplyPart`) scores a contiguous run of the sample's files, with
their indices in the whole sample (the Parquet ``file`` column, the (file, entry) folds) and the
sample's friend names. The merge:

- links each part's friend files into the sample's friend directory (hard links, so nothing
  is copied; a copy where the file system refuses links);
- copies the parts' Parquet row groups, in order, into the sample's table (the same rows and
  row groups as one job writes: byte for byte the same file);
- writes the sample's summary from the parts' (files, counts, skipped files in the order one
  job would list them).

Nothing is normalised in apply, so this is all the merge has to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepml.apply.samples import EMPTY_PART_COLUMNS, output_paths, sample_to_apply
from hepml.atomic import atomic_directory, atomic_path, write_json
from hepml.config import Config
from hepml.exceptions import DataError, InputFileError
from hepml.ingest.files import check_part_order
from hepml.outputs import check_outputs
from hepml.tables.merge import merge_tables
from hepml.tables.parquet_splice import column_names

__all__ = ["merge_parts"]

log = logging.getLogger(__name__)

_SAME_IN_EVERY_PART = ("kind", "mode", "branch", "friend_tree", "fill", "models", "config_hash")


def _read_parts(name: str, summaries: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The parts' summaries, checked: of this sample, one run, files contiguous from 0."""
    records, next_file = [], 0
    for path in summaries:
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            msg = f"the apply part summary '{path}' cannot be read ({err}): rerun its job"
            raise InputFileError(msg) from err
        part = record.get("part")
        if record.get("sample") != name or part is None:
            msg = f"'{path}' is not the summary of a part of sample '{name}'"
            raise DataError(msg)
        check_part_order(f"part '{path}'", name, part["first_file"], next_file)
        for key in _SAME_IN_EVERY_PART:
            if records and record[key] != records[0][key]:
                msg = (
                    f"the parts of sample '{name}' differ in {key} ('{summaries[0]}' and "
                    f"'{path}'): they were scored by other models or settings; rerun them"
                )
                raise DataError(msg)
        next_file += len(record["files"])
        records.append(record)
    if not records:
        msg = f"sample '{name}': no parts to merge"
        raise InputFileError(msg)
    return records


def _part_files(record: dict[str, Any]) -> list[Path]:
    """The friend files and the Parquet table a part wrote (the merge's inputs)."""
    files = []
    if record["friend_dir"] is not None:
        friends = Path(record["friend_dir"])
        files += [friends / r["friend"] for r in record["files"] if r["friend"] is not None]
    if record["parquet"] is not None:
        files.append(Path(record["parquet"]))
    return files


def merge_parts(
    config: Config, name: str, summaries: Sequence[str | Path], output_dir: str | Path
) -> dict[str, Any]:
    """Merge the parts of sample ``name`` (their summaries, in file order) into
    ``output_dir``: the friend directory, the Parquet table and the summary of one job."""
    sample_to_apply(config, name)
    records = _read_parts(name, summaries)
    paths = output_paths(config, name, output_dir)
    check_outputs(
        files=[p for key, p in paths.items() if key != "friends" and p is not None],
        directories={paths["friends"]: "apply"} if paths["friends"] is not None else {},
        inputs=[*summaries, *(f for r in records for f in _part_files(r))],
    )
    skipped = sorted((s for r in records for s in r["skipped_files"]), key=lambda s: s["phase"])
    files = [f for r in records for f in r["files"]]
    if len(skipped) == len(files):
        reasons = "; ".join(s["reason"] for s in skipped)
        msg = f"sample '{name}': none of its {len(files)} file(s) can be read: {reasons}"
        raise InputFileError(msg)
    with contextlib.ExitStack() as stack:
        if paths["friends"] is not None:
            friends = stack.enter_context(atomic_directory(paths["friends"], "apply"))
            for record in records:
                _link_friends(record, friends)
        if paths["parquet"] is not None:
            _concatenate(
                [r["parquet"] for r in records], stack.enter_context(atomic_path(paths["parquet"]))
            )
    first = records[0]
    sources = [r["fold_source"] for r in records if r["fold_source"] is not None]
    summary = {
        **{key: first[key] for key in _SAME_IN_EVERY_PART},
        "sample": name,
        "fold_source": sources[0] if sources else None,
        "files": files,
        "skipped_files": [{"file": s["file"], "reason": s["reason"]} for s in skipped],
        "entries": sum(r["entries"] for r in records),
        "selected": sum(r["selected"] for r in records),
        "friend_dir": str(paths["friends"]) if paths["friends"] is not None else None,
        "parquet": str(paths["parquet"]) if paths["parquet"] is not None else None,
    }
    write_json(paths["summary"], summary)
    log.info(
        "sample '%s': %d parts merged, %d of %d entries scored (%d file(s) skipped)",
        name,
        len(records),
        summary["selected"],
        summary["entries"],
        len(skipped),
    )
    return summary


def _link_friends(record: dict[str, Any], directory: Path) -> None:
    """Hard-link the part's friend files into ``directory`` (copy where links fail)."""
    source = Path(record["friend_dir"])
    for file in record["files"]:
        if file["friend"] is None:
            continue
        try:
            os.link(source / file["friend"], directory / file["friend"])
        except OSError:  # another file system, or one without hard links
            shutil.copy2(source / file["friend"], directory / file["friend"])


def _concatenate(tables: Sequence[str], output: Path) -> None:
    """The row groups of ``tables``, in order, as one Parquet file: their bytes copied, or
    where that cannot give the bytes of the writer one job uses, decoded and written again
    (:func:`hepml.tables.parquet_splice.merge_tables`)."""
    from hepml.apply.scoring import _parquet_writer

    kept = [path for path in tables if column_names(path) != list(EMPTY_PART_COLUMNS)]
    merge_tables(kept, output, _parquet_writer, skip_empty=False)
