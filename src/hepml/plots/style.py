"""How every hepml figure looks: the experiment style and label, canvases, and saving.

Styling is data in one place (:class:`PlotStyle`, from the config's ``plotting`` block,
luminosity, ``processes`` section and feature labels). Figures are plain
``matplotlib.figure.Figure`` objects (no pyplot state, no backend choice); the experiment's
mplhep rcParams apply only while a figure is drawn and saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hepml.atomic import atomic_path
from hepml.exceptions import ConfigError, did_you_mean

if TYPE_CHECKING:
    from hepml.config import Config, ProcessDisplay

__all__ = [
    "CLASS_COLOURS",
    "DPI",
    "EXPERIMENT_STYLES",
    "PlotStyle",
    "hatched_band",
    "save_figure",
    "style_from_config",
    "styled_axes",
    "styled_panels",
]

log = logging.getLogger(__name__)

# experiment -> name of its style in mplhep.style (LHCb2 is mplhep's current LHCb style)
EXPERIMENT_STYLES = {"CMS": "CMS", "ATLAS": "ATLAS", "LHCb": "LHCb2", "ALICE": "ALICE"}
CLASS_COLOURS = {"signal": "tab:blue", "background": "tab:red"}  # TMVA's convention
DPI = 150


@dataclasses.dataclass(frozen=True)
class PlotStyle:
    """How plots are labelled: experiment, label text, luminosity (fb^-1), energy (TeV), and
    how processes and features are named.

    ``experiment=None`` (the default) draws no experiment name and uses mplhep's neutral ROOT
    style. ``luminosity_fb`` is written only on plots of expected yields (``lumi=True`` when
    drawing); ``energy_tev`` set to None is left out. ``data_label`` replaces ``label`` on
    plots that show collision data (``Simulation`` would be wrong); None writes nothing.
    ``processes`` maps a process name to its display (label, colour, stacking order; in the
    config's sample order), ``feature_labels`` a feature to its axis label and
    ``feature_log`` to its log-y choice (None: automatic).
    """

    experiment: str | None = None
    label: str | None = "Simulation"
    luminosity_fb: float | None = None
    energy_tev: float | None = 13.0
    data_label: str | None = None
    processes: Mapping[str, ProcessDisplay] = dataclasses.field(default_factory=dict)
    feature_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    feature_log: Mapping[str, bool | None] = dataclasses.field(default_factory=dict)

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

    def draw_label(
        self, ax: Axes, *, data: bool = False, lumi: bool = False, fontsize: float | None = None
    ) -> None:
        """Write the experiment label (name, label text, energy, and with ``lumi`` the
        luminosity) above ``ax``; ``fontsize`` in points (default: the style's)."""
        mplhep.label.exp_label(
            fontsize=fontsize,
            exp=self.experiment or "",
            llabel=(self.data_label if data else self.label) or "",
            lumi=self.luminosity_fb if lumi else None,
            lumi_format="{0:g}",
            com=None if self.energy_tev is None else f"{self.energy_tev:g}",
            loc=0,
            # mplhep 1.3's offset-text adjustment calls plt.gca() (pyplot state, wrong axes)
            scilocator_adjust=False,
            ax=ax,
        )

    def feature_label(self, feature: str) -> str:
        """The axis label of ``feature`` (its name when none is configured)."""
        return self.feature_labels.get(feature) or feature

    def process_label(self, process: str) -> str:
        """The display label of ``process`` (its name when none is configured)."""
        display = self.processes.get(process)
        return display.label if display is not None else process

    def process_colour(self, process: str, position: int) -> str:
        """The colour of ``process``: configured, else the colour cycle's entry of its place
        among the config's processes (the same on every plot), else of ``position``."""
        display = self.processes.get(process)
        if display is not None and display.color:
            return display.color
        index = list(self.processes).index(process) if process in self.processes else position
        return f"C{index % 10}"

    def stack_order(self, yields: Mapping[str, float]) -> list[str]:
        """The processes of ``yields`` bottom of the stack (and legend) first: configured
        ``order`` ascending, then the others by increasing yield."""

        def key(name: str) -> tuple[int, float, float]:
            display = self.processes.get(name)
            order = display.order if display is not None else None
            return (0, order, 0.0) if order is not None else (1, 0.0, yields[name])

        return sorted(yields, key=key)


def style_from_config(config: Config) -> PlotStyle:
    """The PlotStyle of a validated config: its ``plotting`` block, luminosity (fb^-1),
    process displays and feature labels."""
    plotting = config.plotting
    return PlotStyle(
        experiment=plotting.experiment,
        label=plotting.label,
        luminosity_fb=config.luminosity,
        energy_tev=plotting.energy,
        data_label=plotting.data_label,
        processes=dict(config.processes),
        feature_labels={f.name: f.label for f in config.features},
        feature_log={f.name: f.log for f in config.features},
    )


@contextlib.contextmanager
def styled_axes(
    style: PlotStyle, ax: Axes | None = None, *, lumi: bool = False, **figure
) -> Iterator[Axes]:
    """Yield ``ax`` (or a new Figure's axes) under ``style``; label and lay out on exit.

    ``lumi``: the plot shows expected yields, so the label gives the luminosity. ``figure``
    keywords (e.g. ``figsize``) go to the new Figure.
    """
    with style.context():
        if ax is None:
            ax = Figure(**figure).add_subplot()
        yield ax
        style.draw_label(ax, lumi=lumi)
        # create ticks and label positions now, while the style's rcParams apply
        ax.figure.draw_without_rendering()


@contextlib.contextmanager
def styled_panels(
    style: PlotStyle,
    *,
    data: bool = False,
    lumi: bool = False,
    height_ratios: tuple[float, float] = (3, 1),
) -> Iterator[tuple[Axes, Axes]]:
    """Yield (main, lower) axes of a new Figure sharing x, for ratio panels; label on exit."""
    with style.context():
        fig = Figure()
        main, lower = fig.subplots(2, 1, sharex=True, height_ratios=height_ratios)
        fig.subplots_adjust(hspace=0.07)
        yield main, lower
        main.tick_params(labelbottom=False)
        style.draw_label(main, data=data, lumi=lumi)
        fig.draw_without_rendering()


def hatched_band(
    ax: Axes, low: np.ndarray, high: np.ndarray, edges: np.ndarray, label: str | None = None
) -> None:
    """A grey hatched band between ``low`` and ``high`` per bin (a statistical uncertainty)."""
    ax.stairs(
        high,
        edges,
        baseline=low,
        fill=True,
        hatch="///",
        facecolor="none",
        edgecolor="grey",
        linewidth=0,
        label=label,
    )


def save_figure(
    fig: Figure, plot_dir: str | os.PathLike[str], name: str, style: PlotStyle
) -> list[Path]:
    """Save ``fig`` as ``plot_dir/name.pdf`` and ``.png`` atomically, then free its artists."""
    written = []
    with style.context():
        for fmt in ("pdf", "png"):
            path = Path(plot_dir) / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                # tight: long tick labels (feature names) and the experiment label stay inside
                fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.1)
            written.append(path)
    fig.clear()  # a bare Figure is not tracked by pyplot; clearing frees its artists now
    return written
