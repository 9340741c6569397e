"""The public API on a finished run: models loaded and verified, events scored as apply does,
the run's scores and tables read back."""

from __future__ import annotations

import csv
import shutil

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
import xgboost as xgb
import yaml
from api_helpers import DEMO_SAMPLES, demo_config, run_commands
from conftest import ROOT
from sklearn.metrics import roc_auc_score

import hepml
from hepml.config import config_from_dict
from hepml.exceptions import DataError, FoldMismatch, UnknownBranch


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The demo analysis (real demo ntuples, event numbers), run command by command."""
    base = tmp_path_factory.mktemp("demo_run")
    results = run_commands(base, demo_config())
    return base, results, hepml.load_models(results)


def demo_file(base, sample, i=0):
    return base / "resources" / "demo" / f"{sample}_{i}.root"


def friend(results, sample, name):
    with uproot.open(results / "apply" / sample / name) as f:
        return f["hepml"].arrays(library="np")


def out_of_fold(results, sample, file):
    """entry -> out-of-fold score of one file, from the training's own score tables."""
    found = {}
    for path in sorted((results / "train").glob("fold*/scores.parquet")):
        t = pq.read_table(path).to_pydict()
        for s, f, e, score, role in zip(
            t["sample"], t["file"], t["entry"], t["score"], t["set"], strict=True
        ):
            if role == "test" and s == sample and f == file:
                assert e not in found  # one out-of-fold score per event
                found[e] = score
    return found


@pytest.mark.parametrize("sample", DEMO_SAMPLES)
def test_predict_on_a_demo_file_equals_training_and_apply_bit_for_bit(run, sample):
    base, results, models = run
    prediction = models.predict(str(demo_file(base, sample, 1)))
    applied = friend(results, sample, f"{sample}_1.root")
    np.testing.assert_array_equal(prediction.selected, applied["passes_selection"])
    np.testing.assert_array_equal(prediction.fold, applied["fold"])
    selected = prediction.selected
    assert selected.sum() > 50 and not selected.all()
    assert np.array_equal(prediction.score[selected], applied["bdt_score"][selected])  # exact
    assert np.isnan(prediction.score[~selected]).all()  # the default fill: NaN
    trained = out_of_fold(results, sample, 1)
    assert sorted(trained) == np.flatnonzero(selected).tolist()
    for entry, score in trained.items():
        assert prediction.score[entry] == score, entry  # exact, not approximate
    with_fill = models.predict(demo_file(base, sample, 1), fill=models.config.apply.fill)
    np.testing.assert_array_equal(with_fill.score, applied["bdt_score"])


def _branches(path) -> ak.Array:
    with uproot.open(path) as f:
        return f["events"].arrays()


def test_dict_of_numpy_and_awkward_arrays_scores_like_the_file(run):
    base, _, models = run
    path = demo_file(base, "dy")
    arrays = _branches(path)
    events = {f: arrays[f] for f in arrays.fields if f.startswith(("Jet_", "Muon_"))}
    events |= {f: ak.to_numpy(arrays[f]) for f in ("MET_pt", "MET_phi", "event")}  # numpy too
    expected = models.predict(path)
    got = models.predict(events)
    np.testing.assert_array_equal(got.score, expected.score)  # NaN where not selected
    np.testing.assert_array_equal(got.fold, expected.fold)
    np.testing.assert_array_equal(got.selected, expected.selected)


def _nanoevents(arrays: ak.Array) -> ak.Array:
    """The demo branches as coffea's NanoEvents hold them: events.Jet.pt, events.MET.pt."""

    def collection(name, fields):
        return ak.zip({f: arrays[f"{name}_{f}"] for f in fields})

    return ak.Array(
        {
            "Jet": collection("Jet", ("pt", "eta", "phi", "mass", "btag")),
            "Muon": collection("Muon", ("pt", "eta", "phi", "mass", "charge")),
            "MET": ak.zip({"pt": arrays.MET_pt, "phi": arrays.MET_phi}, depth_limit=1),
            "event": arrays.event,
        }
    )


def test_nanoevents_style_record_array_scores_like_the_file(run):
    base, _, models = run
    path = demo_file(base, "vbf_h")
    events = _nanoevents(_branches(path))
    assert "Jet_pt" not in events.fields and events.Jet.pt.ndim == 2
    expected = models.predict(path)
    np.testing.assert_array_equal(models.predict(events).score, expected.score)
    every_third = np.arange(len(events)) % 3 == 0  # a selection made before: events[mask]
    np.testing.assert_array_equal(
        models.predict(events[every_third]).score, expected.score[every_third]
    )


