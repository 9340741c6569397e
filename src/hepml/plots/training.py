"""Plots of the cut optimisation and of the training: significance, cut efficiencies,
learning curves, feature importance and the SHAP summary (beeswarm).

Each function takes plot data (:mod:`hepml.plotdata`: ``significance.json``, ``shap.json``) or
the rows of a table (``learning_curve.csv``, ``importance.csv``) and returns a Figure;
nothing is recomputed. ``draw_training`` turns the training and evaluation outputs into files.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.exceptions import DataError
from hepml.plotdata.performance import ClassifierScan
from hepml.plotdata.training import ShapSummary
from hepml.plots.style import CLASS_COLOURS, PlotStyle, save_figure, styled_axes

__all__ = [
    "TRAINING_PLOTS",
    "draw_training",
    "plot_cut_efficiencies",
    "plot_feature_importance",
    "plot_learning_curves",
    "plot_shap_beeswarm",
    "plot_significance",
]

log = logging.getLogger(__name__)

TRAINING_PLOTS = ("learning_curves", "importance", "shap_beeswarm")
SIGNIFICANCE_LABELS = {
    "asimov": r"Asimov $Z_A$",
    # Unicode root: mathtext's \sqrt lacks a glyph in the experiment fonts
    "s_over_sqrt_b": "S/√B",
    "s_over_sqrt_s_plus_b": "S/√(S+B)",
}


def _mark_optimum(ax: Axes, optimum: Mapping[str, Any] | None, metric: str) -> None:
    """A vertical line at the optimal cut, its yields and significance in the legend."""
    if optimum is None:
        return
    ax.axvline(
        optimum["cut"],
        color="grey",
        linestyle="--",
        label=(
            f"Optimal cut: score > {optimum['cut']:.3g}\nS = {optimum['signal']:.3g}, "
            f"B = {optimum['background']:.3g}, {SIGNIFICANCE_LABELS[metric]} = "
            f"{optimum[metric]:.3g}"
        ),
    )


def plot_significance(scan: ClassifierScan, style: PlotStyle, *, ax: Axes | None = None) -> Figure:
    """Expected significances after ``score > cut`` against the cut, optimum marked.

    ``scan`` is one classifier's significance scan. Cuts leaving fewer than the configured
    minimum background are drawn faint, and the legend says so only when some are.
    """
    cut = scan.scan["cut"]
    enough = scan.scan["background"] >= scan.min_background
    with styled_axes(style, ax, lumi=True) as ax:
        for metric, label in SIGNIFICANCE_LABELS.items():
            values = scan.scan[metric]
            (line,) = ax.plot(cut, np.where(enough, values, np.nan), label=label)
            if not enough.all():
                ax.plot(cut, np.where(enough, np.nan, values), color=line.get_color(), alpha=0.3)
        _mark_optimum(ax, scan.optimum, scan.metric)
        ax.set_xlim(cut[0], 1.0 if cut[-1] <= 1 else cut[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.35)
        ax.set_xlabel("Cut on the classifier score (score > cut)")
        ax.set_ylabel("Expected significance")
        faint = f"faint: B < {scan.min_background:g} expected events"
        ax.legend(loc="upper left", title=None if enough.all() else faint, fontsize="small")
    return ax.figure


def plot_cut_efficiencies(
    scan: ClassifierScan, style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """TMVA's "cut efficiencies" canvas: efficiencies, purity and significance against the cut.

    Left axis (0 to 1): signal and background efficiency, signal purity S/(S+B) and
    efficiency x purity; right axis: the optimised significance. The legend sits below the
    axes, so that both axes' ticks cover their whole range.
    """
    values, metric = scan.scan, scan.metric
    cut = values["cut"]
    eff_s, purity = values["signal_efficiency"], values["purity"]
    with styled_axes(style, ax, lumi=True) as ax:
        ax.plot(cut, eff_s, color=CLASS_COLOURS["signal"], label="Signal efficiency")
        ax.plot(
            cut,
            values["background_efficiency"],
            color=CLASS_COLOURS["background"],
            label="Background efficiency",
        )
        ax.plot(cut, purity, color="tab:green", linestyle="--", label="Signal purity")
        ax.plot(cut, eff_s * purity, color="tab:green", linestyle=":", label="Efficiency × purity")
        ax.set_ylim(0, 1.05)
        ax.set_xlim(cut[0], 1.0 if cut[-1] <= 1 else cut[-1])
        ax.set_xlabel("Cut on the classifier score (score > cut)")
        ax.set_ylabel("Efficiency, purity")
        right = ax.twinx()
        right.plot(cut, values[metric], color="black", label=SIGNIFICANCE_LABELS[metric])
        _mark_optimum(right, scan.optimum, metric)
        right.set_ylim(0, np.nanmax([*values[metric], 1e-9]) * 1.05)
        right.set_ylabel(f"Significance ({SIGNIFICANCE_LABELS[metric]})")
        handles = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(
            handles[0] + more[0],
            handles[1] + more[1],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.16),
            ncols=2,
            fontsize="x-small",
        )
    return ax.figure


def plot_learning_curves(
    curves: Mapping[int, Mapping[str, Sequence[float]]],
    best_iterations: Mapping[int, int],
    style: PlotStyle,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Weighted binary cross-entropy against boosting round, per fold: train dashed,
    validation solid, the best iteration (where early stopping cut the model) as a dot.

    ``curves[k]`` has ``train_logloss`` and ``validation_logloss`` lists (one per round).
    """
    with styled_axes(style, ax) as ax:
        for colour, (k, curve) in zip(
            _fold_colours(len(curves)), sorted(curves.items()), strict=True
        ):
            train = np.asarray(curve["train_logloss"], dtype=float)
            validation = np.asarray(curve["validation_logloss"], dtype=float)
            rounds = np.arange(train.size)
            ax.plot(rounds, train, color=colour, linestyle="--", linewidth=1)
            ax.plot(rounds, validation, color=colour, label=f"Fold {k}")
            best = best_iterations.get(k)
            if best is not None and 0 <= best < validation.size:
                ax.plot(best, validation[best], "o", color=colour, markersize=6)
        ax.plot([], [], color="black", linestyle="--", linewidth=1, label="Training")
        ax.plot([], [], color="black", label="Validation")
        ax.plot([], [], "o", color="black", label="Best iteration")
        ax.set_xlabel("Boosting round")
        ax.set_ylabel("Binary cross-entropy (weighted)")
        ax.legend(loc="upper right", ncols=2, fontsize="small")
    return ax.figure


