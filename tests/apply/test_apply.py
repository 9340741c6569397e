"""Apply: scores back into the ntuples, checked against training and independent computations."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
import xgboost as xgb
import yaml
from conftest import write_ntuple
from pipeline_helpers import build_pipeline, friend_arrays, load_models
from workflow_helpers import run_snakemake, write_tiny_config

from hepml.apply.samples import apply_sample, output_paths
from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.exceptions import ConfigError, DataError, FoldMismatch, UnknownBranch
from hepml.folds import fold_of_event
from hepml.models import check_models, read_training_models


@pytest.fixture
def pipeline(small_config, tmp_path):
    return build_pipeline(small_config, tmp_path)


def independent_features(arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """The small_config features and selection, computed directly with awkward/numpy."""
    jet_pt, jet_eta, mu_pt = arrays["Jet_pt"], arrays["Jet_eta"], arrays["Muon_pt"]
    met = np.asarray(arrays["MET_pt"], dtype=np.float32)
    n_jets = ak.to_numpy(ak.num(jet_pt)).astype(np.float32)
    jet1_eta = ak.to_numpy(ak.fill_none(ak.firsts(jet_eta), np.nan)).astype(np.float32)
    mu1_pt = ak.to_numpy(ak.fill_none(ak.firsts(mu_pt), np.nan)).astype(np.float32)
    ht = ak.to_numpy(ak.sum(jet_pt[jet_pt > 30], axis=1)).astype(np.float32)
    X = np.column_stack([met, n_jets, jet1_eta, mu1_pt, ht])
    selected = (ak.to_numpy(ak.num(mu_pt)) >= 1) & (met > 5)
    return X, selected


def test_applied_scores_equal_out_of_fold_scores_bit_for_bit(pipeline):
    cfg, models = pipeline["config"], load_models(pipeline)
    friends = {}
    for name in cfg.samples:
        summary = apply_sample(cfg, name, models, pipeline["out"])
        files = [r["friend"] for r in summary["files"]]
        friends[name] = [friend_arrays(pipeline["out"] / name / f)["bdt_score"] for f in files]
    n_checked = 0
    for path in pipeline["scores"]:
        t = pq.read_table(path).to_pydict()
        for sample, file, entry, score, role in zip(
            t["sample"], t["file"], t["entry"], t["score"], t["set"], strict=True
        ):
            if role == "test":
                applied = friends[sample][file][entry]
                assert applied == score, (sample, file, entry)  # exact, not approximate
                n_checked += 1
    # every selected event was checked once: its out-of-fold score exists exactly once
    assert n_checked == sum(pq.read_metadata(p).num_rows for p in pipeline["tables"].values())


def test_friend_tree_follows_the_source_entry_by_entry(pipeline, tmp_path):
    cfg = pipeline["config"]
    summary = apply_sample(cfg, "bkg", load_models(pipeline), pipeline["out"])
    assert [Path(r["source"].rsplit(":", 1)[0]).name for r in summary["files"]] == [
        "bkg_0.root",
        "bkg_1.root",
    ]
    for i, record in enumerate(summary["files"]):
        source = uproot.open(tmp_path / f"bkg_{i}.root")["events"]
        src = source.arrays(["event", "MET_pt", "Muon_pt"], library="np")
        friend = friend_arrays(pipeline["out"] / "bkg" / record["friend"])
        assert len(friend["bdt_score"]) == source.num_entries == record["entries"]
        np.testing.assert_array_equal(friend["event"], src["event"])  # same order
        expected_sel = (np.array([len(m) for m in src["Muon_pt"]]) >= 1) & (src["MET_pt"] > 5)
        np.testing.assert_array_equal(friend["passes_selection"], expected_sel)
        assert np.all(friend["bdt_score"][~expected_sel] == cfg.apply.fill)
        assert np.all(
            (friend["bdt_score"][expected_sel] > 0) & (friend["bdt_score"][expected_sel] < 1)
        )
        np.testing.assert_array_equal(
            friend["fold"], fold_of_event([src["event"]], cfg.training.folds, cfg.seed)
        )
    # the Parquet table holds the same columns, with (file, entry)
    table = pq.read_table(pipeline["out"] / "bkg.parquet").to_pydict()
    first = friend_arrays(pipeline["out"] / "bkg" / "bkg_0.root")
    rows = np.array(table["file"]) == 0
    np.testing.assert_array_equal(np.array(table["bdt_score"])[rows], first["bdt_score"])
    np.testing.assert_array_equal(np.array(table["entry"])[rows], np.arange(rows.sum()))


def test_friend_zips_with_source_like_root_addfriend(pipeline, tmp_path):
    """uproot's equivalent of TTree::AddFriend: zip the two trees entry by entry, no join."""
    cfg, models = pipeline["config"], load_models(pipeline)
    apply_sample(cfg, "sig", models, pipeline["out"])
    source = uproot.open(tmp_path / "sig_1.root")["events"].arrays()
    friend = uproot.open(pipeline["out"] / "sig" / "sig_1.root")["hepml"].arrays()
    events = ak.zip({**{f: source[f] for f in source.fields}, "hepml": friend}, depth_limit=1)
    assert len(events) == len(source) == len(friend)
    assert ak.all(events.hepml.event == events.event)
    # the score of a selected event is its fold model's prediction on features computed
    # here from the raw branches
    X, selected = independent_features({f: source[f] for f in source.fields})
    fold = fold_of_event([ak.to_numpy(source["event"])], cfg.training.folds, cfg.seed)
    for k in range(cfg.training.folds):
        rows = selected & (fold == k)
        booster = xgb.Booster(model_file=str(pipeline["models"][k]))
        expected = booster.predict(xgb.DMatrix(X[rows], feature_names=cfg.feature_names))
        np.testing.assert_allclose(
            ak.to_numpy(events.hepml.bdt_score)[rows], expected, rtol=1e-6, atol=1e-7
        )