def test_parquet_file_of_nanoevents_scores_like_the_root_file(run, tmp_path):
    base, _, models = run
    path = demo_file(base, "vbf_h")
    ak.to_parquet(_nanoevents(_branches(path)), tmp_path / "vbf_h_0.parquet")
    got = models.predict(tmp_path / "vbf_h_0.parquet")
    np.testing.assert_array_equal(got.score, models.predict(path).score)


def test_mean_mode_is_the_mean_of_the_boosters_and_needs_no_event_number(run):
    base, results, models = run
    nanoevents = _nanoevents(_branches(demo_file(base, "ttbar")))
    events = {f: nanoevents[f] for f in nanoevents.fields if f != "event"}
    prediction = models.predict(events, mode="mean")
    assert prediction.fold is None
    table = pq.read_table(results / "ingest" / "ttbar.parquet").to_pydict()
    rows = [e for f, e in zip(table["_file"], table["_entry"], strict=True) if f == 0]
    X = np.column_stack([np.asarray(table[f], np.float32) for f in models.features])[: len(rows)]
    matrix = xgb.DMatrix(X, feature_names=list(models.features))
    expected = np.mean([b.predict(matrix) for b in models.boosters], axis=0)
    np.testing.assert_allclose(prediction.score[rows], expected, rtol=1e-6)
    assert np.flatnonzero(prediction.selected).tolist() == rows


def test_export_directory_gives_the_same_models_and_scores(run):
    base, results, models = run
    exported = hepml.load_models(results / "export")
    assert exported.features == models.features and exported.folds == models.folds == 3
    assert exported.config.training_hash() == models.config.training_hash()
    path = demo_file(base, "dy", 1)
    np.testing.assert_array_equal(exported.predict(path).score, models.predict(path).score)


def test_missing_branch_is_named_with_its_near_match(run):
    base, _, models = run
    arrays = _branches(demo_file(base, "dy"))
    events = {f: arrays[f] for f in arrays.fields if f != "MET_pt"}
    with pytest.raises(UnknownBranch, match=r"feature 'met'.*'MET_pt'.*Did you mean 'MET_phi'"):
        models.predict(events)
    events = _nanoevents(arrays)
    with pytest.raises(UnknownBranch, match=r"no field 'event'.*Did you mean 'evnt'"):
        models.predict(ak.Array({**{f: events[f] for f in ("Jet", "Muon", "MET")},
                                 "evnt": events.event}))  # fmt: skip
    with pytest.raises(hepml.HepmlError, match=r"no tree 'evts'.*Did you mean 'events'"):
        models.predict(f"{demo_file(base, 'dy')}:evts")


def test_wrong_events_and_arguments_are_refused(run):
    _, _, models = run
    with pytest.raises(TypeError, match="events of type list"):
        models.predict([1, 2, 3])
    with pytest.raises(DataError, match=r"differ in length.*'a': 3, 'b': 2"):
        models.predict({"a": np.zeros(3), "b": np.zeros(2)})
    with pytest.raises(ValueError, match="Did you mean 'mean'"):
        models.predict({"a": np.zeros(3)}, mode="means")


def test_models_of_other_features_are_refused(run, tmp_path):
    _, results, _ = run
    raw = yaml.safe_load((results / "config.yaml").read_text())
    raw["features"][0]["name"] = "m_jj"  # was mjj
    with pytest.raises(FoldMismatch, match=r"feature 'm_jj' is not among its features.*'mjj'"):
        hepml.load_models(results, config=config_from_dict(raw))
    copy = tmp_path / "results"
    shutil.copytree(results / "train", copy / "train")
    shutil.copy(results / "config.yaml", copy / "config.yaml")
    model = copy / "train" / "fold1" / "model.json"
    model.write_bytes(model.read_bytes().replace(b"}", b"} ", 1))
    with pytest.raises(FoldMismatch, match=r"fold1.*not the model of fold 1.*edited"):
        hepml.load_models(copy)
    with pytest.raises(FoldMismatch, match=r"Did you mean .*results'"):
        hepml.load_models(tmp_path)


