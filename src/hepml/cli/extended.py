"""The subcommands of the analyses that outgrow one binary BDT (hepml.config.extensions):

- ``evaluate-multiclass``, ``plot-multiclass``: one-vs-rest and one-vs-one AUCs, confusion,
  per-class scores and overtraining of ``training.multiclass`` models;
- ``evaluate-calibration``, ``plot-calibration``: Brier scores, reliability diagram and rarity
  of the ``calibration`` section's outputs;
- ``combine-categories``, ``plot-categories``: the ``categories``' significances combined.

(The categories' own ingest, training, apply and export are the usual commands with
``--category NAME``.) Each command is a thin wrapper around a library function.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hepml.cli.common import add_config, add_scores
from hepml.exceptions import HepmlError

__all__ = ["COMMANDS", "add_parsers"]

log = logging.getLogger("hepml")


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("evaluate-multiclass", help="multiclass AUCs, confusion, overtraining")
    add_config(p)
    add_scores(p)
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("evaluate-calibration", help="Brier scores, reliability, rarity")
    add_config(p)
    p.add_argument("--scores", nargs="+", required=True, help="scores.parquet of every fold")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("combine-categories", help="the categories' significances combined")
    add_config(p)
    p.add_argument("--inclusive", required=True, help="significance.json of the inclusive BDT")
    p.add_argument(
        "--categories-dir",
        required=True,
        help="holds <category>/evaluation/significance.json and <category>/ingest/<sample>.parquet",
    )
    p.add_argument("--output-dir", required=True)

    for name, what in (
        ("plot-multiclass", "multiclass ROC, confusion and per-class score plots"),
        ("plot-calibration", "reliability diagram and rarity"),
    ):
        p = sub.add_parser(name, help=f"draw the {what} (PDF + PNG)")
        add_config(p)
        p.add_argument("--evaluation-dir", required=True)
        p.add_argument("--output-dir", required=True)
    p = sub.add_parser("plot-categories", help="draw the categories' significances (PDF + PNG)")
    add_config(p)
    p.add_argument("--combined", required=True, help="combined.json of combine-categories")
    p.add_argument("--output-dir", required=True)


def _cmd_evaluate_multiclass(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.multiclass import evaluate_multiclass
    from hepml.evaluate.multiclass_tables import write_multiclass

    cfg = load_config(args.configs)
    multiclass = cfg.training.multiclass
    if multiclass is None:
        msg = "the config has no training.multiclass section: its models are binary"
        raise HepmlError(msg)
    results = []
    for name, *paths in [["xgboost", *args.scores], *args.baseline]:
        if len(paths) != cfg.training.folds:
            msg = (
                f"{name}: give the scores.parquet of each of the {cfg.training.folds} fold "
                f"models, got {len(paths)}"
            )
            raise HepmlError(msg)
        results.append(
            evaluate_multiclass(
                paths,
                multiclass.names,
                classifier=name,
                ks_threshold=cfg.evaluation.ks_threshold,
                bins=cfg.evaluation.bins,
            )
        )
    write_multiclass(results, args.output_dir)


def _cmd_evaluate_calibration(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.calibration import evaluate_calibration, write_calibration

    cfg = load_config(args.configs)
    if cfg.calibration is None:
        msg = "the config has no calibration section: its models have no calibrated outputs"
        raise HepmlError(msg)
    result = evaluate_calibration(
        args.scores,
        policy=cfg.training.negative_weights,
        prior=cfg.calibration.prior,
        bins=cfg.calibration.bins,
    )
    write_calibration(result, args.output_dir)


def _cmd_combine_categories(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.categories import (
        category_tables,
        check_disjoint,
        combine_categories,
        write_combination,
    )

    cfg = load_config(args.configs)
    if cfg.categories is None:
        msg = "the config has no categories section"
        raise HepmlError(msg)
    names = cfg.categories.names
    base = Path(args.categories_dir)
    mc = [n for n in cfg.samples if n not in cfg.data_samples]
    check_disjoint(category_tables(names, mc, base))
    significance = {n: base / n / "evaluation" / "significance.json" for n in names}
    write_combination(combine_categories(args.inclusive, significance), args.output_dir)


def _style(args: argparse.Namespace):
    from hepml.config import load_config
    from hepml.plots.style import style_from_config

    return style_from_config(load_config(args.configs))


def _cmd_plot_multiclass(args: argparse.Namespace) -> None:
    from hepml.plots.multiclass import draw_multiclass

    draw_multiclass(args.evaluation_dir, args.output_dir, _style(args))


def _cmd_plot_calibration(args: argparse.Namespace) -> None:
    from hepml.plots.calibration import draw_calibration

    draw_calibration(args.evaluation_dir, args.output_dir, _style(args))


def _cmd_plot_categories(args: argparse.Namespace) -> None:
    from hepml.plots.categories import draw_categories

    draw_categories(args.combined, args.output_dir, _style(args))


COMMANDS = {
    "evaluate-multiclass": _cmd_evaluate_multiclass,
    "plot-multiclass": _cmd_plot_multiclass,
    "evaluate-calibration": _cmd_evaluate_calibration,
    "plot-calibration": _cmd_plot_calibration,
    "combine-categories": _cmd_combine_categories,
    "plot-categories": _cmd_plot_categories,
}
