"""The hepml command-line program: one subcommand per pipeline stage.

Snakemake rules call these subcommands; each is a thin wrapper that parses arguments, loads
the config and calls the stage's library function. User mistakes (:class:`HepmlError`) are
printed as one readable message, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from hepml import __version__
from hepml.cli import evaluation, extended, fit, project, review, scoring, stages
from hepml.cli.common import add_config
from hepml.exceptions import HepmlError
from hepml.progress import duration

log = logging.getLogger("hepml")


# the subcommand groups, in the order `hepml --help` lists them
_GROUPS = (project, stages, scoring, fit, review, extended)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hepml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.add_parsers(sub)
    evaluation.add_parsers(sub, add_config)
    return parser


_COMMANDS = {
    name: command for group in (*_GROUPS, evaluation) for name, command in group.COMMANDS.items()
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hepml`` program; returns the exit status."""
    args = _build_parser().parse_args(argv)
    if hasattr(args, "configs") and not args.configs:
        args.configs = ["config/config.yaml"]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    started = time.monotonic()
    try:
        _COMMANDS[args.command](args)
    except HepmlError as err:
        sys.stderr.write(f"hepml {args.command}: error: {err}\n")
        return 2
    except OSError as err:  # the system refused (a file, the disk): its message names the path
        log.debug("the system refused", exc_info=True)
        sys.stderr.write(f"hepml {args.command}: error: {err}\n")
        return 2
    # every job's last line: how long it took and what a batch job's mem_mb must cover
    peak = _peak_rss_mb()
    memory = f", peak memory: {peak:.0f} MB resident" if peak is not None else ""
    log.info("hepml %s: done in %s%s", args.command, duration(time.monotonic() - started), memory)
    return 0


def _peak_rss_mb() -> float | None:
    """This process's peak resident set size in MB (None where the OS does not say).

    Linux's VmHWM belongs to the process image, so it starts afresh at exec; ``ru_maxrss``
    does not (it keeps the spawning process's peak: under Snakemake, or a benchmark that
    wrote its inputs first, it would report their memory as the job's).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes, else KiB


if __name__ == "__main__":
    sys.exit(main())
