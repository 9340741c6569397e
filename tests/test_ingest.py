"""Ingest: features, selection, weights, folds and cutflow checked against plain uproot/awkward."""

from __future__ import annotations

import copy
import csv
import glob
import os

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepml.config import config_from_dict
from hepml.exceptions import DataError, ExpressionError, InputFileError, UnknownBranch
from hepml.folds import fold_of_event
from hepml.ingest import ingest_sample, summary_of, write_cutflow


def _read_all(pattern: str) -> ak.Array:
    files = sorted(glob.glob(pattern))
    return ak.concatenate([uproot.open(f)["events"].arrays() for f in files])


def test_features_weights_folds_match_plain_awkward(small_config, tmp_path):
    cfg = config_from_dict(small_config)
    out = tmp_path / "out" / "bkg.parquet"
    result = ingest_sample(cfg, "bkg", out)
    table = pq.read_table(out).to_pydict()

    ev = _read_all(small_config["samples"]["bkg"]["files"][0])
    keep = (ak.num(ev.Muon_pt) >= 1) & (ev.MET_pt > 5)
    sel = ev[keep]
    np.testing.assert_allclose(table["met"], ak.to_numpy(sel.MET_pt), rtol=1e-6)
    np.testing.assert_array_equal(table["n_jets"], ak.to_numpy(ak.num(sel.Jet_pt)))
    first_eta = ak.to_numpy(ak.fill_none(ak.firsts(sel.Jet_eta), np.nan))
    np.testing.assert_allclose(table["jet1_eta"], first_eta, rtol=1e-6, equal_nan=True)
    ht = ak.to_numpy(ak.sum(sel.Jet_pt[sel.Jet_pt > 30], axis=1))
    np.testing.assert_allclose(table["ht"], ht, rtol=1e-5)

    # weight = xsec [pb] * lumi [fb^-1] * 1000 / sum(genWeight over ALL entries) * genWeight
    norm = 50.0 * 10.0 * 1000.0 / float(np.sum(ak.to_numpy(ev.genWeight), dtype=np.float64))
    np.testing.assert_allclose(
        table["_weight"], norm * ak.to_numpy(sel.genWeight).astype(np.float64), rtol=1e-12
    )
    assert result.sum_of_weights == pytest.approx(
        float(np.sum(ak.to_numpy(ev.genWeight), dtype=np.float64))
    )

    np.testing.assert_array_equal(table["_event"], ak.to_numpy(sel.event))
    np.testing.assert_array_equal(
        table["_fold"], fold_of_event([ak.to_numpy(sel.event)], 3, seed=7)
    )
    assert set(table["_label"]) == {0}

    # cutflow: raw and weighted counts after each cut
    assert result.cutflow.steps == ["all", "one_muon", "met"]
    assert result.cutflow.events == [len(ev), int(ak.sum(ak.num(ev.Muon_pt) >= 1)), len(sel)]
    assert result.cutflow.weighted[0] == pytest.approx(
        50.0 * 10.0 * 1000.0
    )  # all events: xsec x lumi
    w_all = norm * ak.to_numpy(ev.genWeight).astype(np.float64)
    assert result.cutflow.weighted[2] == pytest.approx(w_all[ak.to_numpy(keep)].sum())

    neg = ak.to_numpy(sel.genWeight) < 0
    assert result.negative_weight_fraction == pytest.approx(neg.mean())
    summary = summary_of(result)
    assert summary["selected"] == len(sel)
    assert summary["fold_source"] == "event"


