"""End to end: the real `snakemake` on the second demo (config/multiclass.yaml: classes,
calibration, categories) shrunk, its numbers checked against scikit-learn and numpy."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score
from workflow_helpers import ROOT, require_hepml, run_snakemake

pytestmark = pytest.mark.e2e

CLASSES = ["signal", "dy", "ttbar"]
CATEGORIES = ["two_jets", "three_jets"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    require_hepml()
    workdir = tmp_path_factory.mktemp("e2e_multiclass")
    cfg = yaml.safe_load((ROOT / "config" / "multiclass.yaml").read_text())
    cfg["demo"].update(events=12_000, files_per_process=2)
    cfg["training"].update(folds=3, early_stopping_rounds=10, baselines=[])
    cfg["training"]["xgboost"].update(n_estimators=60)
    cfg["categories"]["min_events"] = 50
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def _test_rows(directory, columns):
    """The out-of-fold rows of the fold models' score tables under ``directory``."""
    tables = [pq.read_table(directory / f"fold{k}" / "scores.parquet") for k in range(3)]
    out = {c: np.concatenate([t.column(c).to_numpy(zero_copy_only=False) for t in tables])
           for c in [*columns, "set"]}  # fmt: skip
    test = out.pop("set").astype(str) == "test"
    return {c: v[test] for c, v in out.items()}


def _weighted_auc(score, positive, weight):
    """P(positive outscores negative) + P(tie)/2 with signed weights (Mann-Whitney)."""
    neg = ~positive
    order = np.argsort(score[neg], kind="stable")
    values, cumulative = score[neg][order], np.r_[0.0, np.cumsum(weight[neg][order])]
    below = cumulative[np.searchsorted(values, score[positive], side="left")]
    equal = cumulative[np.searchsorted(values, score[positive], side="right")] - below
    total = weight[positive].sum() * weight[neg].sum()
    return float(np.sum(weight[positive] * (below + 0.5 * equal)) / total)


def test_every_output_of_the_three_analyses_exists(run):
    results = run / "results"
    expected = [results / "evaluation" / f"{t}.{e}" for t in
                ("multiclass_auc", "multiclass_confusion", "multiclass_overtraining", "calibration")
                for e in ("csv", "md", "tex")]  # fmt: skip
    plots = ["multiclass_roc", "multiclass_confusion", "reliability", "rarity"]
    plots += [f"multiclass_{kind}_{c}" for kind in ("score", "overtraining") for c in CLASSES]
    expected += [results / "plots" / f"{p}.{e}" for p in plots for e in ("pdf", "png")]
    expected += [
        results / "categories" / "combined.csv",
        results / "plots" / "categories_significance.png",
    ]
    for c in CATEGORIES:
        base = results / "categories" / c
        expected += [
            base / "evaluation" / "significance.csv",
            base / "evaluation" / "multiclass_auc.csv",
            base / "plots" / "roc.png",
            base / "plots" / "reliability.png",
            base / "export" / "manifest.json",
            base / "apply" / "vbf_h.parquet",
        ]
    missing = [str(p.relative_to(run)) for p in expected if not p.is_file() or not p.stat().st_size]
    assert not missing


def test_one_vs_rest_and_confusion_match_scikit_learn(run):
    t = _test_rows(
        run / "results" / "train", ["class", "weight", *(f"score_p_{c}" for c in CLASSES)]
    )
    p = np.column_stack([t[f"score_p_{c}"] for c in CLASSES])
    rows = {r["name"]: r for r in _rows(run / "results" / "evaluation" / "multiclass_auc.csv")
            if r["classifier"] == "xgboost"}  # fmt: skip
    for i, name in enumerate(CLASSES):
        positive = t["class"] == i
        assert float(rows[name]["auc_unweighted"]) == pytest.approx(
            roc_auc_score(positive, p[:, i]), abs=1e-9
        )
        expected = _weighted_auc(p[:, i], positive, t["weight"])  # Drell-Yan's weights are signed
        assert float(rows[name]["auc"]) == pytest.approx(expected, abs=1e-9)
    ovo = roc_auc_score(t["class"], p, multi_class="ovo")
    assert float(rows["macro ovo"]["auc_unweighted"]) == pytest.approx(ovo, abs=1e-9)
    matrix = confusion_matrix(t["class"], np.argmax(p, axis=1), sample_weight=t["weight"])
    confusion = [r for r in _rows(run / "results" / "evaluation" / "multiclass_confusion.csv")
                 if r["classifier"] == "xgboost"]  # fmt: skip
    got = [[float(r[f"called_{c}"]) for c in CLASSES] for r in confusion]
    np.testing.assert_allclose(got, matrix, rtol=1e-9)
    # the physics: each class is told apart from the rest
    assert all(float(rows[c]["auc"]) > 0.75 for c in CLASSES)