def _fold_colours(n: int) -> list[Any]:
    """``n`` distinct colours for folds (matplotlib's default cycle, then viridis)."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    return [matplotlib.colormaps["viridis"](i / (n - 1)) for i in range(n)]


def plot_feature_importance(
    rows: Sequence[Mapping[str, Any]], style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """Horizontal bars of mean |SHAP| and XGBoost total gain per feature, as fractions of
    their totals, with the spread over folds; the first row (top rank) on top.

    ``rows`` are the rows of importance.csv (``feature``, ``shap_fraction``,
    ``shap_fraction_std_over_folds``, ``gain_fraction``, ``gain_fraction_std_over_folds``).
    """
    features = [r["feature"] for r in rows]
    y = np.arange(len(features))[::-1]
    height = 0.4
    with styled_axes(style, ax, figsize=(10, max(6, 0.45 * len(features) + 2))) as ax:
        for offset, key, label, colour in (
            (height / 2, "shap_fraction", "Mean |SHAP|", "tab:blue"),
            (-height / 2, "gain_fraction", "XGBoost total gain", "tab:orange"),
        ):
            ax.barh(
                y + offset,
                [float(r[key]) for r in rows],
                height=height,
                xerr=[float(r[f"{key}_std_over_folds"]) for r in rows],
                color=colour,
                label=label,
            )
        ax.set_yticks(y, [style.feature_label(f) for f in features])
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.set_ylim(-0.7, len(features) + 1.5)
        ax.set_xlim(0, ax.get_xlim()[1] * 1.05)
        ax.set_xlabel("Fraction of the total importance (mean over folds)")
        ax.legend(loc="lower right")
    return ax.figure


def plot_shap_beeswarm(
    shap_data: ShapSummary, style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """SHAP summary plot: one row per feature (top rank on top), one dot per event at its
    SHAP value (log-odds), coloured by the feature value's rank (blue low, red high; grey
    for a missing value), spread vertically by the local density of dots.

    ``shap_data`` is shap.json's :class:`~hepml.plotdata.training.ShapSummary`; rows are
    labelled with the style's feature labels.
    """
    features = shap_data.features
    rng = np.random.default_rng(shap_data.seed)
    with styled_axes(style, ax, figsize=(10, max(6, 0.45 * len(features) + 2))) as ax:
        for row in range(len(features)):
            values, colour = shap_data.shap[row], shap_data.colour[row]
            y = len(features) - 1 - row + _swarm_offsets(values, rng)
            missing = ~np.isfinite(colour)
            ax.scatter(values[missing], y[missing], s=4, color="grey", rasterized=True)
            points = ax.scatter(
                values[~missing],
                y[~missing],
                c=colour[~missing],
                cmap="coolwarm",
                vmin=0,
                vmax=1,
                s=4,
                rasterized=True,
            )
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(np.arange(len(features))[::-1], [style.feature_label(f) for f in features])
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.set_ylim(-0.8, len(features) - 0.2)
        ax.set_xlabel("SHAP value (impact on the log-odds of signal)")
        bar = ax.figure.colorbar(points, ax=ax, ticks=[0, 1], pad=0.01)
        bar.ax.set_yticklabels(["Low", "High"])
        bar.set_label("Feature value (rank)")
    return ax.figure


def _swarm_offsets(values: np.ndarray, rng: np.random.Generator, width: float = 0.4):
    """Vertical offsets within ±``width`` growing with the local density (a cheap beeswarm)."""
    if values.size == 0:
        return values
    counts, edges = np.histogram(values, bins=50)
    density = counts[np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 49)]
    return rng.uniform(-1, 1, values.size) * width * density / max(counts.max(), 1)


def _read_learning_curves(
    curve_paths: Sequence[str | os.PathLike[str]],
    metadata_paths: Sequence[str | os.PathLike[str]],
) -> tuple[dict[int, dict], dict[int, int]]:
    """Learning curves and best iterations of the fold models, from explicit file lists.

    ``curve_paths[i]`` (a ``learning_curve.csv``) and ``metadata_paths[i]`` (its
    ``metadata.json``) belong to one model, whose fold the metadata names.
    """
    if len(curve_paths) != len(metadata_paths) or not curve_paths:
        msg = (
            f"give one metadata.json per learning_curve.csv (got {len(curve_paths)} curves "
            f"and {len(metadata_paths)} metadata files)"
        )
        raise DataError(msg)
    curves, best = {}, {}
    for path, meta_path in zip(map(Path, curve_paths), map(Path, metadata_paths), strict=True):
        for p in (path, meta_path):
            if not p.is_file():
                msg = f"'{p}' does not exist; run the train rule first"
                raise DataError(msg)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        k = int(meta["model_fold"])
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        curves[k] = {
            c: [float(r[c]) for r in rows] for c in ("train_logloss", "validation_logloss")
        }
        best[k] = int(meta["best_iteration"])
    return curves, best


def draw_training(
    curve_paths: Sequence[str | os.PathLike[str]],
    metadata_paths: Sequence[str | os.PathLike[str]],
    evaluation_dir: str | os.PathLike[str],
    plot_dir: str | os.PathLike[str],
    style: PlotStyle,
) -> list[Path]:
    """Draw learning_curves, importance and shap_beeswarm (PDF + PNG) into ``plot_dir``.

    Reads the fold models' ``learning_curve.csv`` and ``metadata.json`` (explicit lists, in
    the same order) and ``importance.csv`` and ``shap.json`` in ``evaluation_dir``.
    """
    evaluation_dir = Path(evaluation_dir)
    missing = [n for n in ("importance.csv", "shap.json") if not (evaluation_dir / n).is_file()]
    if missing:
        msg = f"{evaluation_dir} lacks {missing}; run the importance rule first"
        raise DataError(msg)
    with (evaluation_dir / "importance.csv").open(newline="", encoding="utf-8") as stream:
        importance = list(csv.DictReader(stream))
    shap_data = ShapSummary.read(evaluation_dir / "shap.json")
    curves, best = _read_learning_curves(curve_paths, metadata_paths)
    draw = {
        "learning_curves": lambda: plot_learning_curves(curves, best, style),
        "importance": lambda: plot_feature_importance(importance, style),
        "shap_beeswarm": lambda: plot_shap_beeswarm(shap_data, style),
    }
    written = [
        path for name in TRAINING_PLOTS for path in save_figure(draw[name](), plot_dir, name, style)
    ]
    log.info("drew %d training plots into %s", len(written), plot_dir)
    return written
