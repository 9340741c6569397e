"""`hepml compare --plots`: two or more runs' ROC curves, score shapes and working points in
one directory, drawn from each run's plot data, under hepml's ownership rules."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.cli.app import main
from hepml.evaluate.performance import evaluate, write_evaluation
from hepml.exceptions import DataError
from hepml.plotdata import RocCurves, ScoreHistograms
from hepml.plots.comparison import plot_roc_comparison, plot_score_comparison
from hepml.plots.style import PlotStyle
from hepml.review.compare_plots import COMPARISON_FILES, run_labels, working_point_rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs' results directories: the same events with other seeds of the scores."""
    root = tmp_path_factory.mktemp("runs")
    paths = []
    for name, seed in (("baseline", 7), ("more_trees", 8), ("new_feature", 9)):
        directory = root / name / "results" / "evaluation"
        evaluation = evaluate(synthetic_table(n_events=2000, seed=seed),
                              working_points=WORKING_POINTS)  # fmt: skip
        write_evaluation(evaluation, directory)
        paths.append(root / name / "results")
    return paths


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_compare_plots_every_run_and_tabulates_their_working_points(runs, tmp_path, capsys):
    out = tmp_path / "comparison"
    assert main(["compare", *map(str, runs), "--plots", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(COMPARISON_FILES)
    rows = _rows(out / "working_points.csv")
    assert [r["working_point"] for r in rows] == [
        "signal_efficiency=0.5", "background_efficiency=0.05", "score=0.7"
    ]  # fmt: skip
    for label, run in zip(("baseline", "more_trees", "new_feature"), runs, strict=True):
        own = {r["working_point"]: r for r in _rows(run / "evaluation" / "working_points.csv")}
        for row in rows:
            expected = own[row["working_point"]]
            assert float(row[f"threshold [{label}]"]) == float(expected["threshold"])
            assert float(row[f"sensitivity [{label}]"]) == float(expected["sensitivity"])
    # the tables compared A with each other run, on stdout
    printed = capsys.readouterr().out
    assert printed.count("# Comparison of") == 2


def test_the_roc_and_score_overlays_draw_each_runs_data(runs):
    curves = {p.parent.name: RocCurves.read(p / "evaluation" / "curves.json") for p in runs}
    fig = plot_roc_comparison({k: v["xgboost"] for k, v in curves.items()}, PlotStyle())
    main_ax, ratio = fig.axes
    for label, data in curves.items():
        line = next(x for x in main_ax.get_lines() if x.get_label().startswith(label))
        merged = data["xgboost"].merged
        kept = merged.background_efficiency > 0
        np.testing.assert_allclose(line.get_ydata()[kept], 1 / merged.background_efficiency[kept])
    first = np.asarray(ratio.get_lines()[0].get_ydata(), dtype=float)
    np.testing.assert_allclose(first[np.isfinite(first)], 1.0)  # the first run over itself
    shapes = {p.parent.name: ScoreHistograms.read(p / "evaluation" / "histograms.json")
              for p in runs}  # fmt: skip
    fig = plot_score_comparison({k: v["xgboost"] for k, v in shapes.items()}, PlotStyle())
    steps = {p.get_label(): p.get_data() for p in fig.axes[0].patches}
    test = shapes["new_feature"]["xgboost"].overtraining["background"].test
    edges = shapes["new_feature"]["xgboost"].edges
    np.testing.assert_allclose(
        steps["new_feature: background"].values, test.sumw / (test.sumw.sum() * np.diff(edges))
    )


def test_compare_refuses_to_overwrite_what_it_did_not_write(runs, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "roc.png").write_bytes(b"a user's own figure")
    assert main(["compare", str(runs[0]), str(runs[1]), "--plots", str(out)]) == 2
    assert (
        "'" + str(out / "roc.png") + "' exists and hepml has no record" in capsys.readouterr().err
    )
    assert (out / "roc.png").read_bytes() == b"a user's own figure"
    inside = runs[0] / "evaluation" / "comparison"  # inside a run it reads
    assert main(["compare", str(runs[0]), str(runs[1]), "--plots", str(inside)]) == 2
    assert "inside the input directory" in capsys.readouterr().err
    # its own earlier output it replaces
    again = tmp_path / "again"
    for _ in range(2):
        assert main(["compare", str(runs[0]), str(runs[1]), "--plots", str(again)]) == 0


def test_run_labels_are_the_analysis_directories_or_given():
    assert run_labels(["a/results", "b/results/evaluation"]) == ["a", "b"]
    assert run_labels(["x/results", "y/x/results"]) == ["run1", "run2"]  # not distinct
    assert run_labels(["a", "b"], ["old", "new"]) == ["old", "new"]
    with pytest.raises(DataError, match="one distinct label per run"):
        run_labels(["a", "b"], ["same", "same"])


def test_working_point_rows_of_a_named_classifier():
    tables = {
        "A": [{"classifier": "xgboost", "working_point": "s=0.5", "threshold": "0.7",
               "sensitivity": "0.5", "specificity": "0.9", "background_rejection": "10"},
              {"classifier": "fisher", "working_point": "s=0.5", "threshold": "0.1",
               "sensitivity": "0.5", "specificity": "0.8", "background_rejection": "5"}],
    }  # fmt: skip
    (row,) = working_point_rows(tables, "fisher")
    assert row["threshold [A]"] == 0.1 and row["background_rejection [A]"] == 5.0
    with pytest.raises(DataError, match="run 'A' has no classifier 'mlp'"):
        working_point_rows(tables, "mlp")
