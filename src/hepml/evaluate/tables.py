"""Write what ``hepml.evaluate.performance.evaluate`` computed: tables (CSV, Markdown, LaTeX) and
JSON.

Tables hold one row per classifier (times working point, fold, process, ... where that
applies), so baselines line up under the BDT. The JSON files (``curves.json``,
``histograms.json``, ``significance.json``) are the plot data (:mod:`hepml.plotdata`) the
plots are drawn from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepml.exceptions import DataError
from hepml.plotdata.performance import (
    ClassifierScan,
    RocCurves,
    ScoreHistograms,
    SignificanceScans,
)
from hepml.tables.text import write_table

if TYPE_CHECKING:
    from hepml.evaluate.performance import Evaluation

__all__ = ["TABLES", "write_evaluation"]

log = logging.getLogger(__name__)

# every table write_evaluation writes, each as <name>.csv, .md and .tex
TABLES = (
    "metrics",
    "working_points",
    "confusion",
    "overtraining",
    "per_process",
    "significance",
)


def _rectangular(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row every column (classifiers with other K lack some auc_fold_k)."""
    columns = dict.fromkeys(c for row in rows for c in row)
    return [{c: row.get(c, "") for c in columns} for row in rows]


def _metrics_row(ev: Evaluation) -> list[dict[str, Any]]:
    """The row of metrics.csv of this classifier."""
    row = {
        "classifier": ev.classifier,
        "auc": ev.auc,
        "auc_std_over_folds": ev.auc_std_over_folds,
        "auc_fold_mean": ev.auc_fold_mean,
        "auc_unweighted": ev.auc_unweighted,
    }
    return [row | {f"auc_fold_{k}": auc for k, auc in enumerate(ev.auc_folds)}]


def _working_point_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of working_points.csv: one per working point of this classifier."""
    rows = []
    for result in ev.working_points:
        point = result.point.as_dict()
        row = {"classifier": ev.classifier, "working_point": point.pop("definition"), **point}
        rows.append(row | {f"{m}_std_over_folds": v for m, v in result.std_over_folds.items()})
    return rows


def _confusion_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of confusion.csv: the confusion matrix at each working point, weighted and raw."""
    rows = []
    for result in ev.working_points:
        point, raw = result.point, result.raw
        row = {
            "classifier": ev.classifier,
            "working_point": point.definition,
            "threshold": point.threshold,
            "tp": point.tp,
            "fp": point.fp,
            "tn": point.tn,
            "fn": point.fn,
        }
        if raw is not None:
            row |= {f"{k}_events": round(getattr(raw, k)) for k in ("tp", "fp", "tn", "fn")}
        rows.append(row)
    return rows


