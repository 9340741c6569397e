"""The subcommands for reviewers: the provenance record of a run, its records as tables
(summarize), and runs compared."""

from __future__ import annotations

import argparse
import logging
import sys

from hepml.cli.common import add_config, given

__all__ = ["COMMANDS", "add_parsers"]

log = logging.getLogger("hepml")


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("provenance", help="versions, config, input hashes, git, folds -> JSON")
    add_config(p)
    p.add_argument("--output", required=True, help="provenance record (.json)")
    p.add_argument("--merged-config", help="also write the merged config (defaults filled) here")
    p.add_argument("--models", nargs="*", default=[], help="model files to hash")
    p.add_argument("--train-threads", type=int, help="threads each training job used")
    p.add_argument(
        "--repository",
        action="append",
        default=[],
        metavar="DIR",
        help="record the git state of DIR (repeatable; default: the working directory)",
    )

    p = sub.add_parser(
        "summarize", help="the ingest, apply and export records as tables for the report"
    )
    p.add_argument("--ingest", nargs="+", required=True, help="SAMPLE=PATH ingest summaries")
    p.add_argument("--apply", nargs="+", required=True, help="SAMPLE=PATH apply summaries")
    p.add_argument("--manifest", required=True, help="the export's manifest.json")
    p.add_argument("--output-dir", required=True, help="ingest, apply, export .csv/.md")

    p = sub.add_parser(
        "compare", help="differences between runs: tables (Markdown), and with --plots figures"
    )
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RESULTS",
        help="results directories: run A, then the runs compared with it (at least one)",
    )
    p.add_argument("--csv", help="also write every compared quantity to this CSV")
    p.add_argument("--tolerance", type=float, default=0.0, help="ignore |B - A| up to this")
    p.add_argument("--only-changed", action="store_true", help="list only what differs")
    p.add_argument(
        "--plots",
        metavar="DIR",
        help="also draw the runs' ROC curves and score shapes and tabulate their working "
        "points into DIR (roc, score_shapes .pdf/.png; working_points .csv/.md)",
    )
    p.add_argument("--labels", nargs="+", default=[], help="a name per run for the plots")
    p.add_argument("--classifier", help="the classifier drawn (default: each run's first)")


def _cmd_provenance(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.outputs import check_outputs
    from hepml.review.provenance import collect_provenance, write_merged_config, write_provenance

    cfg = load_config(args.configs)
    check_outputs(
        files=[args.output, *given(args.merged_config)], inputs=[*args.configs, *args.models]
    )
    record = collect_provenance(
        cfg,
        args.configs,
        train_threads=args.train_threads,
        models=args.models,
        repositories=[*args.repository, "."],
    )
    write_provenance(record, args.output)
    if args.merged_config:
        write_merged_config(cfg, args.merged_config)


def _cmd_compare(args: argparse.Namespace) -> None:
    from hepml.exceptions import HepmlError
    from hepml.outputs import check_outputs
    from hepml.review.compare import (
        compare_runs,
        comparison_markdown,
        evaluation_dir,
        write_comparison_csv,
    )

    if len(args.runs) < 2:
        msg = "give at least two results directories: run A and a run to compare with it"
        raise HepmlError(msg)
    first, others = args.runs[0], args.runs[1:]
    comparisons = [compare_runs(first, other) for other in others]
    runs = [evaluation_dir(run) for run in args.runs]
    if args.csv:  # never onto (or among) the tables compared
        check_outputs(files=[args.csv], input_directories=runs)
    if args.plots:
        from hepml.review.compare_plots import write_run_comparison

        write_run_comparison(args.runs, args.plots, labels=args.labels, classifier=args.classifier)
    for comparison in comparisons:
        sys.stdout.write(
            comparison_markdown(
                comparison, tolerance=args.tolerance, only_changed=args.only_changed
            )
        )
    if args.csv:
        write_comparison_csv(comparisons if len(comparisons) > 1 else comparisons[0], args.csv)


def _cmd_summarize(args: argparse.Namespace) -> None:
    from hepml.cli.common import parse_pairs
    from hepml.review.summaries import write_summaries

    write_summaries(
        parse_pairs(args.ingest, "--ingest"),
        parse_pairs(args.apply, "--apply"),
        args.manifest,
        args.output_dir,
    )


COMMANDS = {
    "summarize": _cmd_summarize,
    "provenance": _cmd_provenance,
    "compare": _cmd_compare,
}
