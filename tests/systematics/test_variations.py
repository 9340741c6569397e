"""Variations scored by the nominal's out-of-fold models, checked by hand on the demo ntuples.

A small demo analysis is ingested and trained for real (3 folds); then every variation of
every sample is scored by ``hepml.systematics.score_variations``. The checks recompute what it
should give independently: the fold of each event from the nominal training scores, the
varied features from the ROOT branches with numpy/awkward, the score with the booster of that
fold, and the weight variations' yields from the ingest table and the weight branches.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot
import xgboost as xgb
from systematics_helpers import FEATURES, make_analysis, read_summary, score_all

from hepml.config import config_from_dict
from hepml.systematics import fit_templates, read_variations, variation_yields


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    analysis = make_analysis(tmp_path_factory.mktemp("systematics"))
    analysis["variations"] = score_all(analysis)
    return analysis


def _table(analysis, sample: str, variation: str) -> pd.DataFrame:
    table = pq.read_table(analysis["variations"][sample]).to_pandas()
    rows = table[table.variation == variation]
    return rows.sort_values(["file", "entry"]).reset_index(drop=True)


def _out_of_fold(analysis, sample: str) -> pd.DataFrame:
    """The training stage's out-of-fold (test) scores of one sample."""
    scores = pd.concat(pq.read_table(p).to_pandas() for p in analysis["scores"])
    test = scores[(scores["set"] == "test") & (scores["sample"] == sample)]
    return test.sort_values(["file", "entry"]).reset_index(drop=True)


@pytest.mark.parametrize("sample", ["vbf_h", "dy", "ttbar"])
def test_nominal_is_the_out_of_fold_scores_bit_for_bit(analysis, sample):
    nominal, trained = _table(analysis, sample, "nominal"), _out_of_fold(analysis, sample)
    assert len(nominal) == len(trained) > 100
    assert np.array_equal(nominal.score.to_numpy(), trained.score.to_numpy())
    assert np.array_equal(nominal.fold.to_numpy(), trained.model_fold.to_numpy())
    assert np.array_equal(nominal.event.to_numpy(), trained.event.to_numpy())
    ingest = pq.read_table(analysis["tables"][sample]).to_pandas()
    assert np.array_equal(nominal.weight.to_numpy(), ingest["_weight"].to_numpy())


def _branches(analysis, sample: str, names: list[str]) -> list[ak.Array]:
    files = sorted(analysis["demo"].glob(f"{sample}_*.root"))
    return [uproot.open(f)["events"].arrays(names) for f in files]


def _by_hand(arrays: ak.Array, jet_pt: str) -> tuple[np.ndarray, np.ndarray]:
    """Selection mask and the feature matrix (config order) with ``jet_pt`` as Jet_pt."""
    pt = arrays[jet_pt]
    selected = (
        (ak.num(arrays.Muon_pt) >= 2)
        & (
            ak.fill_none(ak.pad_none(arrays.Muon_charge, 2)[:, 0], 0)
            * ak.fill_none(ak.pad_none(arrays.Muon_charge, 2)[:, 1], 0)
            < 0
        )
        & (ak.sum(pt > 40, axis=1) >= 1)
    )
    padded = ak.pad_none(pt, 2)
    features = {
        "jet1_pt": ak.fill_none(padded[:, 0], np.nan),
        "jet2_pt": ak.fill_none(padded[:, 1], np.nan),
        "ht": ak.sum(pt[pt > 30], axis=1),
        "n_jets": ak.num(pt),
        "mu1_pt": ak.fill_none(ak.pad_none(arrays.Muon_pt, 1)[:, 0], np.nan),
        "met": arrays.MET_pt,
    }
    X = np.column_stack([ak.to_numpy(features[f["name"]]).astype(np.float32) for f in FEATURES])
    return ak.to_numpy(selected), X


@pytest.mark.parametrize(("sample", "variation"), [("dy", "jesUp"), ("vbf_h", "jesDown")])
def test_shape_variation_scored_by_the_model_that_never_saw_the_event(analysis, sample, variation):
    """Each varied event: features from Jet_pt_jes* by hand, scored by the booster of the fold
    the nominal event was tested in (the training scores say which); never another fold's."""
    branch = f"Jet_pt_{variation[:3]}{variation[3:]}"
    names = ["event", "Muon_pt", "Muon_charge", "MET_pt", branch]
    table = _table(analysis, sample, variation)
    trained = _out_of_fold(analysis, sample)
    nominal_fold = dict(zip(trained.event, trained.model_fold, strict=True))
    boosters = [xgb.Booster(model_file=str(m)) for m in analysis["models"]]
    expected_rows, migrated = [], 0
    for index, arrays in enumerate(_branches(analysis, sample, names)):
        selected, X = _by_hand(arrays, branch)
        rows = np.flatnonzero(selected)
        events = ak.to_numpy(arrays.event)[rows]
        folds = np.array([nominal_fold.get(e, -1) for e in events])
        migrated += int(np.sum(folds < 0))  # selected only in the variation
        for row, event, fold in zip(rows, events, folds, strict=True):
            expected_rows.append((index, row, event, fold, X[row]))
    assert len(table) == len(expected_rows)
    got = table.set_index(["file", "entry"])
    same = other = 0
    for index, row, event, fold, x in expected_rows:
        record = got.loc[(index, row)]
        assert record.event == event
        if fold < 0:  # a new event: its fold from the same hash (checked against training)
            continue
        assert record.fold == fold
        score = boosters[fold].inplace_predict(x[None, :])[0]
        wrong = boosters[(fold + 1) % 3].inplace_predict(x[None, :])[0]
        assert record.score == pytest.approx(score, abs=1e-7)
        same += 1
        other += record.score != pytest.approx(wrong, abs=1e-7)
    assert same > 100 and other > 0.5 * same  # another fold's model would score otherwise
    nominal = _table(analysis, sample, "nominal")
    assert len(table) != len(nominal)  # the jet cut moves events in or out
    assert migrated > 0 or variation.endswith("Down")