def _overtraining_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of overtraining.csv: one per fold and class of this classifier."""
    return [
        {
            "classifier": ev.classifier,
            "fold": check.fold,
            "class": check.event_class,
            "ks_statistic": check.ks.statistic,
            "ks_expected": check.ks_expected,
            "ks_pvalue": check.ks.pvalue,
            "n_eff_train": check.ks.n_eff_a,
            "n_eff_test": check.ks.n_eff_b,
            "auc_train": check.auc_train,
            "auc_test": check.auc_test,
            "auc_gap": check.auc_gap,
            "significant": check.significant,
            "flagged": check.flagged,
        }
        for check in ev.overtraining
    ]


def _per_process_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """Rows of per_process.csv: one per process of this classifier, then all backgrounds."""
    return [{"classifier": ev.classifier, **row} for row in ev.per_process]


_SIGNIFICANCE_COLUMNS = (
    "cut",
    "signal",
    "background",
    "signal_events",
    "background_events",
    "signal_efficiency",
    "background_efficiency",
    "purity",
    "s_over_sqrt_b",
    "s_over_sqrt_s_plus_b",
    "asimov",
)


def _significance_rows(ev: Evaluation) -> list[dict[str, Any]]:
    """The row of significance.csv: the optimal cut of this classifier and its yields."""
    if ev.significance is None:
        return []
    optimum = ev.significance["optimum"] or {}
    row = {"classifier": ev.classifier, "optimised": ev.significance["metric"]}
    row |= {c: optimum.get(c, float("nan")) for c in _SIGNIFICANCE_COLUMNS}
    by_process = optimum.get("background_by_process", {})
    return [row | {f"background_{p}": y for p, y in by_process.items()}]


_NOTES = {
    "metrics": (
        "AUC of the merged out-of-fold (test) scores, weighted with the signed physics "
        "weights; `auc_unweighted` ignores the weights. `auc_fold_k` is model k on its test "
        "fold; the std over folds is the sample standard deviation (ddof=1)."
    ),
    "working_points": (
        "Events with score > threshold are selected; tp/fp/tn/fn are weighted yields "
        "(expected events). Metrics use the merged out-of-fold scores; `*_std_over_folds` "
        "applies the same threshold to each fold's test events (sample std, ddof=1)."
    ),
    "confusion": (
        "Confusion matrix at each working point (score > threshold = called signal): tp, fp, "
        "tn, fn in expected events (signed weights) and `*_events` as raw Monte Carlo event "
        "counts, on the merged out-of-fold scores."
    ),
    "overtraining": (
        "Weighted two-sample KS test of each model's training-set scores against its test-set "
        "scores, per class, and the AUC on both. `ks_expected` = sqrt(1/n_eff_train + "
        "1/n_eff_test) is the size of the KS distance without overtraining (its mean is 0.87 "
        "times this). `significant`: KS p-value < {threshold:g}; `flagged` (overtraining): "
        "significant and large, i.e. KS distance > {ks_distance:g} or AUC gap (train - test) "
        "> {auc_gap:g}. With many events a tiny, harmless difference is significant; the "
        "effect sizes say whether it matters."
    ),
    "per_process": (
        "Per process, on the merged out-of-fold scores: yield (expected events), AUC of the "
        "signal against that background alone (for a signal process: that process against "
        "all backgrounds), its std over folds, and the fraction of the process's yield with "
        "score > threshold at each working point (`eff@<working point>`)."
    ),
    "significance": (
        "The cut on the score that maximises the `optimised` significance with at least "
        "{min_background:g} expected background events: expected yields s and b at the "
        "configured luminosity (merged out-of-fold scores), s/sqrt(b), s/sqrt(s+b) and the "
        "Asimov Z_A = sqrt(2((s+b) ln(1+s/b) - s)); no systematic uncertainty. "
        "`background_<process>` splits b."
    ),
}
_TITLES = {
    "metrics": "Classifier performance",
    "working_points": "Working points",
    "confusion": "Confusion matrices at the working points",
    "overtraining": "Overtraining check",
    "per_process": "Performance per process",
    "significance": "Optimal cut on the score",
}
_ROWS = {
    "metrics": _metrics_row,
    "working_points": _working_point_rows,
    "confusion": _confusion_rows,
    "overtraining": _overtraining_rows,
    "per_process": _per_process_rows,
    "significance": _significance_rows,
}


def write_evaluation(
    ev: Evaluation | Sequence[Evaluation], output_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write the tables and plot data of one or more classifiers into ``output_dir``.

    Tables, each as ``.csv``, ``.md`` and ``.tex``: ``metrics`` (one row per classifier),
    ``working_points`` and ``confusion`` (per classifier x working point), ``overtraining``
    (per classifier x fold x class), ``per_process`` (per classifier x process) and
    ``significance`` (the optimal cut, one row per classifier). JSON: ``curves.json`` (ROC
    curves), ``histograms.json`` (score histograms), ``significance.json`` (the cut scan),
    each keyed by classifier. Returns the paths written.
    """
    evaluations = [ev] if hasattr(ev, "classifier") else list(ev)
    if not evaluations:
        msg = "write_evaluation needs at least one Evaluation"
        raise DataError(msg)
    output_dir = Path(output_dir)
    first = evaluations[0]
    formats = {
        "threshold": first.ks_threshold,
        "ks_distance": first.criteria.ks_distance,
        "auc_gap": first.criteria.auc_gap,
        "min_background": (first.significance or {}).get("min_background", float("nan")),
    }
    written = []
    for stem in TABLES:
        rows = _rectangular([row for e in evaluations for row in _ROWS[stem](e)])
        paths = [output_dir / f"{stem}.{ext}" for ext in ("csv", "md", "tex")]
        write_table(
            rows,
            paths[0],
            paths[1],
            title=_TITLES[stem],
            note=_NOTES[stem].format(**formats),
            latex_path=paths[2],
        )
        written += paths
    # the plot data, one entry per classifier in the evaluation's order
    plot_data = {
        "curves": RocCurves({e.classifier: e.curves for e in evaluations}),
        "histograms": ScoreHistograms({e.classifier: e.histograms for e in evaluations}),
        "significance": SignificanceScans(
            {
                e.classifier: ClassifierScan.from_summary(e.significance)
                for e in evaluations
                if e.significance is not None
            }
        ),
    }
    for stem, data in plot_data.items():
        written.append(data.write(output_dir / f"{stem}.json"))
    log.info("wrote %d evaluation files to %s", len(written), output_dir)
    return written
