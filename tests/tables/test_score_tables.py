"""hepml.tables.scores: the evaluation read from the fold models' Parquet files, one at a time.

The numbers are checked against sklearn and numpy sums over the whole table in memory, and
the bad files each give an error naming the file.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sklearn.metrics
from synthetic_scores import WORKING_POINTS, synthetic_table

from hepml.evaluate.performance import evaluate
from hepml.exceptions import DataError, FoldMismatch
from hepml.tables.scores import ScoreFiles, models_in_order
from hepml.train.bdt import write_scores

K = 3
PROCESS = {"ggH": "higgs", "ttbar": "top", "wjets": "wjets"}


def _table():
    """The synthetic K=3 table with processes, as strings the training stage would write."""
    table = synthetic_table(n_events=4000, k=K, seed=11, negative_weights=False)
    table["process"] = np.array([PROCESS[s] for s in table["sample"]])
    return table


def _write(table, directory, permute=False):
    """One scores.parquet per model (rows shuffled per file with ``permute``)."""
    rng = np.random.default_rng(3)
    paths = []
    for k in range(K):
        rows = np.flatnonzero(table["model_fold"] == k)
        if permute:
            rows = rng.permutation(rows)
        part = {c: v[rows] for c, v in table.items()}
        part["set"] = part["set"].astype(object)
        paths.append(write_scores(part, directory / f"fold{k}" / "scores.parquet"))
    return paths


@pytest.fixture(scope="module")
def table():
    return _table()


@pytest.fixture(scope="module")
def from_files(table, tmp_path_factory):
    # files given out of order and with rows shuffled, so each file's string dictionary differs
    paths = _write(table, tmp_path_factory.mktemp("scores"), permute=True)
    return evaluate(ScoreFiles(paths[::-1], n_folds=K), working_points=WORKING_POINTS)


def test_aucs_from_files_equal_sklearn_on_the_whole_table(table, from_files):
    test = table["set"] == "test"
    expected = sklearn.metrics.roc_auc_score(
        table["label"][test], table["score"][test], sample_weight=table["weight"][test]
    )
    assert from_files.auc == pytest.approx(expected, abs=1e-9)
    for k, auc in enumerate(from_files.auc_folds):
        rows = test & (table["model_fold"] == k)
        assert auc == pytest.approx(
            sklearn.metrics.roc_auc_score(
                table["label"][rows], table["score"][rows], sample_weight=table["weight"][rows]
            ),
            abs=1e-9,
        )


def test_histograms_from_files_group_by_process(table, from_files):
    """The score plot stacks processes: each process's test yield and its class's train yield."""
    test = table["set"] == "test"
    processes = from_files.histograms.processes
    assert sorted(processes) == sorted(PROCESS.values())
    for name, data in processes.items():
        rows = test & (table["process"] == name)
        assert data.histogram.sumw.sum() == pytest.approx(table["weight"][rows].sum())
        assert data.label == int(name == "higgs")
    train_background = (table["set"] == "train") & (table["label"] == 0)
    total = from_files.histograms.overtraining["background"].train.sumw.sum()
    assert total == pytest.approx(table["weight"][train_background].sum())


def test_per_process_rows_from_files_name_the_processes(table, from_files):
    test = table["set"] == "test"
    names = [r["process"] for r in from_files.per_process]
    assert names[0] == "higgs" and names[-1] == "all backgrounds"
    rows = dict(zip(names, from_files.per_process, strict=True))
    for name in PROCESS.values():
        mask = test & (table["process"] == name)
        assert rows[name]["events"] == int(mask.sum())
        assert rows[name]["yield"] == pytest.approx(table["weight"][mask].sum())


def test_overtraining_from_files_equals_the_table_in_memory(table, from_files):
    in_memory = evaluate(dict(table, sample=table["process"]), working_points=WORKING_POINTS)
    assert [c.ks.pvalue for c in from_files.overtraining] == pytest.approx(
        [c.ks.pvalue for c in in_memory.overtraining], rel=1e-9
    )
    optimum, expected = (dict(e.significance["optimum"]) for e in (from_files, in_memory))
    assert optimum.pop("background_by_process") == pytest.approx(
        expected.pop("background_by_process")
    )
    assert optimum == pytest.approx(expected)


def test_missing_model_is_a_fold_mismatch(table, tmp_path):
    paths = _write(table, tmp_path)
    with pytest.raises(FoldMismatch, match=r"models 0..2 .*got models \[0, 2\]"):
        ScoreFiles([paths[0], paths[2]], n_folds=K)


def test_file_with_two_models_is_named(table, tmp_path):
    both = tmp_path / "both.parquet"
    rows = table["model_fold"] < 2
    pq.write_table(pa.table({c: v[rows] for c, v in table.items()}), both)
    with pytest.raises(FoldMismatch, match=r"both\.parquet holds the rows of models \[0, 1\]"):
        models_in_order([both], n_folds=K)


def test_missing_column_names_the_file_and_the_near_match(table, tmp_path):
    paths = _write(table, tmp_path)
    broken = pq.read_table(paths[1]).rename_columns(
        ["proces" if c == "process" else c for c in pq.read_schema(paths[1]).names]
    )
    pq.write_table(broken, paths[1])
    with pytest.raises(
        DataError, match=r"fold1/scores\.parquet lacks column.*Did you mean 'proces'"
    ):
        ScoreFiles(paths, n_folds=K)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("score", np.nan, "column 'score' has NaN or inf"),
        ("set", "testing", r"set value\(s\) \['testing'\]"),
        ("label", 2, r"label value\(s\) \[2\]"),
    ],
)
def test_bad_value_names_the_file(table, tmp_path, column, value, message):
    paths = _write(table, tmp_path)
    bad = pq.read_table(paths[2]).to_pydict()
    bad[column][0] = value
    pq.write_table(pa.table(bad), paths[2])
    with pytest.raises(DataError, match=rf"fold2/scores\.parquet.*{message}"):
        evaluate(ScoreFiles(paths, n_folds=K), working_points=[])


def test_files_are_read_one_model_at_a_time(table, tmp_path):
    """Memory holds one model's table: model 2's file is not read before models 0 and 1 are
    done with (a broken file 2 fails only when the iteration reaches it)."""
    paths = _write(table, tmp_path)
    source = ScoreFiles(paths, n_folds=K)
    bad = pq.read_table(paths[2]).to_pydict()
    bad["weight"][0] = np.inf
    pq.write_table(pa.table(bad), paths[2])
    models = iter(source)
    assert [next(models).model_fold for _ in range(2)] == [0, 1]
    with pytest.raises(DataError, match=r"fold2/scores\.parquet: column 'weight'"):
        next(models)
