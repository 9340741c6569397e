"""Evaluation plots drawn from the data ``hepml.evaluate.write_evaluation`` saved.

Every plot function takes plain dicts/arrays (the content of ``curves.json``,
``histograms.json`` and ``overtraining.csv``), draws on a ``matplotlib.figure.Figure`` (no
pyplot state, no backend choice) inside the experiment's mplhep style context, and returns
the Figure. ``draw_all`` turns an evaluation directory into PDF and PNG files.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.atomic import atomic_path
from hepml.exceptions import ConfigError, DataError, did_you_mean

if TYPE_CHECKING:
    from hepml.config import Config

__all__ = [
    "PlotStyle",
    "draw_all",
    "plot_overtraining",
    "plot_roc",
    "plot_roc_tpr_fpr",
    "plot_score_distribution",
    "style_from_config",
]

log = logging.getLogger(__name__)

# experiment -> name of its style in mplhep.style (LHCb2 is mplhep's current LHCb style)
EXPERIMENT_STYLES = {"CMS": "CMS", "ATLAS": "ATLAS", "LHCb": "LHCb2", "ALICE": "ALICE"}
CLASS_COLOURS = {"signal": "tab:blue", "background": "tab:red"}  # TMVA's convention
PLOT_NAMES = ("roc", "roc_tpr_fpr", "overtraining", "score", "score_log")
DPI = 150


@dataclasses.dataclass(frozen=True)
class PlotStyle:
    """How plots are labelled: experiment, label text, luminosity (fb^-1), energy (TeV).

    ``experiment=None`` draws no experiment name and uses mplhep's neutral ROOT style.
    ``luminosity_fb`` / ``energy_tev`` set to None are left out of the label.
    """

    experiment: str | None = "CMS"
    label: str | None = "Simulation"
    luminosity_fb: float | None = None
    energy_tev: float | None = 13.0

    def __post_init__(self) -> None:
        if self.experiment is not None and self.experiment not in EXPERIMENT_STYLES:
            hint = did_you_mean(self.experiment, EXPERIMENT_STYLES)
            msg = (
                f"unknown experiment '{self.experiment}' for the plot style; valid: "
                f"{', '.join(EXPERIMENT_STYLES)} or none.{hint}"
            )
            raise ConfigError(msg)
        for name in ("luminosity_fb", "energy_tev"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                msg = f"plot style {name} must be positive or null; got {value}"
                raise ConfigError(msg)

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Apply the experiment's mplhep rcParams for the duration of the block only."""
        name = EXPERIMENT_STYLES.get(self.experiment, "ROOT") if self.experiment else "ROOT"
        with matplotlib.style.context(getattr(mplhep.style, name)):
            yield

    def draw_label(self, ax: Axes) -> None:
        """Write the experiment label (name, label text, luminosity, energy) above ``ax``."""
        mplhep.label.exp_label(
            exp=self.experiment or "",
            llabel=self.label or "",
            lumi=self.luminosity_fb,
            lumi_format="{0:g}",
            com=None if self.energy_tev is None else f"{self.energy_tev:g}",
            loc=0,
            # mplhep 1.3's offset-text adjustment calls plt.gca() (pyplot state, wrong axes)
            scilocator_adjust=False,
            ax=ax,
        )


def style_from_config(config: Config) -> PlotStyle:
    """The PlotStyle of a validated config: its ``plotting`` block and luminosity (fb^-1)."""
    plotting = config.plotting
    experiment = plotting.get("experiment", "CMS")
    return PlotStyle(
        experiment=None if experiment in (None, "none") else experiment,
        label=plotting.get("label", "Simulation"),
        luminosity_fb=config.luminosity,
        energy_tev=plotting.get("energy", 13.0),
    )


@contextlib.contextmanager
def _axes(style: PlotStyle, ax: Axes | None) -> Iterator[Axes]:
    """Yield ``ax`` (or a new Figure's axes) under ``style``; label and lay out on exit."""
    with style.context():
        if ax is None:
            ax = Figure().add_subplot()
        yield ax
        style.draw_label(ax)
        # create ticks and label positions now, while the style's rcParams apply
        ax.figure.draw_without_rendering()


