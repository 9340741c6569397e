"""How a sample's files are split into ingest and apply jobs (the plan's ``parts``).

A sample of more than ``files_per_job`` files (``reading.files_per_job``, or the sample's own)
is read by several jobs, each over a contiguous run of the sample's files in their order,
the runs as even as possible: 45 files at 20 per job are 3 jobs of 15. With ``mb_per_job``, a
run also ends before its local files would pass that size (a larger file is a job alone);
remote files count as 0 MB (their size is not asked for). Every file keeps its index in the
whole sample (``first``), which the ``_file`` column and the (file, entry) folds use, so the
parts' merged outputs are those of one job per sample.

Light on purpose (no uproot): the plan computes the parts when Snakemake starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hepml.ingest.files import TREE_SUFFIX, is_remote

__all__ = ["Part", "file_sizes_mb", "split_files"]

_BYTES_PER_MB = 1e6


@dataclass(frozen=True)
class Part:
    """One job's files: ``files`` (entries as the plan lists them), the first one's index."""

    first: int
    files: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"first": self.first, "files": list(self.files)}


def file_sizes_mb(entries: Sequence[str]) -> list[float]:
    """The size of each file in MB (0 for a remote or not yet written file)."""
    sizes = []
    for entry in entries:
        match = TREE_SUFFIX.match(entry)
        path = match["path"] if match else entry
        try:
            size = 0.0 if is_remote(path) else Path(path).stat().st_size / _BYTES_PER_MB
        except OSError:
            size = 0.0
        sizes.append(size)
    return sizes


def split_files(
    entries: Sequence[str],
    files_per_job: int,
    mb_per_job: float | None = None,
    sizes_mb: Sequence[float] | None = None,
) -> list[Part]:
    """``entries`` (in order) as contiguous parts of at most ``files_per_job`` files, as
    even as possible; with ``mb_per_job``, also of at most that many MB (``sizes_mb``, one per
    entry), at least one file each."""
    if files_per_job < 1:
        msg = f"files_per_job must be 1 or more, got {files_per_job}"
        raise ValueError(msg)
    if mb_per_job is None:
        return _even(entries, files_per_job)
    sizes = list(sizes_mb) if sizes_mb is not None else file_sizes_mb(entries)
    parts, start, size = [], 0, 0.0
    for i, mb in enumerate(sizes):
        count = i - start
        if count and (count >= files_per_job or size + mb > mb_per_job):
            parts.append(Part(start, tuple(entries[start:i])))
            start, size = i, 0.0
        size += mb
    if start < len(entries):
        parts.append(Part(start, tuple(entries[start:])))
    return parts


def _even(entries: Sequence[str], files_per_job: int) -> list[Part]:
    """ceil(n / files_per_job) parts whose sizes differ by at most one file."""
    n = len(entries)
    jobs = max(1, math.ceil(n / files_per_job))
    base, extra = divmod(n, jobs)
    parts, start = [], 0
    for j in range(jobs):
        count = base + (1 if j < extra else 0)
        parts.append(Part(start, tuple(entries[start : start + count])))
        start += count
    return parts
