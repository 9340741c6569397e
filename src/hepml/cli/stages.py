"""The subcommands of the pipeline's stages: ingest, train (the BDT or a baseline), the
hyperparameter search, evaluate and plot.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hepml.cli.common import (
    add_config,
    add_files,
    add_part,
    add_scores,
    given,
    load_tables,
    parse_pairs,
)
from hepml.exceptions import HepmlError

__all__ = ["COMMANDS", "add_parsers"]

log = logging.getLogger("hepml")


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("ingest", help="ROOT files of one sample -> feature table + cutflow")
    add_config(p)
    p.add_argument("--sample", required=True)
    p.add_argument("--output", required=True, help="feature table (.parquet)")
    p.add_argument("--cutflow", help="cutflow CSV; a .md twin is written beside it")
    p.add_argument("--summary", help="summary JSON (sum of weights, negative weights, NaNs)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--category", help="an analysis category (categories.cuts): its config")
    add_files(p)
    add_part(p)

    p = sub.add_parser("ingest-merge", help="the parts of a sample ingested as several jobs")
    add_config(p)
    p.add_argument("--sample", required=True)
    p.add_argument(
        "--parts", nargs="+", required=True, help="the parts' tables in file order (PART.parquet)"
    )
    p.add_argument("--output", required=True, help="feature table (.parquet)")
    p.add_argument("--cutflow", required=True, help="cutflow CSV; a .md twin is written beside it")
    p.add_argument("--summary", help="summary JSON (sum of weights, negative weights, NaNs)")

    p = sub.add_parser("train", help="train one fold model: the BDT or a baseline")
    add_config(p)
    p.add_argument("--fold", type=int, required=True, help="model index k (its test fold)")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--classifier", default="xgboost", help="xgboost (default) or a training.baselines name"
    )
    p.add_argument("--params", help="best_params.json of the tune stage (xgboost only)")
    p.add_argument("--category", help="an analysis category (categories.cuts): its config")

    p = sub.add_parser("evaluate", help="metrics, working points and overtraining tables")
    add_config(p)
    add_scores(p)
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("plot", help="draw the evaluation plots (PDF + PNG)")
    add_config(p)
    p.add_argument("--evaluation-dir", required=True)
    p.add_argument("--output-dir", required=True)
    p = sub.add_parser("tune-trial", help="one hyperparameter trial of one fold model")
    add_config(p)
    p.add_argument("--fold", type=int, required=True, help="model index k (its test fold)")
    p.add_argument("--trial", type=int, required=True, help="trial index")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables")
    p.add_argument("--history", nargs="*", default=[], help="earlier trial JSONs (tpe)")
    p.add_argument("--output", required=True, help="trial record (.json)")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("tune-select", help="choose each fold model's parameters from its trials")
    add_config(p)
    p.add_argument("--trials", nargs="+", required=True, help="every trial JSON")
    p.add_argument(
        "--output-dir", required=True, help="best_params.json, trials.csv/.md, trials.json"
    )


def _cmd_ingest(args: argparse.Namespace) -> None:
    from hepml.cli.common import check_part_args
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.ingest.reading import input_files
    from hepml.ingest.sample import ingest_sample
    from hepml.outputs import check_outputs

    cfg = load_config(args.configs, category=args.category)
    if args.sample not in cfg.samples:
        msg = (
            f"no sample '{args.sample}' in {args.configs}.{did_you_mean(args.sample, cfg.samples)}"
        )
        raise ConfigError(msg)
    sample = cfg.samples[args.sample]
    if args.part:
        from hepml.ingest.partial import ingest_part

        check_part_args(args, "ingest", files=True)
        inputs = [f.path for f in input_files(sample, args.files)]
        check_outputs(files=[args.output], inputs=[*inputs, *args.configs])
        ingest_part(cfg, args.sample, args.output, files=args.files, first_file=args.first_file)
        return
    if not args.cutflow:
        msg = "hepml ingest needs --cutflow (or --part, for a part of a sample)"
        raise ConfigError(msg)
    cutflow = Path(args.cutflow)
    check_outputs(
        files=[args.output, cutflow, cutflow.with_suffix(".md"), *given(args.summary)],
        inputs=[*(f.path for f in input_files(sample, args.files)), *args.configs],
    )
    result = ingest_sample(cfg, args.sample, args.output, threads=args.threads, files=args.files)
    _write_ingest_outputs(result, cutflow, args.summary)


def _write_ingest_outputs(result, cutflow: Path, summary: str | None) -> None:
    from hepml.atomic import write_json
    from hepml.ingest.sample import summary_of, write_cutflow

    write_cutflow(result, cutflow, cutflow.with_suffix(".md"))
    if summary:
        write_json(summary, summary_of(result))


def _cmd_ingest_merge(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.ingest.partial import merge_parts
    from hepml.outputs import check_outputs

    cfg = load_config(args.configs)
    if args.sample not in cfg.samples:
        msg = (
            f"no sample '{args.sample}' in {args.configs}.{did_you_mean(args.sample, cfg.samples)}"
        )
        raise ConfigError(msg)
    cutflow = Path(args.cutflow)
    check_outputs(
        files=[args.output, cutflow, cutflow.with_suffix(".md"), *given(args.summary)],
        inputs=[*args.parts, *args.configs],
    )
    result = merge_parts(cfg, args.sample, args.parts, args.output)
    _write_ingest_outputs(result, cutflow, args.summary)


def _cmd_train(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.train.bdt import train_fold, write_fold
    from hepml.train.calibrate import calibrate_fold
    from hepml.train.categories import check_category_events
    from hepml.train.threads import usable_threads
    from hepml.train.tune import tuned_parameters

    cfg = load_config(args.configs, category=args.category)
    baselines = {b.name: b for b in cfg.training.baselines}
    if args.classifier != "xgboost" and args.classifier not in baselines:
        hint = did_you_mean(args.classifier, ["xgboost", *baselines])
        msg = f"no classifier '{args.classifier}': not xgboost nor in training.baselines.{hint}"
        raise ConfigError(msg)
    _check_train_outputs(args)
    params = tuned_parameters(args.params, args.fold) if args.params else None
    args.threads = usable_threads(args.threads)
    if args.classifier == "xgboost" and cfg.training.engine == "dask":
        from hepml.train.distributed import run_fold

        tables = parse_pairs(args.tables)
        run_fold(cfg, tables, args.fold, args.output_dir, threads=args.threads, params=params)
        return
    data = load_tables(cfg, args.tables)
    check_category_events(cfg, data)
    if args.classifier != "xgboost":
        from hepml.train.baselines import train_baseline, write_baseline

        baseline = baselines[args.classifier]
        write_baseline(
            train_baseline(cfg, data, baseline, args.fold, threads=args.threads), args.output_dir
        )
        return
    if cfg.training.multiclass is not None:
        from hepml.train.multiclass import train_multiclass_fold as train_fold
    model = train_fold(cfg, data, args.fold, threads=args.threads, params=params)
    write_fold(calibrate_fold(cfg, model), args.output_dir)


def _check_train_outputs(args: argparse.Namespace) -> None:
    """The files train writes into --output-dir: none may be an input or a foreign file."""
    from hepml.outputs import check_outputs

    names = ["model.json", "metadata.json", "learning_curve.csv", "scores.parquet"]
    if args.classifier != "xgboost":
        names = ["model.joblib", "metadata.json", "scores.parquet"]
    check_outputs(
        files=[Path(args.output_dir) / n for n in names],
        inputs=[*parse_pairs(args.tables).values(), *given(args.params), *args.configs],
    )


def _cmd_tune_trial(args: argparse.Namespace) -> None:
    import json

    from hepml.atomic import write_json
    from hepml.config import load_config
    from hepml.outputs import check_outputs
    from hepml.train.threads import usable_threads
    from hepml.train.tune import run_trial

    cfg = load_config(args.configs)
    check_outputs(
        files=[args.output],
        inputs=[*args.history, *parse_pairs(args.tables).values(), *args.configs],
    )
    history = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.history]
    data = load_tables(cfg, args.tables)
    threads = usable_threads(args.threads)
    record = run_trial(cfg, data, args.fold, args.trial, history=history, threads=threads)
    write_json(args.output, record)


def _cmd_tune_select(args: argparse.Namespace) -> None:
    import json

    from hepml.config import load_config
    from hepml.train.tune import write_selection

    cfg = load_config(args.configs)
    trials = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.trials]
    write_selection(cfg, trials, args.output_dir)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.performance import write_evaluation
    from hepml.evaluate.streaming import evaluate_scores
    from hepml.tables.scores import ScoreFiles

    cfg = load_config(args.configs)
    evaluations = []
    # the BDT first: the overtraining and score plots show the first classifier
    for name, *paths in [["xgboost", *args.scores], *args.baseline]:
        if not paths:
            msg = f"--baseline {name}: give the scores.parquet of each fold after the name"
            raise HepmlError(msg)
        # one model's table at a time; the score plot stacks by process
        scores = ScoreFiles(paths, n_folds=cfg.training.folds)
        evaluations.append(evaluate_scores(scores, cfg, classifier=name))
    write_evaluation(evaluations, args.output_dir)


def _cmd_plot(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.performance import draw_all, style_from_config

    cfg = load_config(args.configs)
    draw_all(args.evaluation_dir, args.output_dir, style_from_config(cfg))


COMMANDS = {
    "ingest": _cmd_ingest,
    "ingest-merge": _cmd_ingest_merge,
    "train": _cmd_train,
    "tune-trial": _cmd_tune_trial,
    "tune-select": _cmd_tune_select,
    "evaluate": _cmd_evaluate,
    "plot": _cmd_plot,
}