@pytest.mark.parametrize(("data_model", "declared"), [("mean", "apply"), ("fold", "samples")])
def test_data_sample_scored_by_mean_or_fold_models(small_config, tmp_path, data_model, declared):
    events = write_ntuple(tmp_path / "data" / "run_0.root", 800, seed=99, signal=False, tree="t")[
        "event"
    ]
    data = {"files": str(tmp_path / "data" / "*.root"), "tree": "t"}
    small_config["apply"] = {"data_model": data_model, "fill": math.nan, "parquet": False}
    if declared == "apply":  # an extra sample of the apply section
        small_config["apply"]["samples"] = {"data": data}
    else:  # collision data among the samples (label data: never trained on)
        small_config["samples"]["data"] = {"label": "data", **data}
    p = build_pipeline(small_config, tmp_path)
    cfg = p["config"]
    summary = apply_sample(cfg, "data", load_models(p), p["out"])
    assert summary["mode"] == data_model and summary["kind"] == "data"
    assert not output_paths(cfg, "data", p["out"])["parquet"]
    assert not (p["out"] / "data.parquet").exists()
    friend = friend_arrays(p["out"] / "data" / "run_0.root")
    X, selected = independent_features(uproot.open(tmp_path / "data" / "run_0.root")["t"].arrays())
    boosters = [xgb.Booster(model_file=str(m)) for m in p["models"]]
    preds = np.stack(
        [b.predict(xgb.DMatrix(X, feature_names=cfg.feature_names)) for b in boosters]
    ).astype(np.float64)
    if data_model == "mean":
        expected = np.mean(preds, axis=0)
    else:
        expected = preds[fold_of_event([events], cfg.training.folds, cfg.seed), np.arange(len(X))]
    np.testing.assert_allclose(friend["bdt_score"][selected], expected[selected], rtol=1e-12)
    assert np.all(np.isnan(friend["bdt_score"][~selected]))
    np.testing.assert_array_equal(friend["passes_selection"], selected)


def test_extra_sample_with_aliases_scores_like_the_original(small_config, tmp_path):
    arrays = write_ntuple(tmp_path / "plain" / "x.root", 500, seed=8, signal=True)
    renamed = {("MET_raw" if k == "MET_pt" else k): v for k, v in arrays.items()}
    (tmp_path / "renamed").mkdir()
    with uproot.recreate(tmp_path / "renamed" / "x.root") as f:
        f.mktree("events", renamed)
    small_config["apply"] = {
        "samples": {
            "plain": {"files": str(tmp_path / "plain" / "x.root")},
            "renamed": {
                "files": str(tmp_path / "renamed" / "x.root"),
                "aliases": {"MET_pt": "MET_raw"},
            },
        }
    }
    p = build_pipeline(small_config, tmp_path)
    models = load_models(p)
    for name in ("plain", "renamed"):
        apply_sample(p["config"], name, models, p["out"])
    plain = friend_arrays(p["out"] / "plain" / "x.root")
    renamed = friend_arrays(p["out"] / "renamed" / "x.root")
    assert plain["passes_selection"].sum() > 100
    for branch in plain:
        np.testing.assert_array_equal(renamed[branch], plain[branch])


