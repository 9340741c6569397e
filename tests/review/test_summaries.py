"""`hepml summarize`: the ingest, apply and export records of a run as tables for the report."""

from __future__ import annotations

import csv
import json

import pytest

from hepml.cli.app import main
from hepml.exceptions import DataError
from hepml.review.summaries import export_rows, ingest_rows, write_summaries


def _ingest(sample, nan_counts, negative=0.1):
    return {
        "sample": sample,
        "files": [f"{sample}_0.root", f"{sample}_1.root"],
        "skipped_files": [],
        "entries": 1000,
        "selected": 400,
        "sum_of_generator_weights": 950.0,
        "sum_of_weights_source": "sum of weight over all entries",
        "normalisation": 0.25,
        "weighted_yield": 100.0,
        "negative_weight_fraction": negative,
        "negative_weight_yield": -3.5,
        "nan_counts": nan_counts,
        "fold_source": "event",
    }


def _apply(sample):
    return {
        "sample": sample, "kind": "training", "mode": "fold", "fold_source": "event",
        "branch": "bdt_score", "friend_tree": "hepml", "fill": -1.0,
        "files": [{"entries": 600, "selected": 250}, {"entries": 400, "selected": 150}],
        "skipped_files": [], "entries": 1000, "selected": 400, "friend_dir": "x",
        "parquet": "x.parquet", "models": ["m0", "m1", "m2"], "config_hash": "abc123",
    }  # fmt: skip


MANIFEST = {
    "format": "hepml-export-1",
    "config_hash": "abc123",
    "models": [
        {"fold": k, "xgboost_json": f"fold{k}.json", "onnx": f"fold{k}.onnx",
         "best_iteration": 40 + k,
         "sha256": {f"fold{k}.json": "a" * 64, f"fold{k}.onnx": "b" * 64}}
        for k in range(3)
    ],
    "closure": [
        {"fold": k, "events": 2000, "xgboost_json_identical": True,
         "nan_right_max_abs_diff": 0.01 * k, "onnx_max_abs_diff": 1e-7}
        for k in range(3)
    ],
}  # fmt: skip


def test_ingest_rows_give_negative_weights_and_the_nan_counts_of_features_with_any():
    rows = ingest_rows(
        {"sig": _ingest("sig", {"mjj": 0, "jet3_pt": 12}), "bkg": _ingest("bkg", {"mjj": 0})}
    )
    assert [r["sample"] for r in rows] == ["sig", "bkg"]
    assert rows[0]["negative_weight_fraction"] == 0.1 and rows[0]["files"] == 2
    assert rows[0]["nan_jet3_pt"] == 12 and rows[1]["nan_jet3_pt"] == 0
    assert "nan_mjj" not in rows[0]  # never missing: no column


def test_export_rows_pair_each_model_with_its_closure_test():
    rows = export_rows(MANIFEST)
    assert [r["fold"] for r in rows] == [0, 1, 2]
    assert rows[2]["nan_right_max_abs_diff"] == 0.02 and rows[1]["xgboost_sha256"] == "a" * 16
    assert rows[0]["xgboost_json_identical"] is True and rows[0]["closure_events"] == 2000


def test_summarize_writes_the_three_tables(tmp_path):
    paths = {}
    for name, content in (
        ("sig.summary.json", _ingest("sig", {"x": 3})),
        ("sig.json", _apply("sig")),
        ("manifest.json", MANIFEST),
    ):
        paths[name] = tmp_path / name
        paths[name].write_text(json.dumps(content))
    status = main(["summarize", "--ingest", f"sig={paths['sig.summary.json']}",
                   "--apply", f"sig={paths['sig.json']}", "--manifest",
                   str(paths["manifest.json"]), "--output-dir", str(tmp_path / "out")])  # fmt: skip
    assert status == 0
    with open(tmp_path / "out" / "apply.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["selected"] == "400" and row["files"] == "2" and row["mode"] == "fold"
    assert "closure test" in (tmp_path / "out" / "export.md").read_text()
    with pytest.raises(DataError, match=r"nothing\.json' does not exist; run the apply rule"):
        write_summaries({}, {"x": tmp_path / "nothing.json"}, paths["manifest.json"], tmp_path)
