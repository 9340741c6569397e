"""Export: XGBoost JSON + ONNX + manifest + fold header, and `hepml score` from an export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
import xgboost as xgb
from pipeline_helpers import build_pipeline, friend_arrays, load_models, truncated_ntuple

from hepml.apply.samples import apply_sample
from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.exceptions import DataError, FoldMismatch, HepmlError
from hepml.export.manifest import fold_header
from hepml.export.models import closure_sample, export_models
from hepml.export.score import load_export
from hepml.folds import fold_of_event


@pytest.fixture
def pipeline(small_config, tmp_path):
    p = build_pipeline(small_config, tmp_path)
    p["export"] = tmp_path / "export"
    return p


def export(p: dict, onnx: str = "no") -> dict:
    closure = closure_sample(p["config"], p["tables"], p["scores"], max_events=500)
    return export_models(p["config"], load_models(p), closure, p["export"], onnx=onnx)


def oof_test_events(p: dict, k: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Features (from the ingest tables) and training scores of n of fold k's test events."""
    scores = pq.read_table(p["scores"][k]).to_pydict()
    tables = {s: pq.read_table(path).to_pydict() for s, path in p["tables"].items()}
    rows = {
        (s, f, e): i
        for s, t in tables.items()
        for i, (f, e) in enumerate(zip(t["_file"], t["_entry"], strict=True))
    }
    X, y = [], []
    for sample, file, entry, score, role in zip(
        scores["sample"],
        scores["file"],
        scores["entry"],
        scores["score"],
        scores["set"],
        strict=True,
    ):
        if role == "test" and len(y) < n:
            row = rows[(sample, file, entry)]
            X.append([tables[sample][f][row] for f in p["config"].feature_names])
            y.append(score)
    return np.asarray(X, dtype=np.float32), np.asarray(y)


def test_manifest_models_and_closure(pipeline):
    cfg = pipeline["config"]
    manifest = export(pipeline)
    assert [f["name"] for f in manifest["features"]] == cfg.feature_names
    assert [f["expr"] for f in manifest["features"]] == [f.expr for f in cfg.features]
    assert all(f["fill"] is None for f in manifest["features"])  # NaN: XGBoost's missing
    assert manifest["config_hash"] == cfg.training_hash()
    folds = manifest["folds"]
    assert (folds["k"], folds["seed"], folds["event_number"]) == (3, 7, ["event"])
    assert manifest["versions"]["xgboost"] == xgb.__version__
    on_disk = json.loads((pipeline["export"] / "manifest.json").read_text())
    assert on_disk["config_hash"] == manifest["config_hash"]
    for k, entry in enumerate(manifest["models"]):
        exported = (pipeline["export"] / entry["xgboost_json"]).read_bytes()
        assert exported == pipeline["models"][k].read_bytes()
        assert entry["onnx"] is None
        # closure, recomputed here: the exported model on fold k's test events gives the
        # out-of-fold scores training wrote, exactly
        X, expected = oof_test_events(pipeline, k)
        booster = xgb.Booster(model_file=str(pipeline["export"] / entry["xgboost_json"]))
        got = booster.predict(xgb.DMatrix(X, feature_names=cfg.feature_names))
        np.testing.assert_array_equal(got.astype(np.float64), expected)
        assert manifest["closure"][k]["xgboost_json_identical"] is True
        n_test = pq.read_table(pipeline["scores"][k]).column("set").to_pylist().count("test")
        assert manifest["closure"][k]["events"] == min(500, n_test)


def test_onnx_export_agrees_with_xgboost(pipeline):
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("onnxmltools", reason="the onnx extra is not installed")
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
    manifest = export(pipeline, onnx="yes")
    for k, entry in enumerate(manifest["models"]):
        path = pipeline["export"] / entry["onnx"]
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props["hepml_features"] == ",".join(pipeline["config"].feature_names)
        assert props["hepml_fold"] == str(k)
        X, expected = oof_test_events(pipeline, k)
        assert np.isnan(X).any()  # missing values take XGBoost's learned direction in ONNX too
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        probabilities = session.run(["probabilities"], {"features": X})[0]
        np.testing.assert_allclose(probabilities[:, 1], expected, atol=1e-5, rtol=0)
        assert manifest["closure"][k]["onnx_max_abs_diff"] <= 1e-5
    assert "onnxruntime" in manifest["versions"]


def test_two_exports_are_byte_identical(pipeline, tmp_path):
    """Every file of two clean exports, ONNX and manifest included, is the same byte for byte
    (the ONNX graph name was a random UUID; the manifest holds no time or run-dependent value)."""
    pytest.importorskip("onnxmltools", reason="the onnx extra is not installed")
    first = export(pipeline, onnx="yes")
    files = {p.relative_to(pipeline["export"]): p.read_bytes()
             for p in sorted(pipeline["export"].rglob("*")) if p.is_file()}  # fmt: skip
    pipeline["export"] = tmp_path / "again"
    assert export(pipeline, onnx="yes") == first
    again = {p.relative_to(pipeline["export"]): p.read_bytes()
             for p in sorted(pipeline["export"].rglob("*")) if p.is_file()}  # fmt: skip
    assert sorted(again) == sorted(files)
    assert any(p.suffix == ".onnx" for p in files) and Path("manifest.json") in files
    for name, data in files.items():
        assert again[name] == data, name


