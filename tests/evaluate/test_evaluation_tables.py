"""hepml.evaluate.tables and tables.latex_table: what the tables say, in CSV and LaTeX."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.evaluate.performance import evaluate
from hepml.evaluate.tables import TABLES, write_evaluation
from hepml.tables.text import latex_table, write_table


def _csv(path):
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tables")
    table = synthetic_table(n_events=2000, negative_weights=False)
    evaluations = [
        evaluate(table, classifier=name, working_points=WORKING_POINTS)
        for name in ("xgboost", "fisher")
    ]
    write_evaluation(evaluations, directory)
    return directory, table, evaluations


def test_metrics_and_significance_have_one_row_per_classifier(written):
    directory, _, evaluations = written
    for stem in ("metrics", "significance"):
        rows = _csv(directory / f"{stem}.csv")
        assert [r["classifier"] for r in rows] == ["xgboost", "fisher"]
        tex = (directory / f"{stem}.tex").read_text()
        assert tex.count(r"\\") == 3  # header + two rows
    rows = _csv(directory / "significance.csv")
    optimum = evaluations[0].significance["optimum"]
    assert float(rows[0]["cut"]) == optimum["cut"]
    assert float(rows[0]["background_ttbar"]) == optimum["background_by_process"]["ttbar"]


def test_confusion_rows_match_numpy_counts(written):
    directory, table, _ = written
    rows = _csv(directory / "confusion.csv")
    assert len(rows) == 2 * len(WORKING_POINTS)
    test = table["set"] == "test"
    score, label, weight = table["score"][test], table["label"][test], table["weight"][test]
    for row in rows:
        passed = score > float(row["threshold"])
        assert int(row["tp_events"]) == np.count_nonzero(passed & (label == 1))
        assert int(row["tn_events"]) == np.count_nonzero(~passed & (label == 0))
        assert float(row["fp"]) == pytest.approx(weight[passed & (label == 0)].sum())
        assert float(row["fn"]) == pytest.approx(weight[~passed & (label == 1)].sum())


def test_every_table_exists_in_three_formats_and_json_is_keyed_by_classifier(written):
    directory, _, _ = written
    for stem in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (directory / f"{stem}.{ext}").stat().st_size > 0
        assert r"\begin{tabular}" in (directory / f"{stem}.tex").read_text()
    significance = json.loads((directory / "significance.json").read_text())
    assert sorted(significance["classifiers"]) == ["fisher", "xgboost"]
    per_process = _csv(directory / "per_process.csv")
    assert {r["process"] for r in per_process} == {"ggH", "ttbar", "wjets", "all backgrounds"}


def test_latex_escapes_and_aligns():
    rows = [
        {"feature": "m_jj", "value": 0.123456, "note": "50% & more #1 ~x^2 {a} \\b $"},
        {"feature": "ht", "value": 2.0, "note": ""},
    ]
    text = latex_table(rows, caption="AUC_1")
    assert text.startswith("% AUC\\_1\n")
    assert r"\begin{tabular}{lrl}" in text
    assert r"m\_jj & 0.1235 & 50\% \& more \#1 \textasciitilde{}x\textasciicircum{}2 " in text
    assert r"\{a\} \textbackslash{}b \$ \\" in text
    assert text.rstrip().endswith(r"\end{tabular}")


def test_write_table_latex_is_optional(tmp_path):
    write_table([{"a": 1}], tmp_path / "t.csv", tmp_path / "t.md")
    assert not (tmp_path / "t.tex").exists()
    write_table([{"a": 1}], tmp_path / "t.csv", latex_path=tmp_path / "t.tex", title="T")
    assert "% T" in (tmp_path / "t.tex").read_text()
