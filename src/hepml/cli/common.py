"""What the subcommands share: the --config and --files options, and SAMPLE=PATH lists."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hepml.exceptions import HepmlError

__all__ = ["add_config", "add_files", "given", "load_tables", "parse_pairs"]


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


def add_files(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        help="the sample's files in order (path or path.root:tree), taken literally instead "
        "of the config's globs; the workflow passes the list it resolved once",
    )


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