def test_signal_label_and_entry_bookkeeping(small_config, tmp_path):
    cfg = config_from_dict(small_config)
    out = tmp_path / "sig.parquet"
    ingest_sample(cfg, "sig", out)
    t = pq.read_table(out).to_pydict()
    assert set(t["_label"]) == {1}
    # (_file, _entry) point back at the source event
    files = sorted(glob.glob(small_config["samples"]["sig"]["files"]))
    for i in (0, len(t["_entry"]) // 2, -1):
        arrays = uproot.open(files[t["_file"][i]])["events"].arrays(
            ["event"], entry_start=t["_entry"][i], entry_stop=t["_entry"][i] + 1
        )
        assert int(arrays.event[0]) == t["_event"][i]


def test_small_chunks_give_identical_output(small_config, tmp_path):
    big = config_from_dict(small_config)
    small = copy.deepcopy(small_config)
    small["reading"] = {"step_size": 100}
    ingest_sample(big, "bkg", tmp_path / "a.parquet")
    ingest_sample(config_from_dict(small), "bkg", tmp_path / "b.parquet")
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.schema == b.schema
    for name in a.column_names:  # bit-identical, NaN included
        np.testing.assert_array_equal(a.column(name).to_numpy(), b.column(name).to_numpy())


def test_cutflow_files(small_config, tmp_path):
    result = ingest_sample(config_from_dict(small_config), "sig", tmp_path / "sig.parquet")
    write_cutflow(result, tmp_path / "cf.csv", tmp_path / "cf.md")
    with open(tmp_path / "cf.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["all", "one_muon", "met"]
    assert int(rows[-1]["events"]) == result.cutflow.events[-1]
    assert "| step |" in (tmp_path / "cf.md").read_text()


def test_event_number_absent_falls_back_to_entry(small_config, tmp_path, caplog):
    small_config["event_number"] = "evt_number_not_here"
    result = ingest_sample(config_from_dict(small_config), "sig", tmp_path / "s.parquet")
    assert result.fold_source == "(file, entry)"
    assert "absent" in caplog.text


def _expect(small_config, tmp_path, exc, match, mutate):
    data = copy.deepcopy(small_config)
    mutate(data)
    out = tmp_path / "never.parquet"
    with pytest.raises(exc, match=match):
        ingest_sample(config_from_dict(data), "sig", out)
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".never")]  # no temp left


def test_error_empty_glob(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        InputFileError,
        r"no file matches .*Did you mean",
        lambda d: d["samples"]["sig"].update(files=str(tmp_path / "sgi_*.root")),
    )


def test_error_missing_tree(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        InputFileError,
        r"no tree 'event'.*Did you mean 'events'",
        lambda d: d["samples"]["sig"].update(tree="event"),
    )


def test_error_not_root(small_config, tmp_path):
    (tmp_path / "fake.root").write_text("this is not a ROOT file")
    _expect(
        small_config,
        tmp_path,
        InputFileError,
        r"fake.root.*cannot be read as a ROOT file",
        lambda d: d["samples"]["sig"].update(files=str(tmp_path / "fake.root")),
    )


