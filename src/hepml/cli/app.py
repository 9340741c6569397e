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
from hepml.cli.evaluation import COMMANDS as EVALUATION_COMMANDS
from hepml.cli.evaluation import add_parsers as add_evaluation_parsers
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


def _add_files(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        help="the sample's files in order (path or path.root:tree), taken literally instead "
        "of the config's globs; the workflow passes the list it resolved once",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hepml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hepml {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a config against the schema (and its input files)")
    _add_config(p)
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
    _add_config(p)
    p.add_argument("--output", help="write the plan here instead of standard output")
    p.add_argument(
        "--checks",
        action="store_true",
        help="also check what validate --check-files checks: labels, files shared between "
        "samples, the first file of every sample",
    )

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
    _add_files(p)

    p = sub.add_parser("train", help="train one fold model: the BDT or a baseline")
    _add_config(p)
    p.add_argument("--fold", type=int, required=True, help="model index k (its test fold)")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--classifier", default="xgboost", help="xgboost (default) or a training.baselines name"
    )
    p.add_argument("--params", help="best_params.json of the tune stage (xgboost only)")

    p = sub.add_parser("evaluate", help="metrics, working points and overtraining tables")
    _add_config(p)
    p.add_argument("--scores", nargs="+", required=True, help="scores.parquet of every fold")
    p.add_argument(
        "--baseline",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME PATH",
        help="a baseline's name, then the scores.parquet of each of its folds; repeatable",
    )
    p.add_argument("--output-dir", required=True)

    p = sub.add_parser("plot", help="draw the evaluation plots (PDF + PNG)")
    _add_config(p)
    p.add_argument("--evaluation-dir", required=True)
    p.add_argument("--output-dir", required=True)
    _add_apply_parsers(sub)
    _add_tune_parsers(sub)
    _add_review_parsers(sub)
    add_evaluation_parsers(sub, _add_config)
    return parser


def _add_tune_parsers(sub) -> None:
    """The hyperparameter search: one trial of one fold model, then the selection."""
    p = sub.add_parser("tune-trial", help="one hyperparameter trial of one fold model")
    _add_config(p)
    p.add_argument("--fold", type=int, required=True, help="model index k (its test fold)")
    p.add_argument("--trial", type=int, required=True, help="trial index")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH feature tables")
    p.add_argument("--history", nargs="*", default=[], help="earlier trial JSONs (tpe)")
    p.add_argument("--output", required=True, help="trial record (.json)")
    p.add_argument("--threads", type=int, default=1)

    p = sub.add_parser("tune-select", help="choose each fold model's parameters from its trials")
    _add_config(p)
    p.add_argument("--trials", nargs="+", required=True, help="every trial JSON")
    p.add_argument("--output-dir", required=True, help="best_params.json, trials.csv/.md")
    p.add_argument("--plot-dir", required=True, help="tune_trials.pdf/.png")


def _add_review_parsers(sub) -> None:
    """What a reviewer needs: the provenance record of a run, and two runs compared."""
    p = sub.add_parser("provenance", help="versions, config, input hashes, git, folds -> JSON")
    _add_config(p)
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


def _add_apply_parsers(sub) -> None:
    """The apply, export and score subcommands (scores into ntuples, models out to C++)."""
    p = sub.add_parser("apply", help="score one sample's ntuples: friend trees + Parquet")
    _add_config(p)
    p.add_argument("--sample", required=True, help="a training sample or one of apply.samples")
    p.add_argument("--models", nargs="+", required=True, help="model.json of every fold")
    p.add_argument("--output-dir", required=True, help="writes SAMPLE/, SAMPLE.parquet, .json")
    p.add_argument("--threads", type=int, default=1)
    _add_files(p)

    p = sub.add_parser("export", help="fold models as XGBoost JSON + ONNX, with a manifest")
    _add_config(p)
    p.add_argument("--models", nargs="+", required=True, help="model.json of every fold")
    p.add_argument("--scores", nargs="+", required=True, help="scores.parquet of every fold")
    p.add_argument("--tables", nargs="+", required=True, help="SAMPLE=PATH ingest tables")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--onnx", choices=["auto", "yes", "no"], default="auto")
    p.add_argument(
        "--summaries",
        nargs="+",
        default=[],
        metavar="SAMPLE=PATH",
        help="ingest summaries of the training samples: their file lists, which the manifest "
        "records when folds come from (file, entry) (event_number: none)",
    )
    p.add_argument("--closure-events", type=int, default=2000, help="test events per fold")

    p = sub.add_parser("score", help="score ntuples with an exported model (no config)")
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="ROOT or Parquet files (globs, file.root:tree)"
    )
    p.add_argument("--export-dir", required=True, help="the directory hepml export wrote")
    p.add_argument("--output-dir", required=True, help="one friend file per input goes here")
    p.add_argument(
        "--tree",
        default="events",
        help="TTree or RNTuple name (default: events; ignored for Parquet files)",
    )
    p.add_argument("--mode", choices=["fold", "mean"], default="fold")
    p.add_argument("--parquet", action="store_true", help="also write scores.parquet")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--on-bad-file",
        choices=["error", "skip"],
        default=None,
        help="a file that cannot be read stops the run (error) or is left out with a warning "
        "(skip); default: the export's reading.on_bad_file",
    )


