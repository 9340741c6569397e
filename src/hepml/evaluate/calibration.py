"""The evaluation of calibrated outputs and the rarity: reliability diagram, Brier score before
and after calibration, and the flatness of the background's rarity, on the test folds.

Each fold model's calibration was fitted on its validation fold (:mod:`hepml.train.calibrate`);
here every event is judged by the model whose test fold holds it, so no calibration is judged
on the events it was fitted on. Weights are those of the fit (:func:`hepml.calibration.
calibration_weights`: the physics weights with the negative-weight policy, at the configured
prior), so that a calibrated output is compared with the probability it claims to be.

- **Brier score**: ``sum w (p - y)^2 / sum w`` (y = 1 for signal), of the raw score and of each
  calibrated output; merged over the test folds and per fold (scikit-learn's
  ``brier_score_loss`` with the same weights).
- **reliability diagram**: the predicted probabilities binned at their quantiles (as
  scikit-learn's ``calibration_curve(strategy="quantile")`` does, on Monte Carlo events);
  per bin the weighted mean prediction and the weighted fraction of signal. A calibrated
  output lies on the diagonal.
- **rarity**: the background's rarity should be uniform on [0, 1]: the weighted KS distance of
  its distribution from the uniform one (and the asymptotic p-value at the Kish effective
  number of events), and the rarity histograms of background and signal.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import kolmogorov

from hepml.atomic import write_json
from hepml.calibration import calibration_weights
from hepml.evaluate.metrics import effective_entries
from hepml.exceptions import DataError
from hepml.tables.text import write_table

__all__ = [
    "RARITY_BINS",
    "brier_score",
    "evaluate_calibration",
    "read_test_rows",
    "reliability_curve",
    "uniformity",
    "write_calibration",
]

log = logging.getLogger(__name__)

RARITY_BINS = 20
OUTPUTS = ("score", "score_isotonic", "score_platt")  # raw, then calibrated
_COLUMNS = ("label", "weight", "set", "model_fold")


def brier_score(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean squared difference between the prediction and the class (1 signal)."""
    total = float(np.sum(w))
    if not total > 0:
        msg = f"a Brier score needs weights with a positive sum, got {total:g}"
        raise DataError(msg)
    return float(np.sum(w * (np.asarray(p, dtype=np.float64) - (y == 1)) ** 2) / total)


def reliability_curve(p: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int) -> dict[str, list]:
    """Per quantile bin of ``p``: weighted mean prediction, weighted signal fraction, events.

    The bins are those of scikit-learn's ``calibration_curve(strategy="quantile")``; empty
    bins (ties) are left out, as there.
    """
    p = np.asarray(p, dtype=np.float64)
    edges = np.percentile(p, np.linspace(0.0, 100.0, bins + 1))
    ids = np.searchsorted(edges[1:-1], p)
    events = np.bincount(ids, minlength=bins)
    total = np.bincount(ids, weights=w, minlength=bins)
    predicted = np.bincount(ids, weights=w * p, minlength=bins)
    signal = np.bincount(ids, weights=w * (y == 1), minlength=bins)
    keep = (events > 0) & (total > 0)
    return {
        "predicted": (predicted[keep] / total[keep]).tolist(),
        "observed": (signal[keep] / total[keep]).tolist(),
        "events": events[keep].tolist(),
        "weight": total[keep].tolist(),
    }