def test_error_truncated_root(small_config, tmp_path):
    src = tmp_path / "sig_0.root"
    data = src.read_bytes()
    (tmp_path / "trunc.root").write_bytes(data[: len(data) // 2])
    _expect(
        small_config,
        tmp_path,
        InputFileError,
        r"trunc.root",
        lambda d: d["samples"]["sig"].update(files=str(tmp_path / "trunc.root")),
    )


def test_error_missing_branch_suggests(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        UnknownBranch,
        r"feature 'met'.*'MET_pz'.*Did you mean 'MET_pt'",
        lambda d: d["features"][0].update(expr="MET_pz"),
    )


def test_error_syntax(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        ExpressionError,
        r"feature 'met'",
        lambda d: d["features"][0].update(expr="MET_pt +"),
    )


def test_error_jagged_feature(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        ExpressionError,
        r"feature 'met'.*jagged",
        lambda d: d["features"][0].update(expr="Jet_pt"),
    )


def test_error_selection_keeps_nothing(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        DataError,
        r"keeps no events",
        lambda d: d["selection"].append({"name": "impossible", "expr": "MET_pt < 0"}),
    )


def test_error_zero_sum_of_weights(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        DataError,
        r"sum of generator weights",
        lambda d: d["samples"]["sig"].update(weight="genWeight * 0"),
    )


def test_error_infinite_feature(small_config, tmp_path):
    _expect(
        small_config,
        tmp_path,
        DataError,
        r"feature 'met' is infinite.*isfinite",
        lambda d: d["features"][0].update(expr="MET_pt / 0"),
    )


def test_sample_without_cross_section_keeps_raw_weights(small_config, tmp_path):
    del small_config["samples"]["sig"]["cross_section"]
    ingest_sample(config_from_dict(small_config), "sig", tmp_path / "s.parquet")
    w = pq.read_table(tmp_path / "s.parquet").column("_weight").to_numpy()
    assert set(np.unique(w)) <= {-1.0, 1.0}


def test_real_cms_tutorial_file_without_event_number(shared_data, tmp_path):
    path = shared_data / "cms-hep-tutorial" / "ww.root"
    cfg = config_from_dict(
        {
            "samples": {
                "ww": {"label": "signal", "files": str(path), "weight": "EventWeight"},
                "qcd": {
                    "label": "background",
                    "files": str(shared_data / "cms-hep-tutorial" / "qcd.root"),
                },
            },
            "selection": [{"name": "one_jet", "expr": "NJet >= 1"}],
            "features": [
                {"name": "jet1_px", "expr": "Jet_Px[0]"},
                {"name": "n_muons", "expr": "num(Muon_Px)"},
                {"name": "met", "expr": "hypot(MET_px, MET_py)"},
            ],
            "training": {},
        }
    )
    result = ingest_sample(cfg, "ww", tmp_path / "ww.parquet")
    t = pq.read_table(tmp_path / "ww.parquet").to_pydict()
    ev = uproot.open(path)["events"].arrays(
        ["NJet", "Jet_Px", "Muon_Px", "MET_px", "MET_py", "EventWeight"]
    )
    sel = ev[ev.NJet >= 1]
    assert result.cutflow.events == [len(ev), len(sel)]
    assert result.fold_source == "(file, entry)"
    np.testing.assert_allclose(t["jet1_px"], ak.to_numpy(sel.Jet_Px[:, 0]), rtol=1e-6)
    np.testing.assert_array_equal(t["n_muons"], ak.to_numpy(ak.num(sel.Muon_Px)))
    np.testing.assert_allclose(
        t["met"], np.hypot(ak.to_numpy(sel.MET_px), ak.to_numpy(sel.MET_py)), rtol=1e-5
    )
    np.testing.assert_allclose(t["_weight"], ak.to_numpy(sel.EventWeight), rtol=1e-6)


@pytest.mark.parametrize("compression", ["zlib", "lz4", "lzma", "zstd", "uncompressed"])
def test_real_files_every_compression(shared_data, tmp_path, compression):
    path = shared_data / "scikit-hep-testdata" / f"uproot-HZZ-{compression}.root"
    cfg = config_from_dict(
        {
            "samples": {
                "hzz": {"label": "signal", "files": f"{path}:events", "weight": "EventWeight"},
                "other": {"label": "background", "files": str(path)},
            },
            "features": [
                {"name": "mu1_px", "expr": "Muon_Px[0]", "fill": -999.0},
                {"name": "njet", "expr": "NJet"},
            ],
            "training": {},
        }
    )
    ingest_sample(cfg, "hzz", tmp_path / "hzz.parquet")
    t = pq.read_table(tmp_path / "hzz.parquet").to_pydict()
    ev = uproot.open(path)["events"].arrays(["Muon_Px", "NJet"])
    expected = ak.to_numpy(ak.fill_none(ak.firsts(ev.Muon_Px), -999.0))
    np.testing.assert_allclose(t["mu1_px"], expected, rtol=1e-6)
    np.testing.assert_array_equal(t["njet"], ak.to_numpy(ev.NJet))
