"""Tests for hepml.demo.files: the files, their layout, determinism, weights and the physics."""

from __future__ import annotations

import logging

import awkward as ak
import numpy as np
import pytest
import uproot
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from hepml.demo.files import DEMO_PROCESSES, DEMO_TREE, DemoProcess, demo_files, make_demo
from hepml.exceptions import ConfigError

N_EVENTS, FILES = 3000, 2
LUMI_PB = 140_000.0  # 140 fb^-1

EXPECTED_DTYPES = {
    "run": np.uint32,
    "luminosityBlock": np.uint32,
    "event": np.uint64,
    "genWeight": np.float32,
    "nJet": np.int32,
    "Jet_pt": np.float32,
    "Jet_eta": np.float32,
    "Jet_phi": np.float32,
    "Jet_mass": np.float32,
    "Jet_btag": np.float32,
    "nMuon": np.int32,
    "Muon_pt": np.float32,
    "Muon_eta": np.float32,
    "Muon_phi": np.float32,
    "Muon_mass": np.float32,
    "Muon_charge": np.int32,
    "MET_pt": np.float32,
    "MET_phi": np.float32,
    "PV_npvs": np.int32,
    # systematic variations (the nominal branches above are untouched by them)
    "Jet_pt_jesUp": np.float32,
    "Jet_pt_jesDown": np.float32,
    "Jet_mass_jesUp": np.float32,
    "Jet_mass_jesDown": np.float32,
    "puWeightUp": np.float32,
    "puWeightDown": np.float32,
}


def _read(paths):
    return uproot.concatenate([f"{p}:{DEMO_TREE}" for p in paths], library="ak")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    return directory, make_demo(directory, n_events=N_EVENTS, files_per_process=FILES, seed=7)


@pytest.fixture(scope="module")
def events(demo):
    _, files = demo
    return {name: _read(paths) for name, paths in files.items()}


@pytest.fixture(scope="module")
def large_sample(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo_large")
    files = make_demo(directory, n_events=20_000, files_per_process=1, seed=11)
    return {name: _read(paths) for name, paths in files.items()}


# --- numpy reference kinematics, independent of the generator's vector code ---------------------


def _p4(pt, eta, phi, mass):
    pt, eta, phi, mass = (np.asarray(x, dtype=np.float64) for x in (pt, eta, phi, mass))
    pz = pt * np.sinh(eta)
    return pt * np.cos(phi), pt * np.sin(phi), pz, np.sqrt(pt**2 + pz**2 + mass**2)


def _pair(arrays, prefix, i, j):
    """Invariant mass and pt (GeV) of objects i and j of collection ``prefix``."""
    a = _p4(*(ak.to_numpy(arrays[f"{prefix}_{v}"][:, i]) for v in ("pt", "eta", "phi", "mass")))
    b = _p4(*(ak.to_numpy(arrays[f"{prefix}_{v}"][:, j]) for v in ("pt", "eta", "phi", "mass")))
    px, py, pz, e = (x + y for x, y in zip(a, b, strict=True))
    return np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0, None)), np.hypot(px, py)


def _selected(arrays):
    """>= 2 muons of opposite charge (leading two) and >= 2 jets."""
    arrays = arrays[(arrays.nMuon >= 2) & (arrays.nJet >= 2)]
    return arrays[arrays.Muon_charge[:, 0] * arrays.Muon_charge[:, 1] < 0]


def _features(arrays):
    m_jj, _ = _pair(arrays, "Jet", 0, 1)
    m_mumu, pt_mumu = _pair(arrays, "Muon", 0, 1)
    return np.column_stack(
        [
            m_jj,
            ak.to_numpy(abs(arrays.Jet_eta[:, 0] - arrays.Jet_eta[:, 1])),
            m_mumu,
            pt_mumu,
            ak.to_numpy(arrays.MET_pt),
            ak.to_numpy(arrays.Muon_pt[:, 0]),
            ak.to_numpy(ak.sum(arrays.Jet_btag > 0.8, axis=1)),
            ak.to_numpy(arrays.nJet),
        ]
    )


# --- API and files ------------------------------------------------------------------------------


def test_processes_declared():
    names = [p.name for p in DEMO_PROCESSES]
    assert {"vbf_h", "dy", "ttbar"} <= set(names)
    assert len(names) == len(set(names))
    assert [p.name for p in DEMO_PROCESSES if p.label == "signal"] == ["vbf_h"]
    total = sum(p.n_events for p in DEMO_PROCESSES)
    shares = {p.name: p.n_events / total for p in DEMO_PROCESSES}
    assert shares["vbf_h"] == pytest.approx(0.3, abs=0.05)
    assert shares["dy"] == pytest.approx(0.4, abs=0.05)
    assert all(p.cross_section_pb > 0 and p.description for p in DEMO_PROCESSES)


