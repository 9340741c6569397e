"""The project subcommands: check a config, make an analysis directory, plan the
workflow, ask SLURM for its limits, write the demo ntuples.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hepml.cli.common import add_config, parse_pairs
from hepml.exceptions import HepmlError

__all__ = ["COMMANDS", "add_parsers"]

log = logging.getLogger("hepml")


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("validate", help="check a config against the schema (and its input files)")
    add_config(p)
    p.add_argument(
        "--check-files",
        action="store_true",
        help="also open the first file of every sample: its tree, branches and types, and every "
        "expression evaluated on its first 1000 entries; one line per problem",
    )

    p = sub.add_parser(
        "init", help="create an analysis directory: a config to fill in, and the workflow"
    )
    p.add_argument("directory", metavar="DIR", help="the new analysis directory")

    p = sub.add_parser(
        "slurm-limits",
        help="per stage, the most memory and runtime a job may ask of a SLURM partition (JSON)",
    )
    p.add_argument(
        "--threads",
        nargs="+",
        required=True,
        metavar="STAGE=N",
        help="each stage's threads (as the config's resources section gives them)",
    )
    p.add_argument("--partition", help="the partition (default: the cluster's default one)")

    p = sub.add_parser("plan", help="the workflow's plan of a config, as JSON (for Snakemake)")
    add_config(p)
    p.add_argument("--output", help="write the plan here instead of standard output")
    p.add_argument(
        "--checks",
        action="store_true",
        help="also check what validate --check-files checks: labels, files shared between "
        "samples, the first file of every sample",
    )
    p.add_argument(
        "--checks-cache",
        metavar="JSON",
        help="with --checks: skip them when this file says they passed for the same config "
        "texts and input files (names, sizes, modification times); written when they pass",
    )

    p = sub.add_parser("make-demo", help="write the built-in demo ntuples")
    add_config(p)
    p.add_argument("--directory", help="output directory (default: demo.directory of the config)")
    p.add_argument("--events", type=int, help="total number of events")
    p.add_argument("--files-per-process", type=int)
    p.add_argument("--seed", type=int)


def _cmd_validate(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.workflow.plan import check_config, entries_fold_warning

    cfg = load_config(args.configs)
    check_config(cfg, ", ".join(map(str, args.configs)))
    warning = entries_fold_warning(cfg)
    if warning:
        log.warning("%s", warning)
    log.info(
        "%s is valid: %d samples, %d features, %d folds",
        args.configs,
        len(cfg.samples),
        len(cfg.features),
        cfg.training.folds,
    )
    if not args.check_files:
        return
    from hepml.ingest.file_checks import check_config_files

    problems = check_config_files(cfg)
    for problem in problems:
        sys.stderr.write(f"hepml validate: error: {problem}\n")
    if problems:
        msg = f"{len(problems)} problem(s) with the input files of {', '.join(args.configs)}"
        raise HepmlError(msg)
    log.info("the first file of every sample reads and computes every expression")


def _cmd_init(args: argparse.Namespace) -> None:
    from hepml.workflow.analysis import init_analysis

    directory = init_analysis(args.directory)
    log.info(
        "created the analysis directory %s: describe your samples in %s, then run "
        "`cd %s && snakemake --cores all`",
        directory,
        directory / "config" / "config.yaml",
        directory,
    )


def _cmd_plan(args: argparse.Namespace) -> None:
    import json

    from hepml.atomic import write_text
    from hepml.workflow.plan import workflow_plan

    plan = workflow_plan(args.configs, checks=args.checks, checks_cache=args.checks_cache)
    text = json.dumps(plan, sort_keys=True) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)


def _cmd_slurm_limits(args: argparse.Namespace) -> None:
    """JSON of :func:`hepml.workflow.resources.slurm_limits` ({} when sinfo cannot be asked)."""
    import json

    from hepml.workflow.resources import query_slurm_nodes, slurm_limits

    threads = {name: int(n) for name, n in parse_pairs(args.threads, "--threads").items()}
    nodes = query_slurm_nodes()
    limits = slurm_limits(threads, nodes, args.partition) if nodes else {}
    sys.stdout.write(json.dumps(limits, sort_keys=True) + "\n")


def _cmd_make_demo(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.demo.files import make_demo

    demo = dict(load_config(args.configs).demo or {})
    make_demo(
        args.directory or demo.get("directory", "resources/demo"),
        n_events=args.events or demo.get("events", 200_000),
        files_per_process=args.files_per_process or demo.get("files_per_process", 3),
        seed=args.seed if args.seed is not None else demo.get("seed", 42),
    )


COMMANDS = {
    "validate": _cmd_validate,
    "init": _cmd_init,
    "plan": _cmd_plan,
    "slurm-limits": _cmd_slurm_limits,
    "make-demo": _cmd_make_demo,
}
