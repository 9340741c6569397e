"""Write what :func:`hepml.evaluate.multiclass.evaluate_multiclass` computed: tables (CSV,
Markdown, LaTeX) and ``multiclass.json``, the data the multiclass plots are drawn from.

One row per classifier (the BDT, then the baselines) times class, pair or fold, so that the
baselines line up under the BDT.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepml.atomic import write_json
from hepml.tables.text import write_table

__all__ = ["MULTICLASS_TABLES", "write_multiclass"]

log = logging.getLogger(__name__)

MULTICLASS_TABLES = ("multiclass_auc", "multiclass_confusion", "multiclass_overtraining")

_TITLES = {
    "multiclass_auc": "Multiclass AUCs: one-vs-rest and one-vs-one",
    "multiclass_confusion": "Multiclass confusion matrix",
    "multiclass_overtraining": "Multiclass overtraining check",
}
_NOTES = {
    "multiclass_auc": (
        "On the merged out-of-fold scores, weighted with the signed physics weights "
        "(`auc_unweighted`: Monte Carlo events). ovr: class c (positive, scored by its output "
        "P(c)) against all other classes; ovo: the mean of AUC(P(a) | a vs b) and AUC(P(b) | "
        "b vs a) on the events of the two classes; macro: the mean over classes or pairs. "
        "`auc_fold_k`: model k on its test fold; std over folds: ddof=1."
    ),
    "multiclass_confusion": (
        "Each out-of-fold event called the class of its largest output: rows the true class, "
        "columns `called_<class>` in expected events (signed weights) and `events_<class>` in "
        "Monte Carlo events."
    ),
    "multiclass_overtraining": (
        "Per fold model and class c: the weighted KS test of the output P(c) on the class-c "
        "events of the training set against those of the test fold, and the one-vs-rest AUC "
        "on both. `flagged` (KS p-value < {threshold:g}) is indicative, not a verdict."
    ),
}


def _auc_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for kind in ("ovr", "ovo"):
        for row in [*result[kind], result["macro"][kind]]:
            rows.append({"classifier": result["classifier"], "kind": kind, **row})
    return rows


def _confusion_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    names = result["classes"]
    rows = []
    for i, true in enumerate(names):
        row: dict[str, Any] = {"classifier": result["classifier"], "true_class": true}
        row |= {f"called_{c}": result["confusion"]["expected"][i][j] for j, c in enumerate(names)}
        row |= {
            f"events_{c}": round(result["confusion"]["events"][i][j]) for j, c in enumerate(names)
        }
        rows.append(row)
    return rows


def _overtraining_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"classifier": result["classifier"], **row} for row in result["overtraining"]]


_ROWS = {
    "multiclass_auc": _auc_rows,
    "multiclass_confusion": _confusion_rows,
    "multiclass_overtraining": _overtraining_rows,
}


def _rectangular(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = dict.fromkeys(c for row in rows for c in row)
    return [{c: row.get(c, "") for c in columns} for row in rows]


def write_multiclass(
    results: Sequence[Mapping[str, Any]], output_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write the multiclass tables (each as .csv, .md, .tex) and ``multiclass.json`` of one
    or more classifiers' results into ``output_dir``; return the paths."""
    output_dir = Path(output_dir)
    threshold = results[0]["ks_threshold"]
    written = []
    for stem in MULTICLASS_TABLES:
        rows = _rectangular([row for r in results for row in _ROWS[stem](r)])
        paths = [output_dir / f"{stem}.{ext}" for ext in ("csv", "md", "tex")]
        write_table(
            rows,
            paths[0],
            paths[1],
            title=_TITLES[stem],
            note=_NOTES[stem].format(threshold=threshold),
            latex_path=paths[2],
        )
        written += paths
    content = {
        "version": 1,
        "order": [r["classifier"] for r in results],
        "classifiers": {
            r["classifier"]: {
                k: r[k]
                for k in (
                    "classes",
                    "ovr",
                    "ovo",
                    "macro",
                    "confusion",
                    "curves",
                    "histograms",
                    "overtraining",
                    "ks_threshold",
                )
            }
            for r in results
        },
    }
    write_json(output_dir / "multiclass.json", content)
    written.append(output_dir / "multiclass.json")
    log.info("wrote %d multiclass evaluation files to %s", len(written), output_dir)
    return written
