"""The multiclass, calibration and categories evaluations against scikit-learn and numpy:
one-vs-rest and one-vs-one AUCs (roc_auc_score, multi_class ovr/ovo), their fold spread, the
confusion matrix (confusion_matrix with weights), Brier scores (brier_score_loss), the
reliability curve (calibration_curve), the rarity's flatness (kstest), and the categories
combined in quadrature."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from model_helpers import FEATURES
from multiclass_helpers import CLASSES
from multiclass_helpers import score_tables as _score_tables
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score

from hepml.evaluate.calibration import (
    brier_score,
    evaluate_calibration,
    reliability_curve,
    uniformity,
    write_calibration,
)
from hepml.evaluate.categories import check_disjoint, combine_categories, write_combination
from hepml.evaluate.multiclass import evaluate_multiclass
from hepml.evaluate.multiclass_tables import write_multiclass
from hepml.exceptions import DataError


@pytest.fixture
def tables(tmp_path):
    return _score_tables(tmp_path)


def test_one_vs_rest_aucs_equal_scikit_learn(tables):
    paths, (y, p, w, k) = tables
    result = evaluate_multiclass(paths, CLASSES, bins=10)
    for c, row in enumerate(result["ovr"]):
        assert row["auc"] == pytest.approx(
            roc_auc_score(y == c, p[:, c], sample_weight=w), abs=1e-12
        )
        assert row["auc_unweighted"] == pytest.approx(roc_auc_score(y == c, p[:, c]), abs=1e-12)
        per_fold = [
            roc_auc_score(y[k == f] == c, p[k == f, c], sample_weight=w[k == f]) for f in range(3)
        ]
        assert [row[f"auc_fold_{f}"] for f in range(3)] == pytest.approx(per_fold, abs=1e-12)
        assert row["auc_std_over_folds"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-12)
    macro = roc_auc_score(y, p, multi_class="ovr", average="macro", sample_weight=w)
    assert result["macro"]["ovr"]["auc"] == pytest.approx(macro, abs=1e-12)


def test_one_vs_one_aucs_equal_scikit_learn(tables):
    paths, (y, p, w, _) = tables
    result = evaluate_multiclass(paths, CLASSES, bins=10)
    # scikit-learn's ovo takes no weights: unweighted against it, weighted pair by pair
    unweighted = roc_auc_score(y, p, multi_class="ovo", average="macro")
    assert result["macro"]["ovo"]["auc_unweighted"] == pytest.approx(unweighted, abs=1e-12)
    for row, (a, b) in zip(result["ovo"], itertools.combinations(range(3), 2), strict=True):
        rows = (y == a) | (y == b)
        expected = 0.5 * (
            roc_auc_score(y[rows] == a, p[rows, a], sample_weight=w[rows])
            + roc_auc_score(y[rows] == b, p[rows, b], sample_weight=w[rows])
        )
        assert row["name"] == f"{CLASSES[a]} vs {CLASSES[b]}"
        assert row["auc"] == pytest.approx(expected, abs=1e-12)


def test_confusion_matrix_in_expected_and_monte_carlo_events(tables):
    paths, (y, p, w, _) = tables
    result = evaluate_multiclass(paths, CLASSES, bins=10)
    called = np.argmax(p, axis=1)
    np.testing.assert_allclose(
        result["confusion"]["expected"], confusion_matrix(y, called, sample_weight=w), rtol=1e-12
    )
    np.testing.assert_array_equal(result["confusion"]["events"], confusion_matrix(y, called))


def test_overtraining_per_class_against_scipy(tmp_path):
    paths, _ = _score_tables(tmp_path, n=800)
    for path in paths:  # unit weights: the KS statistic is then scipy's
        table = pq.read_table(path)
        ones = pa.array(np.ones(table.num_rows))
        pq.write_table(
            table.set_column(table.schema.get_field_index("weight"), "weight", ones), path
        )
    result = evaluate_multiclass(paths, CLASSES, bins=10)
    table = pq.read_table(paths[0]).to_pydict()
    s, c, p = (np.asarray(table[n]) for n in ("set", "class", "score_p_dy"))
    row = next(r for r in result["overtraining"] if r["fold"] == 0 and r["class"] == "dy")
    expected = stats.ks_2samp(p[(s == "train") & (c == 1)], p[(s == "test") & (c == 1)])
    assert row["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
    assert row["auc_train"] == pytest.approx(roc_auc_score(c[s == "train"] == 1, p[s == "train"]))
    assert row["auc_gap"] == pytest.approx(row["auc_train"] - row["auc_test"])


def test_tables_and_json_are_written(tables, tmp_path):
    paths, _ = tables
    result = evaluate_multiclass(paths, CLASSES, bins=10)
    written = write_multiclass([result], tmp_path / "out")
    names = {p.name for p in written}
    assert {"multiclass_auc.csv", "multiclass_confusion.tex", "multiclass.json"} <= names
    content = json.loads((tmp_path / "out" / "multiclass.json").read_text())
    assert content["order"] == ["xgboost"]
    assert content["classifiers"]["xgboost"]["classes"] == CLASSES
    text = (tmp_path / "out" / "multiclass_auc.md").read_text()
    assert "macro ovo" in text and "signal vs dy" in text


def test_a_binary_score_table_is_refused_naming_the_column(tmp_path):
    paths, _ = _score_tables(tmp_path)
    table = pq.read_table(paths[0]).drop(["score_p_dy"])
    pq.write_table(table, paths[0])
    with pytest.raises(DataError, match="lacks column 'score_p_dy' of a multiclass model"):
        evaluate_multiclass(paths, CLASSES)


# ------------------------------------------------------------------------ calibration


def test_brier_and_reliability_equal_scikit_learn():
    rng = np.random.default_rng(4)
    y = (rng.random(3000) < 0.3).astype(int)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, y.size), 0, 1)
    w = rng.uniform(0.1, 2.0, y.size)
    assert brier_score(p, y, w) == pytest.approx(brier_score_loss(y, p, sample_weight=w), abs=1e-14)
    curve = reliability_curve(p, y, np.ones(y.size), 10)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(curve["observed"], observed, rtol=1e-12)
    np.testing.assert_allclose(curve["predicted"], predicted, rtol=1e-12)


def test_uniformity_is_the_ks_distance_from_the_uniform_distribution():
    x = np.random.default_rng(6).random(2000) ** 1.2
    got = uniformity(x, np.ones(x.size))
    expected = stats.kstest(x, "uniform")
    assert got["ks_distance"] == pytest.approx(expected.statistic, abs=1e-12)
    assert got["ks_pvalue"] == pytest.approx(expected.pvalue, rel=0.1)


def test_calibration_evaluation_on_the_test_folds(tmp_path):
    rng = np.random.default_rng(8)
    paths = []
    for k in range(3):
        n = 1000
        label = (rng.random(n) < 0.2).astype(np.int8)
        score = np.clip(rng.normal(0.3 + 0.4 * label, 0.15), 0, 1)
        table = {
            "score": score, "score_isotonic": np.clip(score - 0.2, 0, 1),
            "score_rarity": rng.random(n), "label": label, "weight": np.full(n, 2.0),
            "set": np.where(np.arange(n) % 3 == 0, "test", "train"),
            "model_fold": np.full(n, k, np.int8),
        }  # fmt: skip
        pq.write_table(pa.table(table), tmp_path / f"f{k}.parquet")
        paths.append(tmp_path / f"f{k}.parquet")
    result = evaluate_calibration(paths, policy="abs", prior="physics", bins=5)
    merged = [pq.read_table(p).to_pydict() for p in paths]
    test = [np.asarray(t["set"]) == "test" for t in merged]
    y = np.concatenate([np.asarray(t["label"])[m] for t, m in zip(merged, test, strict=True)])
    for row in result["brier"]:
        p = np.concatenate(
            [np.asarray(t[row["output"]])[m] for t, m in zip(merged, test, strict=True)]
        )
        assert row["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert [r["output"] for r in result["brier"]] == ["score", "score_isotonic"]
    assert result["rarity"]["background_uniformity"]["ks_pvalue"] > 1e-3
    written = write_calibration(result, tmp_path / "out")
    assert "score_rarity" in (tmp_path / "out" / "calibration.md").read_text()
    assert len(written) == 4


# ------------------------------------------------------------------------- categories


def _significance(path, cut, s, b, z):
    optimum = None if z is None else {"cut": cut, "signal": s, "background": b, "asimov": z}
    content = {"classifiers": {"xgboost": {"metric": "asimov", "optimum": optimum}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def test_categories_add_in_quadrature_beside_the_inclusive_bdt(tmp_path):
    inclusive = _significance(tmp_path / "inc.json", 0.8, 10.0, 40.0, 1.5)
    categories = {
        "a": _significance(tmp_path / "a.json", 0.7, 6.0, 10.0, 1.7),
        "b": _significance(tmp_path / "b.json", 0.9, 3.0, 2.0, 1.9),
        "c": _significance(tmp_path / "c.json", None, None, None, None),
    }
    result = combine_categories(inclusive, categories)
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["combined"]["significance"] == pytest.approx(np.hypot(1.7, 1.9), abs=1e-14)
    assert rows["combined"]["signal"] == 9.0 and rows["c"]["significance"] == 0.0
    assert rows["inclusive"]["significance"] == 1.5
    paths = write_combination(result, tmp_path / "out")
    assert "sqrt(sum Z_i^2)" in paths[1].read_text()


def test_overlapping_categories_are_an_error_naming_both(tmp_path):
    def table(path, entries):
        n = len(entries)
        pq.write_table(
            pa.table({"_file": np.zeros(n, np.int32), "_entry": np.asarray(entries, np.int64)}),
            path,
        )
        return path

    disjoint = {"a": {"s": table(tmp_path / "a.parquet", [0, 1, 2])},
                "b": {"s": table(tmp_path / "b.parquet", [3, 4])}}  # fmt: skip
    check_disjoint(disjoint)
    disjoint["b"]["t"] = table(tmp_path / "t.parquet", [0, 1])  # another sample: no overlap
    check_disjoint(disjoint)
    disjoint["c"] = {"s": table(tmp_path / "c.parquet", [2, 5])}
    with pytest.raises(DataError, match="categories 'a' and 'c' share 1 event"):
        check_disjoint(disjoint)


# --------------------------------------------------------------------- data/MC, importance


def _multiclass_models(directory, X, y, fold):
    """Three multi:softprob fold models with metadata recording a likelihood-ratio score."""
    import hashlib

    import xgboost as xgb

    from hepml.score_outputs import ScoreOutputs

    outputs = ScoreOutputs(tuple(CLASSES), (0,), "likelihood_ratio", (0.0, 0.6, 2.0))
    paths = []
    for k in range(3):
        matrix = xgb.DMatrix(X[fold != k], label=y[fold != k], feature_names=FEATURES)
        params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1}
        booster = xgb.train(params, matrix, num_boost_round=8)
        out = directory / f"fold{k}"
        out.mkdir(parents=True)
        booster.save_model(out / "model.json")
        raw = (out / "model.json").read_bytes()
        meta = {"model_fold": k, "features": FEATURES, "outputs": outputs.record(),
                "model_sha256": hashlib.sha256(raw).hexdigest()}  # fmt: skip
        (out / "metadata.json").write_text(json.dumps(meta))
        paths.append(out / "model.json")
    return paths, outputs


def test_data_mc_and_importance_of_a_multiclass_model_use_its_discriminant(tmp_path):
    import xgboost as xgb
    from model_helpers import _data, _write_table

    from hepml.evaluate.data_mc import data_mc_from_files
    from hepml.evaluate.importance import importance_from_files

    X, label = _data(n=1800, seed=2)
    rng = np.random.default_rng(3)
    y = np.where(label == 1, 0, rng.integers(1, 3, label.size))
    fold = rng.integers(0, 3, label.size)
    models, outputs = _multiclass_models(tmp_path / "models", X, y, fold)
    tables = {}
    for name, rows in (("mc", np.arange(1800) < 1200), ("run", np.arange(1800) >= 1200)):
        tables[name] = tmp_path / f"{name}.parquet"
        _write_table(tables[name], X[rows], label[rows], fold[rows])
    content = data_mc_from_files(models, {"mc": tables["mc"]}, {"run": tables["run"]},
                                 bins=10, score_bins=20, unblind=True)  # fmt: skip
    boosters = [xgb.Booster(model_file=str(m)) for m in models]
    rows = np.arange(1800) < 1200
    score = np.empty(rows.sum())
    for k in range(3):
        mine = fold[rows] == k
        score[mine] = outputs.columns(boosters[k].inplace_predict(X[rows][mine]))[""]
    edges = np.asarray(content.score.edges)
    expected, _ = np.histogram(score, bins=edges)
    got = np.asarray(content.score.processes["mc"].histogram.sumw)
    np.testing.assert_allclose(got[1:-1], expected)  # unit weights; under/overflow outside
    ranking, _ = importance_from_files(models, {"mc": tables["mc"]}, max_events=200)
    assert ranking[0]["feature"] == "strong"  # SHAP of the signal class's output