def test_root_written_files_without_event_number(shared_data, tmp_path):
    """Real ROOT-written ntuples (CMS tutorial): folds from (file, entry), scores still exact."""
    tutorial = shared_data / "cms-hep-tutorial"
    config = {
        "seed": 3,
        "event_number": "none",  # these files have no event number: (file, entry)
        "samples": {
            "ww": {"label": "signal", "files": str(tutorial / "ww.root"), "weight": "EventWeight"},
            "zz": {"label": "background", "files": str(tutorial / "zz.root")},
        },
        "selection": [{"name": "one_muon", "expr": "num(Muon_Px) >= 1"}],
        "features": [
            {"name": "met", "expr": "hypot(MET_px, MET_py)"},
            {"name": "n_jets", "expr": "num(Jet_Px)"},
            {"name": "mu1_pt", "expr": "pt(Muon)[0]"},
            {"name": "n_pv", "expr": "NPrimaryVertices"},
        ],
        "training": {"folds": 3, "early_stopping_rounds": 5, "xgboost": {"n_estimators": 30}},
        "apply": {"samples": {"qcd": {"files": str(tutorial / "qcd.root")}}},
    }
    p = build_pipeline(config, tmp_path)
    models = load_models(p)
    applied = apply_sample(p["config"], "ww", models, p["out"])
    assert applied["fold_source"] == "(file, entry)"
    friend = friend_arrays(p["out"] / "ww" / "ww.root")
    assert len(friend["bdt_score"]) == 4580 and "event" not in friend
    for path in p["scores"]:
        t = pq.read_table(path).to_pydict()
        rows = [
            (e, s)
            for name, e, s, r in zip(t["sample"], t["entry"], t["score"], t["set"], strict=True)
            if name == "ww" and r == "test"
        ]
        entries, scores = np.array(rows).T
        np.testing.assert_array_equal(friend["bdt_score"][entries.astype(int)], scores)
    qcd = apply_sample(p["config"], "qcd", models, p["out"])
    assert qcd["entries"] == 142 and qcd["kind"] == "data"


def test_missing_feature_branch_names_feature_branch_and_file(small_config, tmp_path):
    data = tmp_path / "data" / "nomet.root"
    arrays = write_ntuple(data, 200, seed=5, signal=False)
    with uproot.recreate(data) as f:  # the same ntuple without its MET_pt branch
        f.mktree("events", {k: v for k, v in arrays.items() if k != "MET_pt"})
    small_config["apply"] = {"samples": {"data": {"files": str(data)}}}
    p = build_pipeline(small_config, tmp_path)
    with pytest.raises(UnknownBranch, match=r"feature 'met'.*'MET_pt'.*nomet\.root"):
        apply_sample(p["config"], "data", load_models(p), p["out"])
    assert not p["out"].exists() or not any(p["out"].iterdir())  # nothing half-written


def test_models_of_another_config_are_refused(pipeline, small_config):
    # another feature order: the message points at the first position that differs
    swapped = dict(small_config, features=[small_config["features"][i] for i in (1, 0, 2, 3, 4)])
    with pytest.raises(FoldMismatch, match=r"feature order differs: position 0 is 'met'"):
        load_models(pipeline, config_from_dict(swapped))
    # a renamed feature: named, with the near match
    renamed = [dict(f) for f in small_config["features"]]
    renamed[3]["name"] = "mu1_pT"
    with pytest.raises(FoldMismatch, match=r"feature 'mu1_pT' is not among.*'mu1_pt'"):
        load_models(pipeline, config_from_dict(dict(small_config, features=renamed)))
    # same features, another training setting: the config hash differs
    deeper = json.loads(json.dumps(small_config))
    deeper["training"]["xgboost"]["max_depth"] = 4
    cfg = config_from_dict(deeper)
    with pytest.raises(FoldMismatch, match=r"fold0/model.json' was trained under config hash"):
        load_models(pipeline, cfg)
    # a fold model missing
    with pytest.raises(FoldMismatch, match=r"folds 0\.\.2.*got folds \[0, 1\]"):
        check_models(pipeline["config"], read_training_models(pipeline["models"][:2]))