def test_demo_files_is_pure(tmp_path):
    directory = tmp_path / "not_there"
    files = demo_files(directory, 3)
    assert list(files) == [p.name for p in DEMO_PROCESSES]
    assert files["dy"] == [directory / f"dy_{i}.root" for i in range(3)]
    assert not directory.exists()


def test_make_demo_writes_exactly_demo_files(demo):
    directory, files = demo
    assert files == demo_files(directory, FILES)
    written = sorted(p.name for p in directory.iterdir())  # also: no temporary files left
    # the ledger of what hepml wrote (hepml.outputs), one record per file
    assert written == [".hepml", *sorted(p.name for paths in files.values() for p in paths)]
    records = sorted(p.name for p in (directory / ".hepml").iterdir())
    assert records == [f"{name}.sha256" for name in written[1:]]


def test_one_log_line_per_file(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hepml.demo.files"):
        files = make_demo(tmp_path, n_events=300, files_per_process=1)
    lines = [r.getMessage() for r in caplog.records if r.name == "hepml.demo.files"]
    assert len(lines) == len(files)
    assert all("wrote" in line for line in lines)


def test_tree_branches_and_dtypes(demo):
    _, files = demo
    for path in files["vbf_h"] + files["ttbar"]:
        with uproot.open(path) as f:
            tree = f[DEMO_TREE]
            assert tree.classname == "TTree"
            assert set(tree.keys()) == set(EXPECTED_DTYPES)
            arrays = tree.arrays(library="ak")
        for branch, dtype in EXPECTED_DTYPES.items():
            assert ak.to_numpy(ak.flatten(arrays[branch], axis=None)).dtype == dtype, branch


# --- object content -----------------------------------------------------------------------------


def test_counters_match_collections(events):
    for arrays in events.values():
        for v in ("pt", "eta", "phi", "mass", "btag"):
            assert ak.all(arrays.nJet == ak.num(arrays[f"Jet_{v}"]))
        for v in ("pt", "eta", "phi", "mass", "charge"):
            assert ak.all(arrays.nMuon == ak.num(arrays[f"Muon_{v}"]))


def test_jes_variations_shift_the_nominal_jets_by_their_uncertainty(events):
    """Jet_pt_jesUp/Down and Jet_mass_jesUp/Down: the nominal jets (same count), scaled by
    1 +- sqrt(0.015^2 + (1.5 GeV / pt)^2), times 1.5 beyond |eta| = 2.5 (recomputed here)."""
    for arrays in events.values():
        pt = ak.to_numpy(ak.flatten(arrays.Jet_pt)).astype(np.float64)
        eta = ak.to_numpy(ak.flatten(arrays.Jet_eta)).astype(np.float64)
        mass = ak.to_numpy(ak.flatten(arrays.Jet_mass)).astype(np.float64)
        unc = np.sqrt(0.015**2 + (1.5 / pt) ** 2) * np.where(np.abs(eta) > 2.5, 1.5, 1.0)
        for direction, sign in (("Up", 1), ("Down", -1)):
            for name, nominal in (("pt", pt), ("mass", mass)):
                varied = arrays[f"Jet_{name}_jes{direction}"]
                assert ak.all(ak.num(varied) == arrays.nJet)
                flat = ak.to_numpy(ak.flatten(varied)).astype(np.float64)
                np.testing.assert_allclose(flat, nominal * (1 + sign * unc), rtol=1e-6)
        assert 0.02 < np.mean(unc) < 0.08


def test_pileup_weights_are_linear_in_the_vertices_around_one(events):
    for arrays in events.values():
        npv = arrays.PV_npvs.to_numpy().astype(np.float64)
        up, down = arrays.puWeightUp.to_numpy(), arrays.puWeightDown.to_numpy()
        np.testing.assert_allclose(up, np.clip(1 + 0.012 * (npv - 31.5), 0.5, 1.5), rtol=1e-6)
        np.testing.assert_allclose(down, np.clip(1 - 0.012 * (npv - 31.5), 0.5, 1.5), rtol=1e-6)
        assert abs(np.mean(up) - 1) < 0.05 and abs(np.mean(down) - 1) < 0.05


def test_objects_in_acceptance_and_pt_ordered(events):
    for arrays in events.values():
        for prefix, min_pt, max_eta in (("Jet", 20, 4.7), ("Muon", 0, 2.4)):
            pt = arrays[f"{prefix}_pt"]
            assert ak.all(pt[:, :-1] >= pt[:, 1:]), prefix
            assert ak.all(pt > min_pt) and ak.all(abs(arrays[f"{prefix}_eta"]) < max_eta)
        assert ak.all((arrays.Jet_btag >= 0) & (arrays.Jet_btag <= 1))
        assert set(np.unique(ak.to_numpy(ak.flatten(arrays.Muon_charge)))) == {-1, 1}
        assert ak.all(arrays.MET_pt >= 0) and ak.all(arrays.PV_npvs >= 1)
        assert 0.05 < ak.mean(arrays.nMuon < 2) < 0.9  # the selection has work to do


def test_event_numbers_unique_large_and_sparse(events):
    for name, arrays in events.items():
        event = ak.to_numpy(arrays.event)
        assert len(np.unique(event)) == len(event), name
        assert event.min() > 1_000_000
        assert np.any(np.diff(np.sort(event)) > 1)


def test_same_seed_same_arrays_other_seed_differs(tmp_path, events):
    again = make_demo(tmp_path / "again", n_events=N_EVENTS, files_per_process=FILES, seed=7)
    other = make_demo(tmp_path / "other", n_events=N_EVENTS, files_per_process=FILES, seed=8)
    for name, paths in again.items():
        repeat = _read(paths)
        for branch in EXPECTED_DTYPES:
            assert ak.array_equal(repeat[branch], events[name][branch]), (name, branch)
        different = _read(other[name])
        assert not np.array_equal(ak.to_numpy(different.MET_pt), ak.to_numpy(repeat.MET_pt))


def test_generator_weights(events):
    by_name = {p.name: p for p in DEMO_PROCESSES}
    dy = ak.to_numpy(events["dy"].genWeight)
    assert np.mean(dy < 0) == pytest.approx(by_name["dy"].negative_weight_fraction, abs=0.04)
    assert dy.sum() > 0.5 * np.abs(dy).sum()
    for name in ("vbf_h", "ttbar"):
        weights = ak.to_numpy(events[name].genWeight)
        assert np.all(weights > 0) and 0 < weights.std() < 0.2 * weights.mean()
        assert by_name[name].negative_weight_fraction == 0


# --- physics ------------------------------------------------------------------------------------


def test_vbf_jets_separate_signal_from_dy(events):
    signal, dy = _selected(events["vbf_h"]), _selected(events["dy"])
    m_jj_signal, m_jj_dy = (np.median(_pair(a, "Jet", 0, 1)[0]) for a in (signal, dy))
    assert m_jj_signal > 1.5 * m_jj_dy
    assert m_jj_signal > 250
    delta_eta = ak.to_numpy(abs(signal.Jet_eta[:, 0] - signal.Jet_eta[:, 1]))
    assert np.median(delta_eta) > 3


def test_dy_dimuon_mass_peaks_at_z(events):
    m_mumu, _ = _pair(_selected(events["dy"]), "Muon", 0, 1)
    counts, edges = np.histogram(m_mumu, bins=np.arange(20.0, 150.0, 2.0))
    assert 87 <= edges[np.argmax(counts)] <= 93
    peak = m_mumu[(m_mumu > 81) & (m_mumu < 101)]
    assert np.std(peak) < 5
    signal_mass, _ = _pair(_selected(events["vbf_h"]), "Muon", 0, 1)
    assert 25 < np.median(signal_mass) < 80  # visible H -> tau tau mass: broad, below m_Z


def test_ttbar_has_b_jets_and_met(events):
    ttbar, signal = _selected(events["ttbar"]), _selected(events["vbf_h"])
    n_b = ak.to_numpy(ak.sum(ttbar.Jet_btag > 0.8, axis=1))
    assert np.mean(n_b >= 1) > 0.6
    assert np.mean(ak.to_numpy(ak.sum(signal.Jet_btag > 0.8, axis=1)) >= 1) < 0.15
    assert np.median(ak.to_numpy(ttbar.MET_pt)) > 50


def test_background_exceeds_signal_after_selection(large_sample):
    yields = {}
    for process in DEMO_PROCESSES:
        arrays = large_sample[process.name]
        total = np.sum(ak.to_numpy(arrays.genWeight), dtype=np.float64)
        selected = np.sum(ak.to_numpy(_selected(arrays).genWeight), dtype=np.float64)
        yields[process.label] = yields.get(process.label, 0.0) + (
            process.cross_section_pb * LUMI_PB * selected / total
        )
    assert 10 < yields["background"] / yields["signal"] < 100


def test_bdt_separates_but_not_perfectly(large_sample):
    features, labels = [], []
    for process in DEMO_PROCESSES:
        selected = _selected(large_sample[process.name])
        features.append(_features(selected))
        labels.append(np.full(len(selected), process.label == "signal"))
    x, y = np.concatenate(features), np.concatenate(labels)
    train = np.random.default_rng(0).random(len(y)) < 0.5
    model = xgb.XGBClassifier(n_estimators=100, max_depth=4, learning_rate=0.1, nthread=2)
    model.fit(x[train], y[train])
    auc = roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1])
    assert 0.75 <= auc <= 0.95


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"files_per_process": 0}, "files_per_process must be at least 1"),
        ({"n_events": 5, "files_per_process": 3}, "ask for at least"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_arguments_raise_config_error(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_demo(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_demo_process_checks_its_values():
    with pytest.raises(ConfigError, match="label must be 'signal' or 'background'"):
        DemoProcess("x", "sig", 1.0, 10, "", 0.0)
    with pytest.raises(ConfigError, match="negative_weight_fraction"):
        DemoProcess("x", "background", 1.0, 10, "", 0.6)
