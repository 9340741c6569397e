"""The subcommands for reviewers: the provenance record of a run, and two runs compared."""

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

    p = sub.add_parser("compare", help="metric differences between two runs (Markdown table)")
    p.add_argument("run_a", metavar="RESULTS_A", help="results directory of run A")
    p.add_argument("run_b", metavar="RESULTS_B", help="results directory of run B")
    p.add_argument("--csv", help="also write every compared quantity to this CSV")
    p.add_argument("--tolerance", type=float, default=0.0, help="ignore |B - A| up to this")
    p.add_argument("--only-changed", action="store_true", help="list only what differs")


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
    from hepml.outputs import check_outputs
    from hepml.review.compare import (
        compare_runs,
        comparison_markdown,
        evaluation_dir,
        write_comparison_csv,
    )

    comparison = compare_runs(args.run_a, args.run_b)
    if args.csv:  # never onto (or among) the tables compared
        runs = [evaluation_dir(args.run_a), evaluation_dir(args.run_b)]
        check_outputs(files=[args.csv], input_directories=runs)
    sys.stdout.write(
        comparison_markdown(comparison, tolerance=args.tolerance, only_changed=args.only_changed)
    )
    if args.csv:
        write_comparison_csv(comparison, args.csv)


COMMANDS = {
    "provenance": _cmd_provenance,
    "compare": _cmd_compare,
}