def uniformity(values: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted KS distance of ``values`` from the uniform distribution on [0, 1] and its
    asymptotic p-value at the Kish effective number of events."""
    order = np.argsort(values, kind="stable")
    x, weights = np.asarray(values, dtype=np.float64)[order], w[order]
    cdf = np.cumsum(weights) / weights.sum()
    before = np.r_[0.0, cdf[:-1]]
    distance = float(max(np.max(cdf - x), np.max(x - before))) if x.size else math.nan
    n = effective_entries(weights)
    sqrt_n = math.sqrt(n)
    pvalue = float(kolmogorov((sqrt_n + 0.12 + 0.11 / sqrt_n) * distance)) if n > 0 else math.nan
    return {"ks_distance": distance, "ks_pvalue": pvalue, "n_eff": n}


def read_test_rows(paths: Sequence[str | Path]) -> Iterator[dict[str, np.ndarray]]:
    """The test rows of each fold model's score table (its calibrated columns and rarity)."""
    import pyarrow.parquet as pq

    for path in paths:
        names = pq.read_schema(path).names
        present = [c for c in (*OUTPUTS, "score_rarity") if c in names]
        if len(present) < 2:
            msg = (
                f"score table {path} has no calibrated output or rarity column (score_isotonic, "
                "score_platt, score_rarity): was it trained with a calibration section? Rerun "
                "the train rule."
            )
            raise DataError(msg)
        table = pq.read_table(path, columns=[*_COLUMNS, *present])
        rows = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
        test = rows.pop("set").astype(str) == "test"
        yield {c: v[test] for c, v in rows.items()}


def evaluate_calibration(
    paths: Sequence[str | Path], *, policy: str, prior: str, bins: int
) -> dict[str, Any]:
    """Brier scores, reliability curves and the rarity's flatness of the score tables of the
    K fold models (JSON-ready; see the module docstring)."""
    parts = list(read_test_rows(paths))
    t = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    w = calibration_weights(t["weight"], t["label"], policy=policy, prior=prior)
    folds = sorted(np.unique(t["model_fold"]).tolist())
    rows, reliability = [], {}
    for name in (c for c in OUTPUTS if c in t):
        per_fold = [
            brier_score(t[name][m], t["label"][m], w[m])
            for m in (t["model_fold"] == k for k in folds)
        ]
        row = {"output": name, "brier": brier_score(t[name], t["label"], w)}
        row["brier_std_over_folds"] = (
            float(np.std(per_fold, ddof=1)) if len(folds) > 1 else math.nan
        )
        rows.append(row | {f"brier_fold_{k}": b for k, b in zip(folds, per_fold, strict=True)})
        reliability[name] = reliability_curve(t[name], t["label"], w, bins)
    result = {"prior": prior, "bins": bins, "brier": rows, "reliability": reliability}
    if "score_rarity" in t:
        result["rarity"] = _rarity(t, w, folds)
    log.info("Brier scores: %s", {r["output"]: round(r["brier"], 6) for r in rows})
    return result


def _rarity(t: Mapping[str, np.ndarray], w: np.ndarray, folds: list[int]) -> dict[str, Any]:
    """The background's rarity against the uniform distribution, merged and per fold, and
    the rarity histograms of both classes (each normalised to unit area)."""
    background = t["label"] == 0
    r = t["score_rarity"]
    edges = np.linspace(0.0, 1.0, RARITY_BINS + 1)
    histograms = {}
    for name, rows in (("background", background), ("signal", ~background)):
        sumw, _ = np.histogram(r[rows], bins=edges, weights=w[rows])
        sumw2, _ = np.histogram(r[rows], bins=edges, weights=w[rows] ** 2)
        histograms[name] = {"sumw": sumw.tolist(), "sumw2": sumw2.tolist()}
    per_fold = {
        k: uniformity(r[m & background], w[m & background])["ks_distance"]
        for k, m in ((k, t["model_fold"] == k) for k in folds)
    }
    return {
        "background_uniformity": uniformity(r[background], w[background]),
        "ks_distance_per_fold": {str(k): d for k, d in per_fold.items()},
        "edges": edges.tolist(),
        "histograms": histograms,
    }


_NOTE = (
    "On the test folds (each event judged by the model whose calibration never saw it), with "
    "the calibration weights (prior: {prior}): `brier` = sum w (p - y)^2 / sum w of the raw "
    "score and of each calibrated output (lower is better; `brier_fold_k`: model k's test "
    "fold). Rarity: the weighted KS distance of the background's rarity from the uniform "
    "distribution (0 for a flat background) and its p-value at the effective number of events."
)


def write_calibration(result: Mapping[str, Any], output_dir: str | Path) -> list[Path]:
    """Write calibration.csv/.md/.tex (Brier scores, the rarity's flatness) and
    calibration.json (reliability curves, rarity histograms) into ``output_dir``."""
    out = Path(output_dir)
    rows = [dict(r) for r in result["brier"]]
    if "rarity" in result:
        flat = result["rarity"]["background_uniformity"]
        rows.append({"output": "score_rarity", "background_ks_distance": flat["ks_distance"],
                     "background_ks_pvalue": flat["ks_pvalue"]})  # fmt: skip
    columns = dict.fromkeys(c for row in rows for c in row)
    rows = [{c: row.get(c, "") for c in columns} for row in rows]
    paths = [out / f"calibration.{ext}" for ext in ("csv", "md", "tex")]
    write_table(
        rows,
        paths[0],
        paths[1],
        title="Calibrated outputs and rarity",
        note=_NOTE.format(prior=result["prior"]),
        latex_path=paths[2],
    )
    write_json(out / "calibration.json", {"version": 1, **result})
    return [*paths, out / "calibration.json"]