def _cmd_validate(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.workflow.plan import check_config, entries_fold_warning, sample_file_lists

    cfg = load_config(args.configs)
    check_config(cfg, sample_file_lists(cfg), ", ".join(map(str, args.configs)))
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

    text = json.dumps(workflow_plan(args.configs, checks=args.checks), sort_keys=True) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)


def _cmd_slurm_limits(args: argparse.Namespace) -> None:
    """JSON of :func:`hepml.workflow.resources.slurm_limits` ({} when sinfo cannot be asked)."""
    import json

    from hepml.workflow.resources import query_slurm_nodes, slurm_limits

    threads = {name: int(n) for name, n in _parse_tables(args.threads, "--threads").items()}
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


def _cmd_ingest(args: argparse.Namespace) -> None:
    from hepml.atomic import write_json
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.ingest.reading import input_files
    from hepml.ingest.sample import ingest_sample, summary_of, write_cutflow
    from hepml.outputs import check_outputs

    cfg = load_config(args.configs)
    if args.sample not in cfg.samples:
        msg = (
            f"no sample '{args.sample}' in {args.configs}.{did_you_mean(args.sample, cfg.samples)}"
        )
        raise ConfigError(msg)
    sample = cfg.samples[args.sample]
    cutflow = Path(args.cutflow)
    check_outputs(
        files=[args.output, cutflow, cutflow.with_suffix(".md"), *_given(args.summary)],
        inputs=[*(f.path for f in input_files(sample, args.files)), *args.configs],
    )
    result = ingest_sample(cfg, args.sample, args.output, threads=args.threads, files=args.files)
    write_cutflow(result, cutflow, cutflow.with_suffix(".md"))
    if args.summary:
        write_json(args.summary, summary_of(result))


def _given(*paths: str | None) -> list[str]:
    """The optional paths that were given."""
    return [p for p in paths if p]


def _parse_tables(specs: Sequence[str], option: str = "--tables") -> dict[str, str]:
    tables = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            msg = f"{option} expects SAMPLE=PATH, got '{spec}'"
            raise HepmlError(msg)
        tables[name] = path
    return tables


def _cmd_train(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.exceptions import ConfigError, did_you_mean
    from hepml.train.bdt import train_fold, write_fold
    from hepml.train.tune import tuned_parameters

    cfg = load_config(args.configs)
    baselines = {b.name: b for b in cfg.training.baselines}
    if args.classifier != "xgboost" and args.classifier not in baselines:
        hint = did_you_mean(args.classifier, ["xgboost", *baselines])
        msg = f"no classifier '{args.classifier}': not xgboost nor in training.baselines.{hint}"
        raise ConfigError(msg)
    _check_train_outputs(args)
    params = tuned_parameters(args.params, args.fold) if args.params else None
    if args.classifier == "xgboost" and cfg.training.engine == "dask":
        from hepml.train.distributed import run_fold

        tables = _parse_tables(args.tables)
        run_fold(cfg, tables, args.fold, args.output_dir, threads=args.threads, params=params)
        return
    data = _load_tables(cfg, args.tables)
    if args.classifier != "xgboost":
        from hepml.train.baselines import train_baseline, write_baseline

        baseline = baselines[args.classifier]
        write_baseline(
            train_baseline(cfg, data, baseline, args.fold, threads=args.threads), args.output_dir
        )
        return
    model = train_fold(cfg, data, args.fold, threads=args.threads, params=params)
    write_fold(model, args.output_dir)


def _check_train_outputs(args: argparse.Namespace) -> None:
    """The files train writes into --output-dir: none may be an input or a foreign file."""
    from hepml.outputs import check_outputs

    names = ["model.json", "metadata.json", "learning_curve.csv", "scores.parquet"]
    if args.classifier != "xgboost":
        names = ["model.joblib", "metadata.json", "scores.parquet"]
    check_outputs(
        files=[Path(args.output_dir) / n for n in names],
        inputs=[*_parse_tables(args.tables).values(), *_given(args.params), *args.configs],
    )


def _load_tables(cfg, specs: Sequence[str]):
    """The training data set from SAMPLE=PATH ingest tables."""
    from hepml.tables.features import load_dataset

    tables = _parse_tables(specs)
    processes = {name: cfg.samples[name].process for name in tables if name in cfg.samples}
    return load_dataset(tables, cfg.feature_names, processes)


def _cmd_tune_trial(args: argparse.Namespace) -> None:
    import json

    from hepml.atomic import write_json
    from hepml.config import load_config
    from hepml.outputs import check_outputs
    from hepml.train.tune import run_trial

    cfg = load_config(args.configs)
    check_outputs(
        files=[args.output],
        inputs=[*args.history, *_parse_tables(args.tables).values(), *args.configs],
    )
    history = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.history]
    data = _load_tables(cfg, args.tables)
    record = run_trial(cfg, data, args.fold, args.trial, history=history, threads=args.threads)
    write_json(args.output, record)