def _signal_efficiency_grid(tpr: Sequence[float], fpr: Sequence[float], grid: np.ndarray):
    """Background efficiency interpolated at ``grid`` signal efficiencies.

    Signed weights can make the curve step back; the running maximum of the signal
    efficiency (first point of each plateau, the lowest background efficiency) keeps
    ``np.interp``'s abscissa increasing.
    """
    tpr_monotone = np.maximum.accumulate(np.asarray(tpr, dtype=float))
    tpr_unique, first = np.unique(tpr_monotone, return_index=True)
    return np.interp(grid, tpr_unique, np.asarray(fpr, dtype=float)[first])


def _rejection(background_efficiency: np.ndarray) -> np.ndarray:
    """1 / eff_B, NaN where no background passes (not drawable on a log axis)."""
    eff = np.asarray(background_efficiency, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(eff > 0, 1.0 / np.where(eff > 0, eff, 1.0), np.nan)


def _classifiers(curves_data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The per-classifier part of curves.json (accepts the whole file or that part)."""
    return curves_data.get("classifiers", curves_data)


def plot_roc(curves_data: Mapping[str, Any], style: PlotStyle, *, ax: Axes | None = None) -> Figure:
    """Background rejection (1/eff_B, log) against signal efficiency, one curve per classifier.

    The line is the merged out-of-fold curve; the band spans the minimum to the maximum over
    the per-fold curves, interpolated on a common signal-efficiency grid. The legend gives
    the merged AUC +- the standard deviation over folds.
    """
    grid = np.linspace(0.02, 1.0, 250)
    with _axes(style, ax) as ax:
        ax.plot(grid, 1.0 / grid, ls=":", color="grey", label="Random")
        for name, data in _classifiers(curves_data).items():
            merged = data["merged"]
            (line,) = ax.plot(
                merged["signal_efficiency"],
                _rejection(merged["background_efficiency"]),
                label=f"{name} (AUC = {data['auc']:.3f} ± {data['auc_std_over_folds']:.3f})",
            )
            folds = np.array(
                [
                    _rejection(
                        _signal_efficiency_grid(
                            f["signal_efficiency"], f["background_efficiency"], grid
                        )
                    )
                    for f in data["folds"]
                ]
            )
            ax.fill_between(
                grid,
                np.fmin.reduce(folds, axis=0),
                np.fmax.reduce(folds, axis=0),
                color=line.get_color(),
                alpha=0.3,
                label=f"{name}: fold min-max",
            )
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Signal efficiency")
        ax.set_ylabel("Background rejection (1 / background efficiency)")
        ax.legend(loc="upper right")
    return ax.figure


def plot_roc_tpr_fpr(
    curves_data: Mapping[str, Any], style: PlotStyle, *, ax: Axes | None = None
) -> Figure:
    """The textbook ROC: true positive rate against false positive rate, with the diagonal."""
    with _axes(style, ax) as ax:
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="Random")
        for name, data in _classifiers(curves_data).items():
            merged = data["merged"]
            ax.plot(
                merged["background_efficiency"],
                merged["signal_efficiency"],
                label=f"{name} (AUC = {data['auc']:.3f} ± {data['auc_std_over_folds']:.3f})",
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("False positive rate (background efficiency)")
        ax.set_ylabel("True positive rate (signal efficiency)")
        ax.legend(loc="lower right")
    return ax.figure


def _normalised(sumw: Sequence[float], sumw2: Sequence[float], edges: np.ndarray):
    """(density, its uncertainty) of a weighted histogram scaled to unit area."""
    sumw, sumw2 = np.asarray(sumw, dtype=float), np.asarray(sumw2, dtype=float)
    area = sumw.sum() * np.diff(edges)
    if not np.all(area > 0):
        msg = "a score histogram has a non-positive total weight; cannot normalise it"
        raise DataError(msg)
    return sumw / area, np.sqrt(sumw2) / area


def _min_ks_pvalue(ks_rows: Sequence[Mapping[str, Any]], event_class: str) -> float:
    """Smallest KS p-value over folds for one class (NaN when no row has that class)."""
    pvalues = [float(row["ks_pvalue"]) for row in ks_rows if row["class"] == event_class]
    return min(pvalues) if pvalues else math.nan


def plot_overtraining(
    hist_data: Mapping[str, Any],
    ks_rows: Sequence[Mapping[str, Any]],
    style: PlotStyle,
    *,
    ax: Axes | None = None,
) -> Figure:
    """TMVA-style overtraining plot: train as filled histograms, test as points.

    ``hist_data`` is one classifier's entry of histograms.json, ``ks_rows`` its rows of
    overtraining.csv. Shapes are normalised to unit area; the legend shows, per class, the
    smallest KS p-value over the folds (the most significant train/test difference).
    """
    edges = np.asarray(hist_data["edges"], dtype=float)
    n_folds = len({row["fold"] for row in ks_rows})
    with _axes(style, ax) as ax:
        for event_class, colour in CLASS_COLOURS.items():
            train = hist_data["overtraining"][event_class]["train"]
            test = hist_data["overtraining"][event_class]["test"]
            density, _ = _normalised(train["sumw"], train["sumw2"], edges)
            mplhep.histplot(
                density,
                edges,
                histtype="fill",
                alpha=0.35,
                color=colour,
                flow="none",
                label=f"{event_class.capitalize()} (train)",
                ax=ax,
            )
            density, error = _normalised(test["sumw"], test["sumw2"], edges)
            pvalue = _min_ks_pvalue(ks_rows, event_class)
            mplhep.histplot(
                density,
                edges,
                yerr=error,
                histtype="errorbar",
                color=colour,
                flow="none",
                label=f"{event_class.capitalize()} (test), KS p = {pvalue:.3g}",
                ax=ax,
            )
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, ax.get_ylim()[1] * 1.4)
        ax.set_xlabel("Classifier score")
        ax.set_ylabel("Normalised to unit area")
        ax.legend(title=f"KS p-value: minimum over {n_folds} folds", loc="upper center")
    return ax.figure


def _signal_scale(signal_total: float, background_total: float) -> float:
    """A power of ten that brings the signal yield near the background's, for visibility."""
    if signal_total <= 0 or background_total <= signal_total:
        return 1.0
    return 10.0 ** round(math.log10(background_total / signal_total))


def _draw_backgrounds(ax: Axes, processes: Mapping[str, Any], edges: np.ndarray) -> np.ndarray:
    """Stack the background processes (largest on top) with a hatched stat. uncertainty band.

    Returns every drawn bin height, for choosing the y range.
    """
    names = sorted(
        (name for name, p in processes.items() if p["label"] == 0),
        key=lambda name: sum(processes[name]["sumw"]),
    )
    stack = [np.asarray(processes[n]["sumw"], dtype=float) for n in names]
    total = np.sum(stack, axis=0)
    error = np.sqrt(np.sum([processes[n]["sumw2"] for n in names], axis=0))
    mplhep.histplot(stack, edges, stack=True, histtype="fill", label=names, flow="none", ax=ax)
    ax.stairs(
        total + error,
        edges,
        baseline=total - error,
        fill=True,
        hatch="///",
        facecolor="none",
        edgecolor="grey",
        linewidth=0,
        label="Background stat. unc.",
    )
    return np.concatenate([total + error, *stack])


def _draw_signal(
    ax: Axes, processes: Mapping[str, Any], edges: np.ndarray, background_total: float
) -> np.ndarray:
    """Draw the summed signal processes as a line, scaled to be visible; return its bins."""
    names = [name for name, p in processes.items() if p["label"] == 1]
    signal = np.sum([processes[n]["sumw"] for n in names], axis=0)
    scale = _signal_scale(float(signal.sum()), background_total)
    name = " + ".join(names) if len(names) <= 2 else "Signal"
    mplhep.histplot(
        signal * scale,
        edges,
        histtype="step",
        color="black",
        linewidth=2,
        flow="none",
        label=f"{name} × {scale:g}" if scale != 1 else name,
        ax=ax,
    )
    return signal * scale


def plot_score_distribution(
    hist_data: Mapping[str, Any],
    style: PlotStyle,
    *,
    log: bool = False,
    cut: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Out-of-fold scores in expected events: backgrounds stacked by process, signal as a line.

    ``hist_data`` is one classifier's entry of histograms.json. The signal is scaled by a
    power of ten (given in the legend) so it is visible; the hatched band is the statistical
    uncertainty of the total background; ``cut`` draws a vertical line at a score threshold.
    """
    edges = np.asarray(hist_data["edges"], dtype=float)
    processes = hist_data["processes"]
    background_total = sum(sum(p["sumw"]) for p in processes.values() if p["label"] == 0)
    with _axes(style, ax) as ax:
        heights = _draw_backgrounds(ax, processes, edges)
        heights = np.r_[heights, _draw_signal(ax, processes, edges, background_total)]
        if cut is not None:
            ax.axvline(cut, color="grey", linestyle="--", label=f"score > {cut:g}")
        _set_score_yscale(ax, heights, log=log)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("Classifier score")
        ax.set_ylabel("Expected events / bin")
        ax.legend(loc="upper center", ncols=2)
    return ax.figure


def _set_score_yscale(ax: Axes, heights: np.ndarray, *, log: bool) -> None:
    """Y range with headroom for the legend; on a log axis from the smallest positive bin."""
    top = float(np.max(heights)) if heights.size else 1.0
    if not log:
        ax.set_ylim(0, 1.5 * top)
        return
    positive = heights[heights > 0]
    bottom = float(positive.min()) / 2 if positive.size else 1e-3
    ax.set_yscale("log")
    ax.set_ylim(bottom, top * (top / bottom) ** 0.6)


def _read_evaluation(evaluation_dir: Path) -> tuple[dict, dict, list[dict[str, str]]]:
    """Load curves.json, histograms.json and overtraining.csv from ``evaluation_dir``."""
    paths = [evaluation_dir / n for n in ("curves.json", "histograms.json", "overtraining.csv")]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        msg = f"{evaluation_dir} lacks {missing}; run the evaluation stage first"
        raise DataError(msg)
    curves = json.loads(paths[0].read_text(encoding="utf-8"))
    histograms = json.loads(paths[1].read_text(encoding="utf-8"))
    with paths[2].open(newline="", encoding="utf-8") as stream:
        ks_rows = list(csv.DictReader(stream))
    return curves, histograms, ks_rows


def draw_all(
    evaluation_dir: str | os.PathLike[str],
    plot_dir: str | os.PathLike[str],
    style: PlotStyle,
    *,
    classifier: str | None = None,
    cut: float | None = None,
) -> list[Path]:
    """Draw every evaluation plot as PDF and PNG into ``plot_dir``; return the paths.

    Files: roc, roc_tpr_fpr (all classifiers), overtraining, score, score_log (for
    ``classifier``, by default the first in histograms.json) with suffix .pdf and .png.
    """
    curves, histograms, ks_rows = _read_evaluation(Path(evaluation_dir))
    names = list(histograms["classifiers"])
    classifier = classifier or names[0]
    if classifier not in names:
        msg = f"no histograms for classifier '{classifier}'; have {names}."
        raise DataError(msg + did_you_mean(classifier, names))
    hist_data = histograms["classifiers"][classifier]
    ks_rows = [row for row in ks_rows if row["classifier"] == classifier]
    draw = {
        "roc": lambda: plot_roc(curves, style),
        "roc_tpr_fpr": lambda: plot_roc_tpr_fpr(curves, style),
        "overtraining": lambda: plot_overtraining(hist_data, ks_rows, style),
        "score": lambda: plot_score_distribution(hist_data, style, cut=cut),
        "score_log": lambda: plot_score_distribution(hist_data, style, log=True, cut=cut),
    }
    written = []
    for name in PLOT_NAMES:
        fig = draw[name]()
        with style.context():
            for fmt in ("pdf", "png"):
                path = Path(plot_dir) / f"{name}.{fmt}"
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=DPI)
                written.append(path)
        fig.clear()  # a bare Figure is not tracked by pyplot; clearing frees its artists now
    log.info("drew %d plots for %s into %s", len(written), classifier, plot_dir)
    return written
