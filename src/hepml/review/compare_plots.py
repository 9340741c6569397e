"""Two or more runs side by side, for a reviewer's "what changed?": overlaid ROC curves and
score shapes (:mod:`hepml.plots.comparison`) and the working points of every run in one table.

:func:`write_run_comparison` writes into a directory the user names, under hepml's ownership
rules (:mod:`hepml.outputs`): it replaces only files it wrote itself, and never writes inside
a run it reads.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepml.exceptions import DataError
from hepml.outputs import check_outputs
from hepml.plotdata.performance import RocCurves, ScoreHistograms
from hepml.review.compare import evaluation_dir
from hepml.tables.text import write_table

__all__ = ["COMPARISON_FILES", "run_labels", "working_point_rows", "write_run_comparison"]

log = logging.getLogger(__name__)

COMPARISON_FILES = (
    "roc.pdf",
    "roc.png",
    "score_shapes.pdf",
    "score_shapes.png",
    "working_points.csv",
    "working_points.md",
)
WORKING_POINT_COLUMNS = ("threshold", "sensitivity", "specificity", "background_rejection")


def run_labels(runs: Sequence[str | os.PathLike[str]], given: Sequence[str] = ()) -> list[str]:
    """A short, distinct label per run: ``given``, else the directory names (the parent's when
    the directory is a ``results``/``evaluation`` folder), else run1, run2, ..."""
    if given:
        if len(given) != len(runs) or len(set(given)) != len(given):
            msg = f"give one distinct label per run: {len(runs)} runs, labels {list(given)}"
            raise DataError(msg)
        return list(given)
    labels = []
    for run in runs:
        path = Path(run).resolve()
        while path.name in ("results", "evaluation") and path.parent != path:
            path = path.parent
        labels.append(path.name)
    if len(set(labels)) != len(labels):
        return [f"run{i + 1}" for i in range(len(runs))]
    return labels


def _classifier(names: Sequence[str], wanted: str | None, run: str) -> str:
    if wanted is None:
        return names[0]
    if wanted not in names:
        msg = f"run '{run}' has no classifier '{wanted}' (it has {list(names)})"
        raise DataError(msg)
    return wanted


def working_point_rows(
    tables: Mapping[str, Sequence[Mapping[str, str]]], classifier: str | None = None
) -> list[dict[str, Any]]:
    """One row per working point: each run's threshold, sensitivity, specificity and
    background rejection side by side (``<quantity> [<run>]``), for ``classifier`` (by
    default each run's first)."""
    points: dict[str, dict[str, Any]] = {}
    for label, rows in tables.items():
        names = list(dict.fromkeys(r["classifier"] for r in rows))
        if not names:
            continue
        chosen = _classifier(names, classifier, label)
        for row in rows:
            if row["classifier"] != chosen:
                continue
            point = points.setdefault(row["working_point"], {"working_point": row["working_point"]})
            point |= {f"{c} [{label}]": float(row[c]) for c in WORKING_POINT_COLUMNS if c in row}
    columns = ["working_point"] + [
        f"{c} [{label}]" for c in WORKING_POINT_COLUMNS for label in tables
    ]
    return [{c: point.get(c, "") for c in columns} for point in points.values()]


def _read_working_points(directory: Path) -> list[dict[str, str]]:
    path = directory / "working_points.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def write_run_comparison(
    runs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    labels: Sequence[str] = (),
    classifier: str | None = None,
) -> list[Path]:
    """Write roc, score_shapes (PDF + PNG) and working_points (CSV + Markdown) of ``runs``
    into ``output_dir``; return the paths."""
    from hepml.plots.comparison import plot_roc_comparison, plot_score_comparison
    from hepml.plots.style import PlotStyle, save_figure

    if len(runs) < 2:
        msg = f"comparing needs at least two runs, got {len(runs)}"
        raise DataError(msg)
    directories = [evaluation_dir(run) for run in runs]
    out = Path(output_dir)
    check_outputs(files=[out / name for name in COMPARISON_FILES], input_directories=directories)
    names = run_labels(runs, labels)
    rocs, shapes, points = {}, {}, {}
    for label, directory in zip(names, directories, strict=True):
        curves = RocCurves.read(directory / "curves.json")
        histograms = ScoreHistograms.read(directory / "histograms.json")
        rocs[label] = curves[_classifier(curves.names, classifier, label)]
        shapes[label] = histograms[_classifier(histograms.names, classifier, label)]
        points[label] = _read_working_points(directory)
    style = PlotStyle(label=None, energy_tev=None)
    written = save_figure(plot_roc_comparison(rocs, style), out, "roc", style)
    written += save_figure(plot_score_comparison(shapes, style), out, "score_shapes", style)
    note = "Each run's working points (its first classifier unless one is chosen), side by side."
    write_table(
        working_point_rows(points, classifier),
        out / "working_points.csv",
        out / "working_points.md",
        title="Working points of the compared runs",
        note=note,
    )
    log.info("compared %d runs into %s", len(runs), out)
    return [*written, out / "working_points.csv", out / "working_points.md"]
