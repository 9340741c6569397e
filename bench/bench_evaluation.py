"""Benchmark: wall and CPU time of each detailed-evaluation step on a finished demo run.

Run the demo first (``snakemake --cores all``), then, from the repository root:

    python bench/bench_evaluation.py --results results --config config/config.yaml

Each step runs once, in this process, on the run's own outputs, writing into a temporary
directory: ``evaluate`` (the BDT's score files, read one model at a time: AUCs, working
points, KS, per-process, significance scan) and ``write``; ``importance`` at
``--shap-events`` per fold; ``inputs`` (histograms and correlations); then the drawing of
each plot family (PDF + PNG), with the seconds per figure.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from hepml.config import load_config
from hepml.evaluate.importance import importance_from_files, write_importance
from hepml.evaluate.inputs import inputs_from_files
from hepml.evaluate.performance import evaluate, evaluation_options, write_evaluation
from hepml.plots.inputs import draw_inputs
from hepml.plots.performance import draw_all
from hepml.plots.style import style_from_config
from hepml.plots.training import draw_training
from hepml.tables.scores import ScoreFiles


def _timed(name: str, step, *, figures: bool = False):
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per = f"  ({wall / (len(result) / 2):.2f} s per figure)" if figures else ""
    print(f"{name:<14} wall {wall:7.2f} s   cpu {cpu:7.2f} s{per}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--shap-events", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config)
    folds = range(cfg.training.folds)
    results = args.results
    tables = {s: results / "ingest" / f"{s}.parquet" for s in cfg.samples}
    tables = {s: p for s, p in tables.items() if s not in cfg.data_samples}
    style = style_from_config(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        scores = ScoreFiles(
            [results / "train" / f"fold{k}" / "scores.parquet" for k in folds],
            n_folds=cfg.training.folds,
        )
        ev = _timed("evaluate", lambda: evaluate(scores, **evaluation_options(cfg)))
        _timed("write", lambda: write_evaluation(ev, out))
        models = [results / "train" / f"fold{k}" / "model.json" for k in folds]
        events = args.shap_events or cfg.evaluation.shap_events
        rows, bees = _timed(
            f"importance/{events}",
            lambda: importance_from_files(models, tables, max_events=events, seed=cfg.seed),
        )
        write_importance(rows, bees, out)
        hists, corr = _timed("inputs", lambda: inputs_from_files(tables, cfg.feature_names))
        hists.write(out / "input_variables.json")
        corr.write(out / "correlations.json")
        _timed("plot", lambda: draw_all(out, out / "plots", style), figures=True)
        _timed("plot-inputs", lambda: draw_inputs(out, out / "plots", style), figures=True)
        _timed(
            "plot-training",
            lambda: draw_training(
                [
                    results / "train" / f"fold{k}" / "learning_curve.csv"
                    for k in range(cfg.training.folds)
                ],
                [
                    results / "train" / f"fold{k}" / "metadata.json"
                    for k in range(cfg.training.folds)
                ],
                out,
                out / "plots",
                style,
            ),
            figures=True,
        )


if __name__ == "__main__":
    main()