def test_read_scores_are_the_out_of_fold_rows_of_training(run):
    _, results, _ = run
    scores = hepml.read_scores(results)
    expected = {}
    for k in range(3):
        t = pq.read_table(results / "train" / f"fold{k}" / "scores.parquet").to_pydict()
        for s, f, e, score, role in zip(
            t["sample"], t["file"], t["entry"], t["score"], t["set"], strict=True
        ):
            if role == "test":
                expected[(s, f, e)] = score
    keys = list(zip(scores["sample"].tolist(), scores["file"], scores["entry"], strict=True))
    assert len(keys) == len(expected) == len(set(keys))
    assert [expected[k] for k in keys] == scores["score"].tolist()
    ingest = [(s, f, e) for s in DEMO_SAMPLES for f, e in _rows(results, s)]
    assert keys == ingest  # the order of the ingest tables
    assert hepml.read_scores(results, classifier="fisher", library="pa").num_rows == len(keys)
    with pytest.raises(DataError, match=r"classifiers of this run: xgboost, fisher.*'fisher'"):
        hepml.read_scores(results, classifier="fishr")


def _rows(results, sample):
    t = pq.read_table(results / "ingest" / f"{sample}.parquet", columns=["_file", "_entry"])
    return zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True)


def test_read_metrics_gives_the_tables_as_typed_records(run):
    _, results, _ = run
    tables = hepml.read_metrics(results)
    assert {"metrics", "working_points", "overtraining", "significance"} <= set(tables)
    with open(results / "evaluation" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["classifier"] for r in tables["metrics"]] == ["xgboost", "fisher"]
    assert tables["metrics"][0]["auc"] == float(rows[0]["auc"])  # full precision
    scores = hepml.read_scores(results)
    unweighted = roc_auc_score(scores["label"], scores["score"])
    assert tables["metrics"][0]["auc_unweighted"] == pytest.approx(unweighted, abs=1e-9)
    overtraining = tables["overtraining"][0]
    assert isinstance(overtraining["flagged"], bool) and isinstance(overtraining["fold"], int)


def test_folds_from_file_and_entry_without_event_number(shared_data, tmp_path):
    """Real ROOT-written ntuples without an event number: the file index comes from the
    run's file lists for a file of the run, and must be given for events in memory."""
    tutorial = shared_data / "cms-hep-tutorial"
    config = {
        "seed": 3,
        "event_number": "none",
        "samples": {
            "ww": {"label": "signal", "files": str(tutorial / "ww.root"), "weight": "EventWeight"},
            "zz": {"label": "background", "files": str(tutorial / "zz.root")},
        },
        "selection": [{"name": "one_muon", "expr": "num(Muon_Px) >= 1"}],
        "features": [
            {"name": "met", "expr": "hypot(MET_px, MET_py)"},
            {"name": "n_jets", "expr": "num(Jet_Px)"},
            {"name": "mu1_pt", "expr": "pt(Muon)[0]"},
        ],
        "training": {"folds": 3, "early_stopping_rounds": 5, "xgboost": {"n_estimators": 20}},
    }
    results = run_commands(tmp_path, config, evaluate=False)
    models = hepml.load_models(results)
    prediction = models.predict(tutorial / "ww.root")
    applied = friend(results, "ww", "ww.root")
    np.testing.assert_array_equal(prediction.fold, applied["fold"])
    selected = prediction.selected
    assert np.array_equal(prediction.score[selected], applied["bdt_score"][selected])
    arrays = _branches(tutorial / "ww.root")
    with pytest.raises(DataError, match=r"event_number: none.*pass file_index="):
        models.predict(arrays)
    part = models.predict(arrays[1000:2000], file_index=0, entry_start=1000)
    np.testing.assert_array_equal(part.score, prediction.score[1000:2000])
    copy = tmp_path / "elsewhere.root"
    shutil.copy(tutorial / "ww.root", copy)
    with pytest.raises(DataError, match=r"'.*elsewhere.root', not a file of this run"):
        models.predict(copy)
    np.testing.assert_array_equal(models.predict(copy, file_index=0).score, prediction.score)


def test_the_readme_example_runs(run, monkeypatch):
    base, results, _ = run
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API") :]
    code = section[section.index("```python\n") + 10 :]
    code = code[: code.index("```")]
    (base / "config").mkdir(exist_ok=True)
    shutil.copy(base / "config.yaml", base / "config" / "config.yaml")
    monkeypatch.chdir(base)
    names: dict = {}
    exec(code, names)
    applied = friend(results, "vbf_h", "vbf_h_0.root")
    selected = names["prediction"].selected
    np.testing.assert_array_equal(selected, applied["passes_selection"])
    assert np.array_equal(names["prediction"].score[selected], applied["bdt_score"][selected])
    assert names["tables"]["metrics"][0]["classifier"] == "xgboost"
    assert names["config"].feature_names == list(names["models"].features)
