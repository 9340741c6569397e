"""`hepml compare`: the metric differences between two runs, on tables and on real runs."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import pytest
from review_runs import workflow_run

from hepml.exceptions import DataError
from hepml.review.compare import compare_runs, compare_tables, comparison_markdown


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _ks_row(fold, pvalue, flagged):
    return {"classifier": "xgboost", "fold": fold, "class": "signal", "ks_pvalue": pvalue,
            "flagged": flagged}  # fmt: skip


def test_rows_are_matched_on_their_identifying_columns():
    a = [_ks_row("0", "0.5", "False"), _ks_row("1", "0.2", "False")]
    # other row order, one value changed, one flag flipped
    b = [_ks_row("1", "0.01", "True"), _ks_row("0", "0.5", "False")]
    diffs = {(d.row, d.quantity): d for d in compare_tables("overtraining", a, b)}
    assert len(diffs) == 4  # 2 rows x 2 measured columns; keys are not compared
    changed = diffs[("classifier=xgboost, fold=1, class=signal", "ks_pvalue")]
    assert changed.difference == pytest.approx(0.01 - 0.2)
    assert changed.relative_difference == pytest.approx((0.01 - 0.2) / 0.2)
    assert changed.changed()
    flag = diffs[("classifier=xgboost, fold=1, class=signal", "flagged")]
    assert flag.changed() and math.isnan(flag.difference)
    same = diffs[("classifier=xgboost, fold=0, class=signal", "ks_pvalue")]
    assert same.difference == 0 and not same.changed()
    assert not diffs[("classifier=xgboost, fold=0, class=signal", "flagged")].changed()


def test_tolerance_rows_and_tables_in_one_run_only(tmp_path):
    _write_csv(tmp_path / "a/evaluation/metrics.csv", [{"classifier": "xgboost", "auc": "0.80"}])
    _write_csv(
        tmp_path / "b/evaluation/metrics.csv",
        [{"classifier": "xgboost", "auc": "0.8000001"}, {"classifier": "fisher", "auc": "0.7"}],
    )
    _write_csv(tmp_path / "b/evaluation/significance.csv", [{"cut": "0.5", "z": "1.0"}])
    comparison = compare_runs(tmp_path / "a", tmp_path / "b")
    assert comparison.only_in_b == ["significance"] and comparison.only_in_a == []
    assert len(comparison.changed()) == 2  # the tiny AUC change and the new fisher row
    assert [d.row for d in comparison.changed(tolerance=1e-3)] == ["classifier=fisher"]
    fisher = comparison.changed(tolerance=1e-3)[0]
    assert fisher.a is None and fisher.b == "0.7"
    text = comparison_markdown(comparison, tolerance=1e-3)
    assert "2 quantities compared, 1 differ by more than 0.001." in text
    assert "Tables only in B: significance." in text
    assert "| classifier=fisher | auc | (absent) | 0.7 |" in text


def test_errors_name_the_directory(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        compare_runs(tmp_path / "nowhere", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no evaluation tables"):
        compare_runs(tmp_path / "empty", tmp_path / "empty")
    rows = [{"classifier": "xgboost", "auc": "0.8"}] * 2
    _write_csv(tmp_path / "dup/evaluation/metrics.csv", rows)
    with pytest.raises(DataError, match="two rows with classifier=xgboost"):
        compare_runs(tmp_path / "dup", tmp_path / "dup")


def _metrics(run):
    with open(run / "results" / "evaluation" / "metrics.csv") as f:
        return {row["classifier"]: row for row in csv.DictReader(f)}


@pytest.mark.e2e
def test_compare_two_real_runs_that_differ_by_features(tmp_path_factory, tmp_path):
    a = workflow_run(tmp_path_factory, "reference")
    b = workflow_run(tmp_path_factory, "fewer_features")  # without mjj and detajj
    out = tmp_path / "differences.csv"
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "compare", str(a / "results"), str(b / "results"),
         "--csv", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    auc_a = float(_metrics(a)["xgboost"]["auc"])
    auc_b = float(_metrics(b)["xgboost"]["auc"])
    # physics: the dijet mass and rapidity gap are what tells VBF from Drell-Yan and ttbar
    assert auc_b < auc_a - 0.005
    with open(out) as f:
        rows = {(r["table"], r["row"], r["quantity"]): r for r in csv.DictReader(f)}
    auc = rows[("metrics", "classifier=xgboost", "auc")]
    assert float(auc["a"]) == auc_a and float(auc["b"]) == auc_b
    assert float(auc["difference"]) == pytest.approx(auc_b - auc_a, rel=1e-12)
    assert float(auc["relative_difference"]) == pytest.approx((auc_b - auc_a) / auc_a, rel=1e-9)
    assert auc["changed"] == "True"
    assert {"metrics", "working_points", "overtraining"} <= {t for t, _, _ in rows}
    # the Markdown on stdout says the same, for a human
    assert "## metrics" in run.stdout
    line = next(x for x in run.stdout.splitlines() if x.startswith("| classifier=xgboost | auc |"))
    assert f"{auc_b - auc_a:.3g}" in line


@pytest.mark.e2e
def test_compare_a_rerun_finds_no_difference(tmp_path_factory):
    a = workflow_run(tmp_path_factory, "reference")
    b = workflow_run(tmp_path_factory, "rerun")
    comparison = compare_runs(a / "results", b / "results")
    assert len(comparison.differences) > 50
    assert comparison.changed() == []
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "compare", str(a), str(b), "--only-changed"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{len(comparison.differences)} quantities compared, 0 differ." in run.stdout


def test_cli_error_is_one_line_and_exit_2(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "compare", str(tmp_path / "a"), str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.startswith("hepml compare: error: ")
    assert "Traceback" not in run.stderr


def test_columns_of_names_identify_rows_too():
    a = [
        {"classifier": "xgboost", "optimised": "asimov", "cut": "0.645", "asimov": "7.2"},
        {"classifier": "xgboost", "optimised": "s_over_sqrt_b", "cut": "0.7", "asimov": "7.0"},
    ]
    b = [dict(a[1], asimov="7.1"), a[0]]
    diffs = compare_tables("significance", a, b)
    changed = [d for d in diffs if d.changed()]
    assert [(d.row, d.quantity) for d in changed] == [
        ("classifier=xgboost, optimised=s_over_sqrt_b", "asimov")
    ]
    assert changed[0].difference == pytest.approx(7.1 - 7.0)
