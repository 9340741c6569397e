"""Check at validation that matplotlib can draw every text of the config that plots show.

A feature ``label`` (or ``plotting.label``, or a process's display ``label``) with broken
LaTeX, such as ``$\\frac{$``, passes the schema and then fails in a plot job, after the whole
training; so would a process ``color`` matplotlib does not know. :func:`check_labels` parses each
text that is mathtext (an even number of unescaped ``$``) with matplotlib's own parser, under
the experiment's plot style (its fonts decide which symbols exist), and raises a
:class:`~hepml.exceptions.ConfigError` naming the key and matplotlib's complaint.

matplotlib is imported only when this runs (``hepml validate`` and the workflow's planning
step), never when a config is merely loaded: every job loads the config.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hepml.exceptions import ConfigError, did_you_mean

if TYPE_CHECKING:
    from hepml.config import Config

__all__ = ["check_colours", "check_labels", "plotted_texts"]


def plotted_texts(config: Config) -> list[tuple[str, str]]:
    """(key, text) of every config text drawn on plots, in config order."""
    texts = [
        (f"features[{i}].label (feature '{f.name}')", f.label)
        for i, f in enumerate(config.features)
        if f.label
    ]
    for key in ("label", "data_label"):
        value = getattr(config.plotting, key)
        if isinstance(value, str) and value:
            texts.append((f"plotting.{key}", value))
    configured = config.raw.get("processes", {})
    texts += [
        (f"processes.{name}.label", spec["label"])
        for name, spec in configured.items()
        if spec.get("label")
    ]
    return texts


def check_colours(config: Config, *, source: str = "config") -> None:
    """Raise :class:`ConfigError` for a ``processes.<name>.color`` matplotlib does not know."""
    from matplotlib import colors

    for name, spec in config.raw.get("processes", {}).items():
        colour = spec.get("color")
        if colour is not None and not colors.is_color_like(colour):
            named = [*colors.TABLEAU_COLORS, *colors.CSS4_COLORS]
            msg = (
                f"{source}: processes.{name}.color = {colour!r} is not a matplotlib colour; "
                f"give a name (tab:blue, royalblue), '#rrggbb' or C0..C9."
                f"{did_you_mean(colour, named)}"
            )
            raise ConfigError(msg)


def check_labels(config: Config, *, source: str = "config") -> None:
    """Raise :class:`ConfigError` for the first plotted text matplotlib cannot draw, or for a
    process colour it does not know."""
    check_colours(config, source=source)
    texts = plotted_texts(config)
    from matplotlib import cbook

    math = [(key, text) for key, text in texts if cbook.is_math_text(text)]
    if not math:
        return
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    from hepml.plots.style import style_from_config

    with style_from_config(config).context():
        parser = MathTextParser("path")
        for key, text in math:
            try:
                parser.parse(text, dpi=72, prop=FontProperties())
            except ValueError as err:
                msg = (
                    f"{source}: {key} = {text!r} is not mathtext that matplotlib can draw "
                    f"({_complaint(err)}); fix the LaTeX between the $ signs, or write a "
                    "literal dollar sign as \\$"
                )
                raise ConfigError(msg) from err


def _complaint(err: ValueError) -> str:
    """matplotlib's multi-line parse error as one line: its last line, without the position
    in pyparsing's terms (which counts from the start of the math)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    last = lines[-1] if lines else type(err).__name__
    last = re.sub(r"^\w+Exception: ", "", last)
    last = re.sub(r"\s*\(at char \d+\), \(line:\d+, col:\d+\)", "", last)
    return last if len(last) <= 120 else f"{last[:60]} ... {last[-50:]}"
