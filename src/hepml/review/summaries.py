"""The run's records as tables for the report: ingest, apply and export, one row each.

The ingest and apply jobs write one JSON summary per sample, the export a ``manifest.json``;
a reviewer reading the HTML report wants them as tables with captions. :func:`write_summaries`
reformats them, nothing else (no number is computed here):

- ``ingest.csv``/``.md``: per sample its files, entries read and selected, the sum of
  generator weights and where it came from, the normalisation, the expected yield, the
  fraction and yield of negative weights, and the NaN (missing) count of every feature that
  has any;
- ``apply.csv``/``.md``: per scored sample its kind, scoring mode, files, entries and selected
  events, skipped files;
- ``export.csv``/``.md``: per fold model its exported files, their SHA-256 (shortened) and the
  closure test (test events rescored by the exported model: XGBoost identical, the largest
  ONNX difference, the largest change when NaN goes right as in ROOT's RBDT).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepml.exceptions import DataError
from hepml.outputs import check_outputs
from hepml.tables.text import write_table

__all__ = [
    "SUMMARY_TABLES",
    "apply_rows",
    "export_rows",
    "ingest_rows",
    "write_summaries",
]

log = logging.getLogger(__name__)

SUMMARY_TABLES = ("ingest", "apply", "export")


def _read(path: str | os.PathLike[str], rule: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        msg = f"'{path}' does not exist; run the {rule} rule first"
        raise DataError(msg)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        msg = f"cannot read '{path}' as JSON ({err}); rerun the {rule} rule"
        raise DataError(msg) from err


def ingest_rows(summaries: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per ingested sample (sample -> its ``<sample>.summary.json``)."""
    with_nan = list(
        dict.fromkeys(
            f for s in summaries.values() for f, n in s.get("nan_counts", {}).items() if n
        )
    )
    rows = []
    for sample, s in summaries.items():
        row = {
            "sample": sample,
            "files": len(s["files"]),
            "skipped_files": len(s.get("skipped_files", [])),
            "entries": s["entries"],
            "selected": s["selected"],
            "sum_of_generator_weights": s["sum_of_generator_weights"],
            "sum_of_weights_source": s.get("sum_of_weights_source", ""),
            "normalisation": s["normalisation"],
            "weighted_yield": s["weighted_yield"],
            "negative_weight_fraction": s["negative_weight_fraction"],
            "negative_weight_yield": s["negative_weight_yield"],
            "fold_source": s.get("fold_source", ""),
        }
        counts = s.get("nan_counts", {})
        rows.append(row | {f"nan_{f}": counts.get(f, 0) for f in with_nan})
    return rows


def apply_rows(summaries: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per scored sample (sample -> its ``results/apply/<sample>.json``)."""
    return [
        {
            "sample": sample,
            "kind": s["kind"],
            "mode": s["mode"],
            "files": len(s["files"]),
            "skipped_files": len(s.get("skipped_files", [])),
            "entries": s["entries"],
            "selected": s["selected"],
            "branch": s["branch"],
            "friend_tree": s.get("friend_tree") or "",
            "config_hash": s["config_hash"],
        }
        for sample, s in summaries.items()
    ]


def export_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per exported fold model: its files, their SHA-256 and its closure test."""
    closure = {c["fold"]: c for c in manifest.get("closure", [])}
    rows = []
    for entry in manifest["models"]:
        check = closure.get(entry["fold"], {})
        sha = entry.get("sha256", {})
        rows.append(
            {
                "fold": entry["fold"],
                "xgboost_json": entry["xgboost_json"],
                "xgboost_sha256": sha.get(entry["xgboost_json"], "")[:16],
                "onnx": entry.get("onnx") or "",
                "onnx_sha256": sha.get(entry.get("onnx") or "", "")[:16],
                "best_iteration": entry.get("best_iteration", ""),
                "closure_events": check.get("events", ""),
                "xgboost_json_identical": check.get("xgboost_json_identical", ""),
                "onnx_max_abs_diff": check.get("onnx_max_abs_diff", ""),
                "nan_right_max_abs_diff": check.get("nan_right_max_abs_diff", ""),
                "config_hash": manifest.get("config_hash", ""),
            }
        )
    return rows


_TITLES = {
    "ingest": "Ingest summary per sample",
    "apply": "Scored samples (apply)",
    "export": "Exported models and closure test",
}
_NOTES = {
    "ingest": (
        "Per sample: files read (and skipped), entries read, events selected, the sum of "
        "generator weights and its source, the normalisation (cross section x luminosity / "
        "sum of weights), the expected yield, the fraction and yield of events with negative "
        "weight, and `nan_<feature>`: selected events whose feature is missing (NaN)."
    ),
    "apply": (
        "Per sample scored into the ntuples: its kind (training MC or extra), how events were "
        "scored (fold: by the model that never saw them; mean: all models), files, entries, "
        "events passing the selection, and the config hash of the models used."
    ),
    "export": (
        "Per fold model: the exported files and their SHA-256 (first 16 hex digits), and the "
        "closure test on its test events: the exported XGBoost JSON reproduces the training "
        "scores exactly, the ONNX model within the stated difference; `nan_right_max_abs_diff` "
        "is how much scores change if missing values go right at every split (ROOT's RBDT)."
    ),
}


def write_summaries(
    ingest: Mapping[str, str | os.PathLike[str]],
    apply: Mapping[str, str | os.PathLike[str]],
    manifest: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
) -> list[Path]:
    """Write ingest, apply and export (CSV + Markdown) into ``output_dir`` from the ingest
    summaries and apply summaries (sample -> JSON) and the export's manifest.json."""
    out = Path(output_dir)
    paths = [out / f"{name}.{ext}" for name in SUMMARY_TABLES for ext in ("csv", "md")]
    check_outputs(files=paths, inputs=[*ingest.values(), *apply.values(), manifest])
    rows = {
        "ingest": ingest_rows({s: _read(p, "ingest") for s, p in ingest.items()}),
        "apply": apply_rows({s: _read(p, "apply") for s, p in apply.items()}),
        "export": export_rows(_read(manifest, "export")),
    }
    for name in SUMMARY_TABLES:
        write_table(
            rows[name], out / f"{name}.csv", out / f"{name}.md", title=_TITLES[name],
            note=_NOTES[name],
        )  # fmt: skip
    log.info("wrote the ingest, apply and export summaries to %s", out)
    return paths
