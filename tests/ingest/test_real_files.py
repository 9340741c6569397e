"""Ingest every real ROOT file in ../shared/data; check the values against plain computations.

Expected values are computed here with uproot, awkward and numpy only (four-vector sums by the
textbook formulas, folds by a pure-Python SplitMix64), never through hepml's own functions.
"""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepml.cli.app import main as hepml_main
from hepml.config import config_from_dict
from hepml.ingest.sample import ingest_sample

TESTDATA = "scikit-hep-testdata"
TUTORIAL = "cms-hep-tutorial"
TUTORIAL_FILES = ["qcd.root", "single_top.root", "ww.root", "wz.root", "zz.root"]
COMPRESSIONS = ["zlib", "lz4", "lzma", "zstd", "uncompressed"]
MASK64 = 2**64 - 1


def splitmix64(x: int) -> int:
    """SplitMix64 finaliser on Python integers (Vigna's reference, splitmix64.c)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def expected_fold(ids: list[int], k: int, seed: int) -> int:
    """The documented fold: hash the seed, then mix in each id (two's complement) in turn."""
    h = splitmix64(seed)
    for value in ids:
        h = splitmix64(h ^ (int(value) & MASK64))
    return h % k


def config(files, tree: str, features: dict, **sample) -> dict:
    """A config with the sample ``real``; ``event_number`` and ``selection`` may be given."""
    event_number = sample.pop("event_number", "none")
    selection = sample.pop("selection", [])
    return {
        "luminosity": 10.0,
        "seed": 3,
        "event_number": event_number,
        "samples": {
            "real": {"label": "signal", "files": files, "tree": tree, **sample},
            "other": {"label": "background", "files": "unused.root"},
        },
        "selection": selection,
        "features": [{"name": k, "expr": v} for k, v in features.items()],
        "training": {"folds": 5},
    }


def lead_mass_cartesian(px, py, pz, e, n: int = 2) -> np.ndarray:
    """Mass of the n highest-pT objects per event (NaN with fewer), by hand, in float64."""
    out = np.full(len(px), np.nan)
    for i in range(len(px)):
        order = np.argsort(-np.hypot(px[i], py[i]), kind="stable")[:n]
        if len(order) < n:
            continue
        s = [float(np.sum(np.asarray(c[i], dtype=np.float64)[order])) for c in (px, py, pz, e)]
        out[i] = np.sqrt(max(s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2, 0.0))
    return out


def polar_to_cartesian(pt, eta, phi, mass):
    pt, eta, phi, mass = (np.asarray(x, dtype=np.float64) for x in (pt, eta, phi, mass))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)


def read_table(path) -> dict:
    return {k: np.asarray(v) for k, v in pq.read_table(path).to_pydict().items()}


@pytest.fixture(scope="module")
def hzz_reference(request):
    """Features of the HZZ sample by hand (the same events in every compression)."""
    from conftest import SHARED_DATA

    path = SHARED_DATA / TESTDATA / "uproot-HZZ-zlib.root"
    if not path.exists():
        pytest.skip(f"real ROOT files not available: {path} does not exist")
    ev = uproot.open(path)["events"].arrays()
    lists = [ak.to_list(ev[f"Jet_{c}"]) for c in ("Px", "Py", "Pz", "E")]
    jet_pt = [np.hypot(px, py) for px, py in zip(lists[0], lists[1], strict=True)]
    return {
        "mu1_px": ak.to_numpy(ak.fill_none(ak.firsts(ev.Muon_Px), -999.0)),
        "njet": ak.to_numpy(ev.NJet),
        "mjj": lead_mass_cartesian(*lists),
        "jet1_pt": np.array([np.max(p) if len(p) else np.nan for p in jet_pt]),
        "met": np.hypot(ak.to_numpy(ev.MET_px), ak.to_numpy(ev.MET_py)),
        "weight": ak.to_numpy(ev.EventWeight).astype(np.float64),
    }