def test_onnx_yes_without_the_extra_names_the_install_command(pipeline, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxmltools", None)  # import fails as if not installed
    with pytest.raises(HepmlError, match=r'pip install "hepml\[onnx\]"'):
        export(pipeline, onnx="yes")
    assert not pipeline["export"].exists()
    manifest = export(pipeline, onnx="auto")  # auto: JSON only, said in the manifest
    assert all(m["onnx"] is None for m in manifest["models"])
    assert not list(pipeline["export"].glob("*.onnx"))


def test_closure_failure_stops_the_export(pipeline):
    table = pq.read_table(pipeline["scores"][1])
    score = table.column("score").to_numpy().copy()
    test = np.flatnonzero(table.column("set").to_numpy(zero_copy_only=False) == "test")
    score[test[3]] += 1e-6  # scores that this model cannot have produced
    table = table.set_column(table.schema.get_field_index("score"), "score", pa.array(score))
    pq.write_table(table, pipeline["scores"][1])
    with pytest.raises(DataError, match="closure test failed: the exported model of fold 1"):
        export(pipeline)
    assert not pipeline["export"].exists()


@pytest.mark.parametrize("event_number", [["event"], ["run", "event"]])
def test_fold_header_compiles_and_agrees_with_python(small_config, tmp_path, event_number):
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    cfg = config_from_dict(dict(small_config, event_number=event_number, seed=123456))
    (tmp_path / "hepml_folds.h").write_text(fold_header(cfg))
    rng = np.random.default_rng(1)
    ids = [rng.integers(-(2**62), 2**62, 300, dtype=np.int64) for _ in event_number]
    ids[-1][:3] = [0, -1, np.iinfo(np.int64).max]
    args = ", ".join(f"static_cast<std::uint64_t>(v{i}[j])" for i in range(len(ids)))
    arrays = "\n".join(
        f"const long long v{i}[] = {{{', '.join(f'{x}LL' for x in a)}}};" for i, a in enumerate(ids)
    ).replace("-9223372036854775808LL", "(-9223372036854775807LL - 1)")
    (tmp_path / "main.cpp").write_text(
        f'#include <cstdio>\n#include "hepml_folds.h"\n{arrays}\nint main() {{\n'
        f'  for (int j = 0; j < {len(ids[0])}; ++j) std::printf("%d\\n", '
        f"hepml::fold_of_event({args}));\n}}\n"
    )
    exe = tmp_path / "folds"
    subprocess.run(
        [compiler, "-std=c++17", "-O1", "-o", str(exe), str(tmp_path / "main.cpp")], check=True
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    np.testing.assert_array_equal(
        np.array(out.split(), dtype=int), fold_of_event(ids, cfg.training.folds, cfg.seed)
    )


def test_hepml_score_reproduces_apply(pipeline, tmp_path, capsys):
    export(pipeline)
    cfg = pipeline["config"]
    apply_sample(cfg, "sig", load_models(pipeline), pipeline["out"])
    out = tmp_path / "scored"
    source = str(tmp_path / "sig_1.root")
    argv = ["score", source, "--export-dir", str(pipeline["export"]), "--output-dir", str(out)]
    assert main([*argv, "--parquet"]) == 0
    scored = friend_arrays(out / "sig_1.root")
    applied = friend_arrays(pipeline["out"] / "sig" / "sig_1.root")
    assert scored.keys() == applied.keys()
    for branch in applied:
        np.testing.assert_array_equal(scored[branch], applied[branch])
    assert pq.read_metadata(out / "scores.parquet").num_rows == len(scored["bdt_score"])
    assert [p.name for p in out.glob(".*")] == [".hepml"]  # the ledger; no temporary left
    # a friend file never replaces its source ntuple
    assert main(["score", source, "--export-dir", str(pipeline["export"]),
                 "--output-dir", str(tmp_path)]) == 2  # fmt: skip
    assert "is also an input" in capsys.readouterr().err
    assert uproot.open(source)["events"].num_entries == 1500


def test_hepml_score_bad_file_stops_or_is_skipped(pipeline, tmp_path, capsys):
    """A truncated file stops `hepml score` naming it (nothing written), or is left out."""
    export(pipeline)
    apply_sample(pipeline["config"], "sig", load_models(pipeline), pipeline["out"])
    bad = tmp_path / "bad.root"
    truncated_ntuple(bad, seed=5)
    good = str(tmp_path / "sig_1.root")
    out = tmp_path / "scored"
    argv = ["score", good, str(bad), "--export-dir", str(pipeline["export"])]
    assert main([*argv, "--output-dir", str(out), "--parquet"]) == 2
    assert "bad.root" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())

    argv += ["--output-dir", str(out), "--parquet", "--on-bad-file", "skip"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [".hepml", "scores.parquet", "sig_1.root"]
    scored = friend_arrays(out / "sig_1.root")
    applied = friend_arrays(pipeline["out"] / "sig" / "sig_1.root")
    np.testing.assert_array_equal(scored["bdt_score"], applied["bdt_score"])
    rows = pq.read_table(out / "scores.parquet").to_pydict()
    assert len(rows["bdt_score"]) == len(applied["bdt_score"])
    assert set(rows["file"]) == {0}  # the good file is first of the sorted list; bad.root none


def test_load_export_errors(pipeline, tmp_path):
    with pytest.raises(FoldMismatch, match=r"has no manifest\.json"):
        load_export(tmp_path / "nowhere")
    export(pipeline)
    manifest_path = pipeline["export"] / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["config"]["training"]["xgboost"]["max_depth"] = 9
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(FoldMismatch, match="was it edited"):
        load_export(pipeline["export"])
