"""The cutflow of a sample: raw and weighted event counts after each selection step.

Counts are kept per input file while it is read (:class:`FileTally`) and added to the
sample's :class:`Cutflow` only once the file has been read to its end, so that a file skipped
half-way (``on_bad_file: skip``) leaves no trace in the numbers. Weighted counts are kept
*before* the luminosity normalisation and scaled once at the end, because skipping a file can
change the normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Cutflow", "FileTally", "write_cutflow"]


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
class FileTally:
    """What one file contributed, in unnormalised weights: merged only if it was read whole.

    ``events``/``weighted``: counts after each selection step; ``nan_counts``: NaN values of
    each feature among selected events; ``negative``/``negative_weighted``: selected events
    with a negative weight and their summed weight; ``rows``: rows written to the table.
    """

    events: list[int]
    weighted: list[float]
    nan_counts: dict[str, int] = field(default_factory=dict)
    negative: int = 0
    negative_weighted: float = 0.0
    rows: int = 0

    @classmethod
    def empty(cls, steps: int) -> FileTally:
        return cls([0] * steps, [0.0] * steps)

    def merge(self, other: FileTally) -> None:
        """Add ``other`` (a file read to its end) to this running total."""
        self.events = [a + b for a, b in zip(self.events, other.events, strict=True)]
        self.weighted = [a + b for a, b in zip(self.weighted, other.weighted, strict=True)]
        for name, count in other.nan_counts.items():
            self.nan_counts[name] = self.nan_counts.get(name, 0) + count
        self.negative += other.negative
        self.negative_weighted += other.negative_weighted
        self.rows += other.rows

    def add_chunk(
        self, masks: list[np.ndarray], raw_weight: np.ndarray, features: dict[str, np.ndarray]
    ) -> None:
        """Count one chunk: ``masks`` cumulative per step, ``features`` of selected events."""
        for i, mask in enumerate(masks):
            self.events[i] += int(np.count_nonzero(mask))
            self.weighted[i] += float(np.sum(raw_weight[mask], dtype=np.float64))
        selected = raw_weight[masks[-1]]
        negative = selected < 0
        self.negative += int(np.count_nonzero(negative))
        self.negative_weighted += float(np.sum(selected[negative], dtype=np.float64))
        for name, values in features.items():
            self.nan_counts[name] = self.nan_counts.get(name, 0) + int(np.isnan(values).sum())


def write_cutflow(result: Any, csv_path: str | Path, markdown_path: str | Path) -> None:
    """Write the cutflow of an ingest result as CSV (machines) and Markdown (humans), atomically.

    Files skipped under ``on_bad_file: skip`` are listed, with the reason, below the Markdown
    table (and in the summary JSON).
    """
    from hepml.tables.text import write_table

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
    note = ""
    skipped = getattr(result, "skipped_files", [])
    if skipped:
        lines = [f"- `{s['file']}`: {s['reason']}" for s in skipped]
        note = f"{len(skipped)} file(s) skipped (on_bad_file: skip):\n\n" + "\n".join(lines)
    write_table(rows, csv_path, markdown_path, title=title, note=note)
