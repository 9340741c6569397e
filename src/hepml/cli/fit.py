"""The subcommands of the statistics stage: variations scored, templates, fit inputs, the
expected result and its figures (``hepml variations``, ``fit-templates``, ``fit-inputs``,
``expected``, ``plot-fit``). Each is a thin wrapper around :mod:`hepml.systematics`,
:mod:`hepml.stats` or :mod:`hepml.plots.systematics`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hepml.cli.common import add_config, add_files, parse_pairs
from hepml.exceptions import ConfigError, InputFileError

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser(
        "variations", help="score one sample's nominal and variations with the fold models"
    )
    add_config(p)
    p.add_argument("--sample", required=True, help="a signal or background sample")
    p.add_argument("--models", nargs="+", required=True, help="model.json of every fold")
    p.add_argument(
        "--ingest-summary", required=True, help="the sample's ingest summary (normalisation)"
    )
    p.add_argument("--output", required=True, help="Parquet table of every variant's events")
    p.add_argument("--summary", required=True, help="JSON summary: yield of every variant")
    p.add_argument(
        "--variation-files",
        nargs="+",
        action="append",
        default=[],
        metavar=("VARIATION", "FILE"),
        help="the files of a variation read from other files, in order (repeat per variation)",
    )
    p.add_argument("--threads", type=int, default=1)
    add_files(p)

    p = sub.add_parser("fit-templates", help="binned score templates + variation yield table")
    add_config(p)
    p.add_argument("--variations", nargs="+", required=True, help="SAMPLE=PATH of every MC sample")
    p.add_argument("--output", required=True, help="templates.json")
    p.add_argument("--yields-dir", required=True, help="writes variation_yields.csv/.md/.tex")

    p = sub.add_parser("fit-inputs", help="ROOT shapes, datacard, HistFactory XML, workspace")
    add_config(p)
    p.add_argument("--templates", required=True, help="templates.json")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("expected", help="expected significance and upper limits (pyhf)")
    add_config(p)
    p.add_argument("--workspace", required=True, help="workspace.json")
    p.add_argument("--output-dir", required=True, help="writes expected.* and fitted.json")

    p = sub.add_parser("plot-fit", help="draw the fitted templates and every variation")
    add_config(p)
    p.add_argument("--templates", required=True, help="templates.json")
    p.add_argument("--fitted", help="fitted.json (default: the pre-fit templates)")
    p.add_argument("--output-dir", required=True)


def _fit_config(args: argparse.Namespace):
    from hepml.config import load_config

    cfg = load_config(args.configs)
    if cfg.fit is None:
        msg = "the config has no fit section: add one (fit: {}) to run the statistics stage"
        raise ConfigError(msg)
    return cfg


def _cmd_variations(args: argparse.Namespace) -> None:
    from hepml.scoring_imports import import_xgboost_for_scoring

    import_xgboost_for_scoring()  # before anything imports it: 1.5 s less per job
    from hepml.models import check_models, read_training_models
    from hepml.systematics.scoring import score_variations
    from hepml.systematics.variants import sample_variants

    cfg = _fit_config(args)
    sample_variants(cfg, args.sample)  # an unknown sample fails before the models load
    models = check_models(cfg, read_training_models(args.models), threads=args.threads)
    try:
        summary = json.loads(Path(args.ingest_summary).read_text(encoding="utf-8"))
        float(summary["normalisation"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"'{args.ingest_summary}' is not an ingest summary ({err!r}); rerun the ingest"
        raise InputFileError(msg) from err
    score_variations(
        cfg,
        args.sample,
        models,
        output=args.output,
        summary=args.summary,
        ingest_summary=summary,
        files=args.files,
        variation_files={v[0]: v[1:] for v in args.variation_files},
    )


def _cmd_fit_templates(args: argparse.Namespace) -> None:
    from hepml.systematics.stage import make_templates

    cfg = _fit_config(args)
    variations = parse_pairs(args.variations, option="--variations")
    make_templates(cfg, variations, args.output, args.yields_dir)


def _cmd_fit_inputs(args: argparse.Namespace) -> None:
    from hepml.systematics.stage import make_fit_inputs

    make_fit_inputs(_fit_config(args), args.templates, args.output_dir)


def _cmd_expected(args: argparse.Namespace) -> None:
    from hepml.systematics.stage import make_expected

    make_expected(_fit_config(args), args.workspace, args.output_dir)


def _cmd_plot_fit(args: argparse.Namespace) -> None:
    from hepml.plots.style import style_from_config
    from hepml.plots.systematics import draw_fit
    from hepml.stats import read_templates
    from hepml.systematics.stage import read_fitted

    cfg = _fit_config(args)
    templates = read_templates(args.templates)
    fitted = None if args.fitted is None else read_fitted(args.fitted, templates.channel)
    draw_fit(templates, fitted, style_from_config(cfg), args.output_dir)


COMMANDS = {
    "variations": _cmd_variations,
    "fit-templates": _cmd_fit_templates,
    "fit-inputs": _cmd_fit_inputs,
    "expected": _cmd_expected,
    "plot-fit": _cmd_plot_fit,
}
