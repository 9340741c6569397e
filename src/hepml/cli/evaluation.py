"""The ``hepml`` subcommands of the detailed evaluation: compute, then draw.

- ``inputs``: input-variable histograms and correlation matrices (input_variables.json,
  correlations.json) from the ingest tables;
- ``importance``: feature ranking (importance.csv/.md/.tex, shap.json) of the fold models;
- ``data-mc``: data against MC for every input variable and the score (data_mc.json);
- ``plot-inputs``, ``plot-training``, ``plot-data-mc``: the plots, drawn from those files;
- ``plot-tune``: the hyperparameter trials plot, from the tune-select job's trials.json.

Registered by :mod:`hepml.cli.app` (``add_parsers`` and ``COMMANDS``); each command is a thin
wrapper around a library function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("inputs", help="input-variable histograms and correlation matrices")
    add_config(p)
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables (MC)")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("importance", help="feature ranking: XGBoost gain and mean |SHAP|")
    add_config(p)
    p.add_argument("--models", nargs="+", required=True, help="model.json of fold 0, 1, ...")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables (MC)")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("data-mc", help="data vs MC histograms (blinded) of inputs and score")
    add_config(p)
    p.add_argument("--models", nargs="+", required=True, help="model.json of fold 0, 1, ...")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables (MC)")
    p.add_argument("--data", nargs="+", required=True, help="SAMPLE=PATH feature tables (data)")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("plot-tune", help="draw the hyperparameter trials (PDF + PNG)")
    add_config(p)
    p.add_argument("--trials", required=True, help="trials.json of the tune-select job")
    p.add_argument("--output-dir", required=True)

    for name, what in (
        ("plot-inputs", "input variables and correlation matrices"),
        ("plot-training", "learning curves, feature importance, SHAP summary"),
        ("plot-data-mc", "data vs MC with ratio panels"),
    ):
        p = sub.add_parser(name, help=f"draw the {what} (PDF + PNG)")
        add_config(p)
        p.add_argument("--evaluation-dir", required=True)
        p.add_argument("--output-dir", required=True)
        if name == "plot-training":
            p.add_argument(
                "--curves", nargs="+", required=True, help="learning_curve.csv of every fold model"
            )
            p.add_argument(
                "--metadata",
                nargs="+",
                required=True,
                help="metadata.json of every fold model, in the order of --curves",
            )


def _tables(specs: list[str]) -> dict[str, str]:
    from hepml.cli.common import parse_pairs  # the one SAMPLE=PATH parser of the CLI

    return parse_pairs(specs)


def _binning(cfg) -> dict:
    """Each feature's own histogram bins or range (``features[].bins``/``range``)."""
    from hepml.evaluate.inputs import Binning

    return {
        f.name: Binning(f.bins or cfg.evaluation.input_bins, f.range)
        for f in cfg.features
        if f.bins is not None or f.range is not None
    }


def _cmd_inputs(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.inputs import inputs_from_files

    cfg = load_config(args.configs)
    histograms, correlations = inputs_from_files(
        _tables(args.tables),
        cfg.feature_names,
        bins=cfg.evaluation.input_bins,
        binning=_binning(cfg),
    )
    histograms.write(Path(args.output_dir) / "input_variables.json")
    correlations.write(Path(args.output_dir) / "correlations.json")


def _cmd_importance(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.importance import importance_from_files, write_importance

    cfg = load_config(args.configs)
    rows, beeswarm = importance_from_files(
        args.models, _tables(args.tables), max_events=cfg.evaluation.shap_events, seed=cfg.seed
    )
    write_importance(rows, beeswarm, args.output_dir)


def _cmd_data_mc(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.data_mc import data_mc_from_files

    cfg = load_config(args.configs)
    mc = _tables(args.tables)
    content = data_mc_from_files(
        args.models,
        mc,
        _tables(args.data),
        processes={s: cfg.samples[s].process for s in mc if s in cfg.samples},
        bins=cfg.evaluation.input_bins,
        binning=_binning(cfg),
        score_bins=cfg.evaluation.bins,
        blind_above=cfg.evaluation.blind_above,
        unblind=cfg.evaluation.unblind,
    )
    content.write(Path(args.output_dir) / "data_mc.json")


def _cmd_plot_inputs(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.inputs import draw_inputs
    from hepml.plots.style import style_from_config

    draw_inputs(args.evaluation_dir, args.output_dir, style_from_config(load_config(args.configs)))


def _cmd_plot_training(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.style import style_from_config
    from hepml.plots.training import draw_training

    style = style_from_config(load_config(args.configs))
    draw_training(args.curves, args.metadata, args.evaluation_dir, args.output_dir, style)


def _cmd_plot_data_mc(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.inputs import draw_data_mc
    from hepml.plots.style import style_from_config

    draw_data_mc(args.evaluation_dir, args.output_dir, style_from_config(load_config(args.configs)))


def _cmd_plot_tune(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.style import style_from_config
    from hepml.plots.tuning import draw_tuning

    draw_tuning(args.trials, args.output_dir, style_from_config(load_config(args.configs)))


COMMANDS = {
    "inputs": _cmd_inputs,
    "importance": _cmd_importance,
    "data-mc": _cmd_data_mc,
    "plot-inputs": _cmd_plot_inputs,
    "plot-training": _cmd_plot_training,
    "plot-data-mc": _cmd_plot_data_mc,
    "plot-tune": _cmd_plot_tune,
}