def test_brier_scores_match_scikit_learn_and_calibration_helps(run):
    t = _test_rows(
        run / "results" / "train", ["label", "weight", "score", "score_isotonic", "score_platt"]
    )
    rows = {r["output"]: r for r in _rows(run / "results" / "evaluation" / "calibration.csv")}
    for name in ("score", "score_isotonic", "score_platt"):  # prior physics, policy abs: |w|
        expected = brier_score_loss(t["label"], t[name], sample_weight=np.abs(t["weight"]))
        assert float(rows[name]["brier"]) == pytest.approx(expected, rel=1e-9)
    assert float(rows["score_isotonic"]["brier"]) < float(rows["score"]["brier"]) / 2
    assert float(rows["score_rarity"]["background_ks_pvalue"]) > 1e-3  # flat background


def test_categories_partition_the_events_and_add_in_quadrature(run):
    results = run / "results"
    for sample in ("vbf_h", "dy", "ttbar"):
        inclusive = pq.read_metadata(results / "ingest" / f"{sample}.parquet").num_rows
        paths = [results / "categories" / c / "ingest" / f"{sample}.parquet" for c in CATEGORIES]
        parts = [pq.read_metadata(path).num_rows for path in paths]
        assert sum(parts) == inclusive and min(parts) > 0
    combined = {r["name"]: r for r in _rows(results / "categories" / "combined.csv")}
    z = []
    for c in CATEGORIES:
        optimum = _rows(results / "categories" / c / "evaluation" / "significance.csv")[0]
        s, b = float(optimum["signal"]), float(optimum["background"])
        z.append(np.sqrt(2 * ((s + b) * np.log1p(s / b) - s)))  # Asimov, by hand
        assert float(combined[c]["significance"]) == pytest.approx(z[-1], rel=1e-9)
    assert float(combined["combined"]["significance"]) == pytest.approx(np.hypot(*z), rel=1e-9)
    inclusive = _rows(results / "evaluation" / "significance.csv")[0]
    assert float(combined["inclusive"]["significance"]) == pytest.approx(float(inclusive["asimov"]))


def test_friend_trees_hold_every_output_and_reproduce_training(run):
    results = run / "results"
    applied = pq.read_table(results / "apply" / "ttbar.parquet").to_pydict()
    branches = ["bdt_score", *(f"bdt_score_p_{c}" for c in CLASSES),
                "bdt_score_isotonic", "bdt_score_platt", "bdt_score_rarity"]  # fmt: skip
    assert all(b in applied for b in branches)
    train = _test_rows(
        results / "train", ["sample", "file", "entry", "score", "score_p_dy", "score_rarity"]
    )
    mine = train["sample"].astype(str) == "ttbar"
    key = {
        (int(f), int(e)): i
        for i, (f, e) in enumerate(zip(applied["file"], applied["entry"], strict=True))
    }
    rows = [
        key[(int(f), int(e))]
        for f, e in zip(train["file"][mine], train["entry"][mine], strict=True)
    ]
    for branch, column in (("bdt_score", "score"), ("bdt_score_p_dy", "score_p_dy"),
                           ("bdt_score_rarity", "score_rarity")):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(applied[branch])[rows], train[column][mine])


def test_exports_record_the_outputs_and_pass_the_closure_test(run):
    for directory in (
        run / "results" / "export",
        run / "results" / "categories" / "two_jets" / "export",
    ):
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["objective"].startswith("multi:softprob")
        assert "P(signal) in [0, 1]" not in json.dumps(manifest)
        outputs = manifest["models"][0]["outputs"]
        assert outputs["classes"] == CLASSES and outputs["discriminant"] == "likelihood_ratio"
        assert {"isotonic", "platt", "rarity"} <= set(outputs)
        assert all("score_rarity" in c["outputs_identical"] for c in manifest["closure"])
        category_cut = [
            c["expr"] for c in manifest["config"]["selection"] if c["name"] == "category_two_jets"
        ]
        assert category_cut == (["num(Jet_pt) == 2"] if "categories" in str(directory) else [])


def test_rerun_has_nothing_to_do_and_lint_is_clean(run):
    dry = run_snakemake(run, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr
    lint = run_snakemake(run, "--lint")
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]
