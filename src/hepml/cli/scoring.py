"""The subcommands that score ntuples: apply (with the fold models of a run), export (the
models out to C++, ONNX, a manifest) and score (with an export, no config).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hepml.cli.common import add_config, add_files, add_part, check_part_args, parse_pairs

__all__ = ["COMMANDS", "add_parsers"]

log = logging.getLogger("hepml")


def add_parsers(sub) -> None:
    """Add the subcommands to the ``hepml`` subparsers ``sub``."""
    p = sub.add_parser("apply", help="score one sample's ntuples: friend trees + Parquet")
    add_config(p)
    p.add_argument("--sample", required=True, help="a training sample or one of apply.samples")
    p.add_argument("--models", nargs="+", required=True, help="model.json of every fold")
    p.add_argument("--output-dir", required=True, help="writes SAMPLE/, SAMPLE.parquet, .json")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--category", help="an analysis category (categories.cuts): its config")
    add_files(p)
    add_part(p)
    p.add_argument(
        "--part-index",
        type=int,
        default=0,
        metavar="K",
        help="with --part: the part's number; it writes partK/, partK.parquet, partK.json",
    )
    p.add_argument(
        "--indexed-names",
        action="store_true",
        help="with --part: the sample's friend files carry their file index (the sample has "
        "two input files of one name; the plan decides it for the whole sample)",
    )

    p = sub.add_parser("apply-merge", help="the parts of a sample scored as several jobs")
    add_config(p)
    p.add_argument("--sample", required=True, help="a training sample or one of apply.samples")
    p.add_argument("--parts", nargs="+", required=True, help="the parts' summaries (partK.json)")
    p.add_argument("--output-dir", required=True, help="writes SAMPLE/, SAMPLE.parquet, .json")

    p = sub.add_parser("export", help="fold models as XGBoost JSON + ONNX, with a manifest")
    add_config(p)
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
    p.add_argument("--category", help="an analysis category (categories.cuts): its config")

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


def _cmd_apply(args: argparse.Namespace) -> None:
    from hepml.scoring_imports import import_xgboost_for_scoring

    import_xgboost_for_scoring()  # before anything imports it: 1.5 s less per job
    from hepml.apply.samples import ApplyPart, apply_sample, sample_to_apply
    from hepml.config import load_config
    from hepml.models import check_models, read_training_models

    cfg = load_config(args.configs, category=args.category)
    sample_to_apply(cfg, args.sample)  # an unknown sample fails before the models load
    part = None
    if args.part:
        check_part_args(args, "apply", files=True)
        part = ApplyPart(args.part_index, args.first_file, args.indexed_names)
    models = check_models(cfg, read_training_models(args.models), threads=args.threads)
    apply_sample(cfg, args.sample, models, args.output_dir, files=args.files, part=part)


def _cmd_apply_merge(args: argparse.Namespace) -> None:
    from hepml.apply.merge import merge_parts
    from hepml.config import load_config

    cfg = load_config(args.configs)
    merge_parts(cfg, args.sample, args.parts, args.output_dir)


def _cmd_export(args: argparse.Namespace) -> None:
    import json

    from hepml.config import load_config
    from hepml.export.models import closure_outputs, closure_sample, export_models
    from hepml.models import check_models, read_training_models
    from hepml.outputs import check_outputs

    cfg = load_config(args.configs, category=args.category)
    tables = parse_pairs(args.tables)
    metadata = [Path(m).with_name("metadata.json") for m in args.models]
    check_outputs(
        directories={args.output_dir: "export"},
        inputs=[*args.models, *metadata, *args.scores, *tables.values(), *args.configs],
    )
    models = check_models(cfg, read_training_models(args.models))
    closure = closure_sample(cfg, tables, args.scores, max_events=args.closure_events)
    files = {
        name: json.loads(Path(path).read_text(encoding="utf-8"))["files"]
        for name, path in parse_pairs(args.summaries, option="--summaries").items()
    }
    outputs = None
    if models.outputs:  # the discriminant, class and calibrated outputs are checked too
        outputs = closure_outputs(args.scores, models.suffixes, max_events=args.closure_events)
    export_models(
        cfg, models, closure, args.output_dir, onnx=args.onnx, files=files, outputs=outputs
    )


def _cmd_score(args: argparse.Namespace) -> None:
    from hepml.export.score import score_with_export

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


COMMANDS = {
    "apply": _cmd_apply,
    "apply-merge": _cmd_apply_merge,
    "export": _cmd_export,
    "score": _cmd_score,
}
