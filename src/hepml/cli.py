"""The ``hepml`` command-line program: one subcommand per pipeline stage.

Snakemake rules call these subcommands; each is a thin wrapper that parses arguments, loads
the config and calls the stage's library function. User mistakes (:class:`HepmlError`) are
printed as one readable message, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hepml import __version__
from hepml.exceptions import HepmlError

log = logging.getLogger("hepml")


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        "-c",
        action="append",
        dest="configs",
        metavar="YAML",
        help="analysis config; repeat to merge several, later ones win"
        " (default: config/config.yaml)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hepml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a config against the schema")
    _add_config(p)

    p = sub.add_parser("make-demo", help="write the built-in demo ntuples")
    _add_config(p)
    p.add_argument("--directory", help="output directory (default: demo.directory of the config)")
    p.add_argument("--events", type=int, help="total number of events")
    p.add_argument("--files-per-process", type=int)
    p.add_argument("--seed", type=int)

    p = sub.add_parser("ingest", help="ROOT files of one sample -> feature table + cutflow")
    _add_config(p)
    p.add_argument("--sample", required=True)
    p.add_argument("--output", required=True, help="feature table (.parquet)")
    p.add_argument("--cutflow", required=True, help="cutflow CSV; a .md twin is written beside it")
    p.add_argument("--summary", help="summary JSON (sum of weights, negative weights, NaNs)")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("train", help="train the BDT of one fold")
    _add_config(p)
    p.add_argument("--fold", type=int, required=True, help="model index k (its test fold)")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("evaluate", help="metrics, working points and overtraining tables")
    _add_config(p)
    p.add_argument("--scores", nargs="+", required=True, help="scores.parquet of every fold")
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("plot", help="draw the evaluation plots (PDF + PNG)")
    _add_config(p)
    p.add_argument("--evaluation-dir", required=True)
    p.add_argument("--output-dir", required=True)
    return parser


def _cmd_validate(args: argparse.Namespace) -> None:
    from hepml.config import load_config

    cfg = load_config(args.configs)
    log.info(
        "%s is valid: %d samples, %d features, %d folds",
        args.configs,
        len(cfg.samples),
        len(cfg.features),
        cfg.folds,
    )


def _cmd_make_demo(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.demo import make_demo

    demo = dict(load_config(args.configs).demo or {})
    make_demo(
        args.directory or demo.get("directory", "resources/demo"),
        n_events=args.events or demo.get("events", 200_000),
        files_per_process=args.files_per_process or demo.get("files_per_process", 3),
        seed=args.seed if args.seed is not None else demo.get("seed", 42),
    )


def _cmd_ingest(args: argparse.Namespace) -> None:
    from hepml.atomic import write_json
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.ingest import ingest_sample, summary_of, write_cutflow

    cfg = load_config(args.configs)
    if args.sample not in cfg.samples:
        msg = (
            f"no sample '{args.sample}' in {args.configs}.{did_you_mean(args.sample, cfg.samples)}"
        )
        raise ConfigError(msg)
    result = ingest_sample(cfg, args.sample, args.output, threads=args.threads)
    cutflow = Path(args.cutflow)
    write_cutflow(result, cutflow, cutflow.with_suffix(".md"))
    if args.summary:
        write_json(args.summary, summary_of(result))


def _parse_tables(specs: Sequence[str]) -> dict[str, str]:
    tables = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            msg = f"--tables expects SAMPLE=PATH, got '{spec}'"
            raise HepmlError(msg)
        tables[name] = path
    return tables


def _cmd_train(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.dataset import load_dataset
    from hepml.train import train_fold, write_fold

    cfg = load_config(args.configs)
    tables = _parse_tables(args.tables)
    processes = {name: cfg.samples[name].process for name in tables if name in cfg.samples}
    data = load_dataset(tables, cfg.feature_names, processes)
    write_fold(train_fold(cfg, data, args.fold, threads=args.threads), args.output_dir)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.dataset import read_scores
    from hepml.evaluate import evaluate, write_evaluation

    cfg = load_config(args.configs)
    table = read_scores(args.scores, n_folds=cfg.folds)
    table["sample"] = table["process"]  # the score plot stacks by process
    ev = evaluate(
        table,
        working_points=[wp.as_dict() for wp in cfg.working_points],
        ks_threshold=cfg.ks_threshold,
        n_bins=cfg.bins,
    )
    write_evaluation(ev, args.output_dir)


def _cmd_plot(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plotting import draw_all, style_from_config

    cfg = load_config(args.configs)
    draw_all(args.evaluation_dir, args.output_dir, style_from_config(cfg))


_COMMANDS = {
    "validate": _cmd_validate,
    "make-demo": _cmd_make_demo,
    "ingest": _cmd_ingest,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "plot": _cmd_plot,
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
    try:
        _COMMANDS[args.command](args)
    except HepmlError as err:
        sys.stderr.write(f"hepml {args.command}: error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
