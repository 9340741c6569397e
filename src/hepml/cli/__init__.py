"""The ``hepml`` command-line program: one subcommand per pipeline stage (:mod:`hepml.cli.app`).

Snakemake rules call these subcommands; each is a thin wrapper that parses arguments, loads the
config and calls the stage's library function.
"""

from __future__ import annotations

from hepml.cli.app import main

__all__ = ["main"]