def _cmd_tune_select(args: argparse.Namespace) -> None:
    import json

    from hepml.config import load_config
    from hepml.train.tune import write_selection

    cfg = load_config(args.configs)
    trials = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.trials]
    write_selection(cfg, trials, args.output_dir, args.plot_dir)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.evaluate.performance import evaluate, evaluation_options, write_evaluation
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
        evaluations.append(evaluate(scores, classifier=name, **evaluation_options(cfg)))
    write_evaluation(evaluations, args.output_dir)


def _cmd_plot(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.plots.performance import draw_all, style_from_config

    cfg = load_config(args.configs)
    draw_all(args.evaluation_dir, args.output_dir, style_from_config(cfg))


def _cmd_apply(args: argparse.Namespace) -> None:
    from hepml.apply.samples import apply_sample, sample_to_apply
    from hepml.config import load_config
    from hepml.models import check_models, read_training_models

    cfg = load_config(args.configs)
    sample_to_apply(cfg, args.sample)  # an unknown sample fails before the models load
    models = check_models(cfg, read_training_models(args.models), threads=args.threads)
    apply_sample(cfg, args.sample, models, args.output_dir, files=args.files)


def _cmd_export(args: argparse.Namespace) -> None:
    import json

    from hepml.config import load_config
    from hepml.export.models import closure_sample, export_models
    from hepml.models import check_models, read_training_models
    from hepml.outputs import check_outputs

    cfg = load_config(args.configs)
    tables = _parse_tables(args.tables)
    metadata = [Path(m).with_name("metadata.json") for m in args.models]
    check_outputs(
        directories={args.output_dir: "export"},
        inputs=[*args.models, *metadata, *args.scores, *tables.values(), *args.configs],
    )
    models = check_models(cfg, read_training_models(args.models))
    closure = closure_sample(cfg, tables, args.scores, max_events=args.closure_events)
    files = {
        name: json.loads(Path(path).read_text(encoding="utf-8"))["files"]
        for name, path in _parse_tables(args.summaries, option="--summaries").items()
    }
    export_models(cfg, models, closure, args.output_dir, onnx=args.onnx, files=files)


def _cmd_score(args: argparse.Namespace) -> None:
    from hepml.export.models import score_with_export

    score_with_export(
        args.export_dir,
        args.files,
        args.output_dir,
        tree=args.tree,
        mode=args.mode,
        parquet=args.parquet,
        threads=args.threads,
        on_bad_file=args.on_bad_file,
    )


def _cmd_provenance(args: argparse.Namespace) -> None:
    from hepml.config import load_config
    from hepml.outputs import check_outputs
    from hepml.review.provenance import collect_provenance, write_merged_config, write_provenance

    cfg = load_config(args.configs)
    check_outputs(
        files=[args.output, *_given(args.merged_config)], inputs=[*args.configs, *args.models]
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


_COMMANDS = {
    "validate": _cmd_validate,
    "init": _cmd_init,
    "plan": _cmd_plan,
    "slurm-limits": _cmd_slurm_limits,
    "make-demo": _cmd_make_demo,
    "ingest": _cmd_ingest,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "plot": _cmd_plot,
    "apply": _cmd_apply,
    "export": _cmd_export,
    "score": _cmd_score,
    "tune-trial": _cmd_tune_trial,
    "tune-select": _cmd_tune_select,
    "provenance": _cmd_provenance,
    "compare": _cmd_compare,
    **EVALUATION_COMMANDS,
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
    except OSError as err:  # the system refused (a file, the disk): its message names the path
        log.debug("the system refused", exc_info=True)
        sys.stderr.write(f"hepml {args.command}: error: {err}\n")
        return 2
    peak = _peak_rss_mb()
    if peak is not None:  # in every job's log: what a batch job's mem_mb must cover
        log.info("peak memory: %.0f MB resident", peak)
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