HZZ_FEATURES = {
    "mu1_px": "Muon_Px[0]",
    "njet": "NJet",
    "mjj": "m_lead(Jet, 2)",
    "jet1_pt": "max(pt(Jet))",
    "met": "hypot(MET_px, MET_py)",
}


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_hzz_every_compression(shared_data, tmp_path, hzz_reference, compression):
    path = shared_data / TESTDATA / f"uproot-HZZ-{compression}.root"
    data = config(f"{path}:events", "other", HZZ_FEATURES, weight="EventWeight")
    data["features"][0]["fill"] = -999.0
    result = ingest_sample(config_from_dict(data), "real", tmp_path / "hzz.parquet")
    t = read_table(tmp_path / "hzz.parquet")
    ref = hzz_reference
    assert result.cutflow.events == [2421]
    np.testing.assert_allclose(t["mu1_px"], ref["mu1_px"], rtol=1e-6)
    np.testing.assert_array_equal(t["njet"], ref["njet"])
    np.testing.assert_allclose(t["mjj"], ref["mjj"], rtol=2e-5, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(t["jet1_pt"], ref["jet1_pt"], rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(t["met"], ref["met"], rtol=1e-5)
    np.testing.assert_allclose(t["_weight"], ref["weight"], rtol=1e-7)  # no xsec: as stored
    assert result.nan_counts["mjj"] == int(np.isnan(ref["mjj"]).sum()) > 0


def test_zmumu_run_event_numbers_and_folds(shared_data, tmp_path):
    path = shared_data / TESTDATA / "uproot-Zmumu.root"
    features = {"mass": "M", "pt1": "hypot(px1, py1)", "deta": "abs(eta1 - eta2)"}
    data = config(
        str(path),
        "events",
        features,
        event_number=["Run", "Event"],
        selection=[{"name": "opposite", "expr": "Q1 * Q2 < 0"}],
    )
    result = ingest_sample(config_from_dict(data), "real", tmp_path / "z.parquet")
    t = read_table(tmp_path / "z.parquet")
    ev = uproot.open(path)["events"].arrays(library="np")
    keep = ev["Q1"] * ev["Q2"] < 0
    assert result.cutflow.events == [len(keep), int(keep.sum())]
    assert result.fold_source == "Run+Event"
    np.testing.assert_allclose(t["mass"], ev["M"][keep], rtol=1e-6)
    np.testing.assert_allclose(t["pt1"], np.hypot(ev["px1"], ev["py1"])[keep], rtol=1e-6)
    np.testing.assert_allclose(t["deta"], np.abs(ev["eta1"] - ev["eta2"])[keep], rtol=1e-5)
    np.testing.assert_array_equal(t["_event"], ev["Event"][keep].astype(np.uint64))
    folds = [
        expected_fold([r, e], 5, 3) for r, e in zip(ev["Run"][keep], ev["Event"][keep], strict=True)
    ]
    np.testing.assert_array_equal(t["_fold"], folds)


def test_nanoaod_events(shared_data, tmp_path):
    path = shared_data / TESTDATA / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    features = {
        "n_jets": "nJet",
        "jet1_pt": "Jet_pt[0]",
        "jet3_eta": "Jet_eta[2]",
        "mjj": "m_lead(Jet, 2)",
        "ht": "sum(Jet_pt[Jet_pt > 30])",
        "n_muons": "num(Muon_pt)",
        "n_btag": "num(Jet_btagDeepB > 0.5)",
    }
    data = config(
        str(path),
        "Events",
        features,
        event_number=["run", "event"],
        weight="genWeight",
        cross_section=831.76,
        selection=[{"name": "two_jets", "expr": "nJet >= 2"}],
    )
    result = ingest_sample(config_from_dict(data), "real", tmp_path / "nano.parquet")
    t = read_table(tmp_path / "nano.parquet")
    ev = uproot.open(path)["Events"].arrays(
        [
            "run",
            "event",
            "nJet",
            "Jet_pt",
            "Jet_eta",
            "Jet_phi",
            "Jet_mass",
            "Jet_btagDeepB",
            "Muon_pt",
            "genWeight",
        ]
    )
    keep = ak.to_numpy(ev.nJet >= 2)
    sel = ev[keep]
    sumw = float(np.sum(ak.to_numpy(ev.genWeight), dtype=np.float64))  # all 200 entries
    norm = 831.76 * 10.0 * 1000.0 / sumw
    assert result.sum_of_weights == pytest.approx(sumw, rel=1e-12)
    np.testing.assert_allclose(t["_weight"], norm * ak.to_numpy(sel.genWeight), rtol=1e-12)
    np.testing.assert_array_equal(t["n_jets"], ak.to_numpy(sel.nJet))
    pts = ak.to_list(sel.Jet_pt)
    np.testing.assert_allclose(t["jet1_pt"], [p[0] for p in pts], rtol=1e-6)
    eta3 = [e[2] if len(e) > 2 else np.nan for e in ak.to_list(sel.Jet_eta)]
    np.testing.assert_allclose(t["jet3_eta"], eta3, rtol=1e-6, equal_nan=True)
    cart = [
        [list(x) for x in polar_to_cartesian(pt, eta, phi, m)]
        for pt, eta, phi, m in zip(
            pts,
            ak.to_list(sel.Jet_eta),
            ak.to_list(sel.Jet_phi),
            ak.to_list(sel.Jet_mass),
            strict=True,
        )
    ]
    mjj = lead_mass_cartesian(*(list(c) for c in zip(*cart, strict=True)))
    np.testing.assert_allclose(t["mjj"], mjj, rtol=1e-5)
    np.testing.assert_allclose(t["ht"], [sum(p for p in e if p > 30) for e in pts], rtol=1e-5)
    np.testing.assert_array_equal(t["n_muons"], ak.to_numpy(ak.num(sel.Muon_pt)))
    btag = [sum(b > 0.5 for b in e) for e in ak.to_list(sel.Jet_btagDeepB)]
    np.testing.assert_array_equal(t["n_btag"], btag)
    folds = [expected_fold([r, e], 5, 3) for r, e in zip(sel.run, sel.event, strict=True)]
    np.testing.assert_array_equal(t["_fold"], folds)


def test_cms_tutorial_samples_without_event_number(shared_data, tmp_path):
    """All five tutorial files as one sample: folds from (file, entry), Cartesian jets."""
    directory = shared_data / TUTORIAL
    features = {"jet1_pt": "pt(Jet)[0]", "mjj": "m_lead(Jet, 2)", "n_mu": "num(Muon_Px)"}
    data = config(
        str(directory / "*.root"),
        "events",
        features,
        weight="EventWeight",
        selection=[{"name": "one_jet", "expr": "NJet >= 1"}],
        event_number="none",
    )
    result = ingest_sample(config_from_dict(data), "real", tmp_path / "cms.parquet")
    t = read_table(tmp_path / "cms.parquet")
    assert result.fold_source == "(file, entry)"
    assert [f.rsplit("/", 1)[-1] for f in result.files] == [f"{n}:events" for n in TUTORIAL_FILES]
    expected: dict[str, list] = {k: [] for k in ("jet1_pt", "mjj", "n_mu", "w", "fold", "file")}
    for index, name in enumerate(TUTORIAL_FILES):
        ev = uproot.open(directory / name)["events"].arrays(
            ["NJet", "Jet_Px", "Jet_Py", "Jet_Pz", "Jet_E", "Muon_Px", "EventWeight"]
        )
        entries = np.flatnonzero(ak.to_numpy(ev.NJet >= 1))
        sel = ev[entries]
        px, py = ak.to_list(sel.Jet_Px), ak.to_list(sel.Jet_Py)
        expected["jet1_pt"] += [float(np.hypot(x[0], y[0])) for x, y in zip(px, py, strict=True)]
        lists = [px, py, ak.to_list(sel.Jet_Pz), ak.to_list(sel.Jet_E)]
        expected["mjj"] += list(lead_mass_cartesian(*lists))
        expected["n_mu"] += list(ak.to_numpy(ak.num(sel.Muon_Px)))
        expected["w"] += list(ak.to_numpy(sel.EventWeight))
        expected["fold"] += [expected_fold([index, e], 5, 3) for e in entries]
        expected["file"] += [index] * len(entries)
    np.testing.assert_allclose(t["jet1_pt"], expected["jet1_pt"], rtol=1e-5)
    np.testing.assert_allclose(t["mjj"], expected["mjj"], rtol=2e-5, atol=1e-3, equal_nan=True)
    np.testing.assert_array_equal(t["n_mu"], expected["n_mu"])
    np.testing.assert_allclose(t["_weight"], expected["w"], rtol=1e-7)
    np.testing.assert_array_equal(t["_fold"], expected["fold"])
    np.testing.assert_array_equal(t["_file"], expected["file"])
    assert result.cutflow.events[-1] == len(expected["w"])


def test_cli_on_a_real_file_writes_summary(shared_data, tmp_path):
    path = shared_data / TUTORIAL / "zz.root"
    data = config(str(path), "events", {"met": "hypot(MET_px, MET_py)"}, cross_section=0.5)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(json.dumps(data))  # JSON is YAML
    status = hepml_main(
        [
            "ingest",
            "-c",
            str(cfg_file),
            "--sample",
            "real",
            "--output",
            str(tmp_path / "o.parquet"),
            "--cutflow",
            str(tmp_path / "cf.csv"),
            "--summary",
            str(tmp_path / "s.json"),
        ]
    )
    assert status == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["entries"] == uproot.open(path)["events"].num_entries == 2421
    assert summary["sum_of_generator_weights"] == 2421  # weight "1" summed over every entry
    assert summary["normalisation"] == pytest.approx(0.5 * 10.0 * 1000.0 / 2421)
    assert summary["skipped_files"] == []
    assert (tmp_path / "cf.md").exists()
