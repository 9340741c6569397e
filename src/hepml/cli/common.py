"""What the subcommands share: the --config and --files options, and SAMPLE=PATH lists."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hepml.exceptions import HepmlError

__all__ = [
    "add_config",
    "add_files",
    "add_part",
    "add_scores",
    "check_part_args",
    "given",
    "load_tables",
    "parse_pairs",
]


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        "-c",
        action="append",
        dest="configs",
        metavar="YAML",
        help="analysis config; repeat to merge several, later ones win"
        " (default: config/config.yaml)",
    )


def add_scores(p: argparse.ArgumentParser) -> None:
    """``--scores`` (the BDT's score table of every fold) and the repeatable ``--baseline NAME
    PATH...``: what the evaluations of several classifiers read."""
    p.add_argument("--scores", nargs="+", required=True, help="scores.parquet of every fold")
    p.add_argument(
        "--baseline",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME PATH",
        help="a baseline's name, then the scores.parquet of each of its folds; repeatable",
    )


def add_files(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        help="the sample's files in order (path or path.root:tree), taken literally instead "
        "of the config's globs; the workflow passes the list it resolved once",
    )


def add_part(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--part",
        action="store_true",
        help="the --files are one part of the sample (one job of a sample split into jobs, "
        "reading.files_per_job): write the part's outputs, which the merge command combines",
    )
    p.add_argument(
        "--first-file",
        type=int,
        default=0,
        metavar="N",
        help="with --part: the index of the first of --files in the sample's whole file list "
        "(the _file column and the (file, entry) folds count from it)",
    )


def check_part_args(args: argparse.Namespace, command: str, *, files: bool) -> None:
    """--part needs --files (the part's own files) and a --first-file of at least 0."""
    if files and not args.files:
        msg = f"hepml {command} --part needs --files: the part's files, as the plan lists them"
        raise HepmlError(msg)
    if args.first_file < 0:
        msg = f"hepml {command}: --first-file must be 0 or more, got {args.first_file}"
        raise HepmlError(msg)


def given(*paths: str | None) -> list[str]:
    """The optional paths that were given."""
    return [p for p in paths if p]


def parse_pairs(specs: Sequence[str], option: str = "--tables") -> dict[str, str]:
    tables = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            msg = f"{option} expects SAMPLE=PATH, got '{spec}'"
            raise HepmlError(msg)
        tables[name] = path
    return tables


def load_tables(cfg, specs: Sequence[str]):
    """The training data set from SAMPLE=PATH ingest tables."""
    from hepml.tables.features import load_dataset

    tables = parse_pairs(specs)
    processes = {name: cfg.samples[name].process for name in tables if name in cfg.samples}
    return load_dataset(tables, cfg.feature_names, processes)
