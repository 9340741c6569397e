"""Analysis categories combined: each category's optimal cut and significance, and theirs
together beside the inclusive BDT's.

Each category (``categories.cuts``) has its own K-fold BDT, evaluated on its own events
(``results/categories/<name>/evaluation/significance.json``): its best cut on its score and
the expected significance Z_i there. The categories are independent counting experiments
when no event is in two of them (checked here, on their ingest tables: an event in two
categories is an error naming both), and then the combined significance is

    Z = sqrt(sum_i Z_i^2),

the categories' significances added in quadrature. For the Asimov significance this is the
Asimov sum itself, not an approximation: the profile-likelihood test statistic of independent
channels is the sum of theirs, ``q_0 = sum_i q_0,i`` with ``Z_i = sqrt(q_0,i)``. For
``s_over_sqrt_b`` it is the usual quadrature sum. A category whose scan finds no cut keeping
``min_background`` events contributes 0 (and says so). The inclusive BDT's optimum is given
beside the combination, on the same metric. No systematic uncertainty is included.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml.atomic import write_json
from hepml.exceptions import DataError
from hepml.tables.text import write_table

__all__ = ["category_tables", "check_disjoint", "combine_categories", "write_combination"]

log = logging.getLogger(__name__)


def _optimum(path: str | Path, classifier: str = "xgboost") -> dict[str, Any]:
    """The metric and optimum (or None) of one significance.json."""
    content = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        entry = content["classifiers"][classifier]
    except KeyError as err:
        msg = f"'{path}' has no significance scan of the {classifier} BDT; rerun its evaluation"
        raise DataError(msg) from err
    return {"metric": entry["metric"], "optimum": entry["optimum"]}


def check_disjoint(tables: Mapping[str, Mapping[str, str | Path]]) -> None:
    """Raise :class:`DataError` when an event (sample, file, entry) is in two categories.

    ``tables`` maps category -> sample -> its ingest table.
    """
    import pyarrow.parquet as pq

    seen: dict[str, dict[str, np.ndarray]] = {}
    for category, samples in tables.items():
        for sample, path in samples.items():
            t = pq.read_table(path, columns=["_file", "_entry"])
            keys = (t.column("_file").to_numpy().astype(np.int64) << 40) | t.column(
                "_entry"
            ).to_numpy().astype(np.int64)
            for other, keys_of in seen.items():
                shared = np.intersect1d(keys_of.get(sample, np.empty(0, np.int64)), keys)
                if shared.size:
                    msg = (
                        f"categories '{other}' and '{category}' share {shared.size} event(s) of "
                        f"sample '{sample}': categories must not overlap for their "
                        "significances to add; make their cuts exclusive"
                    )
                    raise DataError(msg)
            seen.setdefault(category, {})[sample] = keys


def combine_categories(
    inclusive: str | Path, categories: Mapping[str, str | Path]
) -> dict[str, Any]:
    """Rows per category (its optimum), the combination and the inclusive BDT (JSON-ready).

    ``inclusive`` and each of ``categories`` (name -> path) is a significance.json.
    """
    rows, metric = [], None
    for name, path in categories.items():
        entry = _optimum(path)
        metric = metric or entry["metric"]
        rows.append(_row(name, "category", entry, metric))
    contributions = [r["significance"] for r in rows]
    combined = {
        "name": "combined",
        "kind": "sqrt(sum Z_i^2)",
        "cut": math.nan,
        "signal": float(sum(r["signal"] for r in rows)),
        "background": float(sum(r["background"] for r in rows)),
        "significance": float(math.sqrt(sum(z**2 for z in contributions))),
        "note": "categories added in quadrature (Asimov: exact for disjoint categories)",
    }
    inclusive_row = _row("inclusive", "inclusive BDT", _optimum(inclusive), metric)
    log.info(
        "combined %s significance of %d categories: %.4g (inclusive: %.4g)",
        metric, len(rows), combined["significance"], inclusive_row["significance"],
    )  # fmt: skip
    return {"metric": metric, "rows": [*rows, combined, inclusive_row]}


def _row(name: str, kind: str, entry: Mapping[str, Any], metric: str | None) -> dict[str, Any]:
    optimum = entry["optimum"]
    if entry["metric"] != metric:
        msg = f"the significance of '{name}' is {entry['metric']}, the others' {metric}"
        raise DataError(msg)
    if optimum is None:
        log.warning("%s '%s': no cut keeps the minimum background; it contributes 0", kind, name)
        note = "no cut keeps evaluation.significance.min_background"
        return {"name": name, "kind": kind, "cut": math.nan, "signal": 0.0, "background": 0.0,
                "significance": 0.0, "note": note}  # fmt: skip
    return {
        "name": name,
        "kind": kind,
        "cut": optimum["cut"],
        "signal": optimum["signal"],
        "background": optimum["background"],
        "significance": optimum[metric],
        "note": "",
    }


_NOTE = (
    "Each category's own BDT cut at its own optimum (expected yields s and b at the configured "
    "luminosity, out-of-fold scores); `significance` is the {metric} significance there. "
    "combined: sqrt(sum Z_i^2) over the categories, which for the Asimov significance of "
    "disjoint categories (checked) is the Asimov sum of independent counting experiments. "
    "inclusive: the BDT trained on all selected events, at its optimum. No systematic uncertainty."
)


def write_combination(result: Mapping[str, Any], output_dir: str | Path) -> list[Path]:
    """Write combined.csv/.md/.tex and combined.json into ``output_dir``."""
    out = Path(output_dir)
    paths = [out / f"combined.{ext}" for ext in ("csv", "md", "tex")]
    write_table(
        list(result["rows"]),
        paths[0],
        paths[1],
        title="Categories combined",
        note=_NOTE.format(metric=result["metric"]),
        latex_path=paths[2],
    )
    write_json(out / "combined.json", {"version": 1, **result})
    return [*paths, out / "combined.json"]


def category_tables(
    categories: Sequence[str], samples: Sequence[str], directory: str | Path
) -> dict[str, dict[str, Path]]:
    """category -> sample -> ``<directory>/<category>/ingest/<sample>.parquet``."""
    base = Path(directory)
    return {c: {s: base / c / "ingest" / f"{s}.parquet" for s in samples} for c in categories}