def test_migrated_events_keep_the_fold_of_their_event_number(analysis):
    from hepml.folds import fold_of_event

    cfg = analysis["config"]
    for sample in ("dy", "ttbar"):
        table = pq.read_table(analysis["variations"][sample]).to_pandas()
        expected = fold_of_event([table.event.to_numpy()], cfg.training.folds, cfg.seed)
        assert np.array_equal(table.fold.to_numpy(), expected)


@pytest.mark.parametrize("direction", ["Up", "Down"])
def test_weight_variation_yield_equals_numpy_on_the_ingest_table(analysis, direction):
    """pileup: the same events and scores as the nominal, weight genWeight * puWeight<dir>:
    the ingest table's weight times the branch at (file, entry), summed by numpy."""
    templates = fit_templates(analysis["config"], read_variations(analysis["variations"]))
    rows = {
        (r["process"], r["systematic"]): r for r in variation_yields(analysis["config"], templates)
    }
    for sample in ("vbf_h", "dy", "ttbar"):
        ingest = pq.read_table(analysis["tables"][sample]).to_pandas()
        weights = [
            a[f"puWeight{direction}"].to_numpy()
            for a in _branches(analysis, sample, [f"puWeight{direction}"])
        ]
        pu = np.array(
            [weights[f][e] for f, e in zip(ingest["_file"], ingest["_entry"], strict=True)]
        )
        by_numpy = ingest["_weight"].to_numpy() * pu.astype(np.float64)
        table = _table(analysis, sample, f"pileup{direction}")
        nominal = _table(analysis, sample, "nominal")
        assert np.array_equal(table.score.to_numpy(), nominal.score.to_numpy())
        np.testing.assert_allclose(table.weight.to_numpy(), by_numpy, rtol=1e-6)
        row = rows[(sample, "pileup")]
        assert row[direction.lower()] == pytest.approx(by_numpy.sum(), rel=1e-7)
        assert row["nominal"] == pytest.approx(ingest["_weight"].sum(), rel=1e-9)
        change = 100 * (by_numpy.sum() / ingest["_weight"].sum() - 1)
        assert row[f"{direction.lower()}_change_percent"] == pytest.approx(change, abs=1e-5)
        summary = read_summary(analysis["variations"][sample])
        assert summary["variations"][f"pileup{direction}"]["yield"] == pytest.approx(
            by_numpy.sum(), rel=1e-7
        )


def test_templates_hold_every_event_of_every_variation(analysis):
    cfg = analysis["config"]
    tables = read_variations(analysis["variations"])
    templates = fit_templates(cfg, tables)
    assert templates.processes == ["vbf_h", "dy", "ttbar"] and templates.systematics == [
        "jes",
        "pileup",
    ]
    assert 2 <= templates.n_bins <= 20
    for sample, variations in tables.items():
        for name, events in variations.items():
            assert templates.sumw[sample][name].sum() == pytest.approx(
                events["weight"].sum(), rel=1e-9
            )
    rows = variation_yields(cfg, templates)
    norm = [r for r in rows if r["systematic"] == "xsec_ttbar"]
    assert len(norm) == 1 and norm[0]["up_change_percent"] == pytest.approx(6.0)
    assert norm[0]["down_change_percent"] == pytest.approx(100 * (1 / 1.06 - 1))


def test_a_missing_replacement_branch_names_branch_and_file(analysis, tmp_path):
    data = dict(analysis["config"].raw)
    data["systematics"] = {
        "variations": {
            "jer": {
                "up": {"branches": {"Jet_pt": "Jet_pt_jerUp"}},
                "down": {"branches": {"Jet_pt": "Jet_pt_jesDown"}},
            }
        }
    }
    cfg = config_from_dict(data)
    from hepml.exceptions import UnknownBranch

    with pytest.raises(UnknownBranch, match=r"Jet_pt_jerUp.*Did you mean 'Jet_pt_jesUp'") as info:
        score_all(analysis, cfg, out="broken")
    assert "vbf_h_0.root" in str(info.value)
    assert not (analysis["base"] / "broken" / "vbf_h.parquet").exists()  # nothing half-written