def test_failure_mid_sample_leaves_no_output(small_config, tmp_path):
    arrays = write_ntuple(tmp_path / "data" / "a.root", 300, seed=3, signal=False)
    arrays["MET_pt"] = np.where(np.arange(300) == 7, np.inf, arrays["MET_pt"]).astype(np.float32)
    with uproot.recreate(tmp_path / "data" / "b.root") as f:  # second file: one infinite MET
        f.mktree("events", arrays)
    small_config["apply"] = {"samples": {"data": {"files": str(tmp_path / "data" / "*.root")}}}
    p = build_pipeline(small_config, tmp_path)
    with pytest.raises(DataError, match=r"feature 'met' is infinite.*b\.root"):
        apply_sample(p["config"], "data", load_models(p), p["out"])
    assert not p["out"].exists() or sorted(p["out"].iterdir()) == []


def test_apply_config_errors(small_config):
    clash = dict(small_config, apply={"samples": {"sig": {"files": "x.root"}}})
    with pytest.raises(ConfigError, match=r"apply\.samples\.sig: the name is already used"):
        config_from_dict(clash)
    typo = dict(small_config, apply={"data_model": "average"})
    with pytest.raises(ConfigError, match=r"apply.data_model is 'average', must be one of"):
        config_from_dict(typo)
    with pytest.raises(ConfigError, match=r"unknown key 'apply.fil'. Did you mean 'fill'"):
        config_from_dict(dict(small_config, apply={"fil": 0}))


def test_cli_apply_writes_outputs_and_reports_errors(pipeline, small_config, tmp_path, capsys):
    config_file = tmp_path / "cfg.json"  # JSON is YAML
    config_file.write_text(json.dumps(small_config))
    models = [str(m) for m in pipeline["models"]]
    out = tmp_path / "cli"
    assert main(["apply", "-c", str(config_file), "--sample", "sig", "--models", *models,
                 "--output-dir", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "sig.json").read_text())
    assert summary["selected"] == pq.read_metadata(pipeline["tables"]["sig"]).num_rows
    assert (out / "sig.parquet").is_file() and len(list((out / "sig").glob("*.root"))) == 2
    assert main(["apply", "-c", str(config_file), "--sample", "sgi", "--models", *models,
                 "--output-dir", str(out)]) == 2  # fmt: skip
    assert "no sample 'sgi'" in capsys.readouterr().err


@pytest.mark.e2e
def test_workflow_applies_and_exports(tmp_path):
    """The real snakemake: apply rule for training and extra samples, export rule."""
    if shutil.which("hepml", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the hepml command is not installed (pip install -e .)")
    config_path = write_tiny_config(tmp_path, events=6000)
    cfg = yaml.safe_load(config_path.read_text())
    cfg["apply"] = {
        "samples": {"data": {"files": "resources/demo/dy_*.root"}},
        "data_model": "mean",
    }
    config_path.write_text(yaml.safe_dump(cfg))
    targets = ["results/apply/data.json", "results/apply/vbf_h.json", "results/export"]
    run = run_snakemake(tmp_path, "--cores", "2", *targets)
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads((tmp_path / "results/apply/data.json").read_text())
    assert summary["mode"] == "mean" and len(summary["files"]) == 2
    for record in summary["files"]:
        source = uproot.open(tmp_path / record["source"].rsplit(":", 1)[0])["events"]
        friend = friend_arrays(tmp_path / "results/apply/data" / record["friend"])
        assert len(friend["bdt_score"]) == source.num_entries == record["entries"]
        np.testing.assert_array_equal(friend["event"], source["event"].array(library="np"))
    manifest = json.loads((tmp_path / "results/export/manifest.json").read_text())
    assert [m["xgboost_json"] for m in manifest["models"]] == [f"fold{k}.json" for k in range(3)]
    assert all(c["xgboost_json_identical"] for c in manifest["closure"])
    assert not list((tmp_path / "results").rglob(".*.tmp"))
    dry = run_snakemake(tmp_path, "-n", "--cores", "2", *targets)
    assert "Nothing to be done" in dry.stdout + dry.stderr
