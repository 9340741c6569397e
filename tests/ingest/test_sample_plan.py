"""Planning a sample: aliases that map productions onto one feature list, and type checks."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import write_ntuple

from hepml.config import config_from_dict
from hepml.exceptions import ConfigError, DataError, ExpressionError, UnknownBranch
from hepml.ingest.reading import InputFile, open_source
from hepml.ingest.sample import ingest_sample, plan_sample

FEATURES = {
    "met": "MET_pt",
    "jet1_pt": "Jet_pt[0]",
    "mjj": "m_lead(Jet, 2)",
    "ht": "sum(Jet_pt[Jet_pt > 30])",
}
OTHER_PRODUCTION = {  # common name -> branch of the renamed production
    "Jet_pt": "jet_PT",
    "Jet_eta": "jet_Eta",
    "Jet_phi": "jet_Phi",
    "Jet_mass": "jet_M",
    "MET_pt": "MissingET",
    "genWeight": "weight_gen",
}


@pytest.fixture
def productions(tmp_path):
    """The same events written with NanoAOD names (a.root) and with other names (b.root)."""
    arrays = write_ntuple(tmp_path / "a.root", 800, seed=3, signal=True)
    jets = arrays["Jet"]
    renamed = {
        "event": arrays["event"],
        "weight_gen": arrays["genWeight"],
        "MissingET": arrays["MET_pt"],
        "jet": ak.zip({"PT": jets.pt, "Eta": jets.eta, "Phi": jets.phi, "M": jets.mass}),
        "Muon": arrays["Muon"],
    }
    with uproot.recreate(tmp_path / "b.root") as f:
        f.mktree("events", renamed)
    return tmp_path, arrays


def make_config(directory, features=FEATURES, aliases=None, **b) -> dict:
    return {
        "samples": {
            "a": {"label": "signal", "files": str(directory / "a.root"), "weight": "genWeight"},
            "b": {
                "label": "background",
                "files": str(directory / "b.root"),
                "weight": "genWeight",
                "aliases": OTHER_PRODUCTION if aliases is None else aliases,
                **b,
            },
        },
        "selection": [{"name": "one_muon", "expr": "num(Muon_pt) >= 1"}],
        "features": [{"name": k, "expr": v} for k, v in features.items()],
        "training": {},
    }


def ingest(cfg: dict, sample: str, path) -> dict:
    ingest_sample(config_from_dict(cfg), sample, path)
    return {k: np.asarray(v) for k, v in pq.read_table(path).to_pydict().items()}


def test_aliases_give_identical_features_across_productions(productions):
    directory, arrays = productions
    cfg = make_config(directory)
    a = ingest(cfg, "a", directory / "a.parquet")
    b = ingest(cfg, "b", directory / "b.parquet")
    for column in [*FEATURES, "_weight", "_event", "_fold"]:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    keep = ak.to_numpy(ak.num(arrays["Muon"].pt) >= 1)
    np.testing.assert_allclose(b["met"], arrays["MET_pt"][keep], rtol=1e-6)  # not both wrong
    assert len(b["met"]) == keep.sum()


def test_alias_expressions_chained_and_shadowing(productions):
    directory, arrays = productions
    aliases = dict(OTHER_PRODUCTION)
    aliases["MET_pt"] = "MissingET / 1000"  # GeV -> TeV: an expression
    aliases["met_sq"] = "MET_pt ** 2"  # uses the alias before it
    aliases["genWeight"] = 2  # a number: this production lacks the branch
    cfg = make_config(directory, {"met": "MET_pt", "met_sq": "met_sq"}, aliases)
    b = ingest(cfg, "b", directory / "b.parquet")
    keep = ak.to_numpy(ak.num(arrays["Muon"].pt) >= 1)
    met_tev = arrays["MET_pt"][keep].astype(np.float64) / 1000
    np.testing.assert_allclose(b["met"], met_tev, rtol=1e-6)
    np.testing.assert_allclose(b["met_sq"], met_tev**2, rtol=1e-5)
    np.testing.assert_array_equal(b["_weight"], 2.0)  # no cross section: the weight as is
    # an alias may shadow the branch of its own name: MET_pt -> MET_pt * 2 on file a
    cfg["samples"]["a"]["aliases"] = {"MET_pt": "MET_pt * 2", "met_sq": "MET_pt ** 2"}
    a = ingest(cfg, "a", directory / "a.parquet")
    np.testing.assert_allclose(a["met"], 2 * arrays["MET_pt"][keep], rtol=1e-6)
    np.testing.assert_allclose(a["met_sq"], (2.0 * arrays["MET_pt"][keep]) ** 2, rtol=1e-5)


def test_alias_renames_the_event_number(productions):
    directory, _ = productions
    with uproot.open(directory / "b.root") as handle:
        renamed = handle["events"].arrays(["event", "MissingET", "weight_gen", "nMuon"])
    with uproot.recreate(directory / "c.root") as f:
        f.mktree(
            "events",
            {
                "evt": renamed.event,
                "MissingET": renamed.MissingET,
                "weight_gen": renamed.weight_gen,
                "nMuon": renamed.nMuon,
            },
        )
    aliases = {"MET_pt": "MissingET", "genWeight": "weight_gen", "event": "evt"}
    cfg = make_config(directory, {"met": "MET_pt"}, aliases)
    cfg["samples"]["b"]["files"] = str(directory / "c.root")
    cfg["selection"] = [{"name": "one_muon", "expr": "nMuon >= 1"}]
    a = ingest(cfg, "a", directory / "a.parquet")
    c = ingest(cfg, "b", directory / "c.parquet")
    np.testing.assert_array_equal(c["_event"], a["_event"])
    np.testing.assert_array_equal(c["_fold"], a["_fold"])  # not the (file, entry) fallback


def test_only_used_aliases_are_read(productions):
    directory, _ = productions
    aliases = dict(OTHER_PRODUCTION, unused="Muon_eta * 2")
    cfg = config_from_dict(make_config(directory, {"met": "MET_pt"}, aliases))
    file = InputFile(str(directory / "b.root"), "events")
    with open_source(file) as source:
        plan = plan_sample(cfg, cfg.samples["b"], source)
    assert plan.branches == {"MissingET", "weight_gen", "Muon_pt", "event"}
    assert [name for name, _ in plan.aliases] == ["MET_pt", "genWeight"]


@pytest.mark.parametrize(
    ("aliases", "error", "match"),
    [
        (
            dict(OTHER_PRODUCTION, Jet_pt="jet_Pt"),
            UnknownBranch,
            r"alias 'Jet_pt' of sample 'b': 'jet_Pt'.*Did you mean 'jet_PT'.*b.root",
        ),
        (dict(OTHER_PRODUCTION, extra="nothing_here"), UnknownBranch, r"alias 'extra' of .*'b'"),
        (dict(OTHER_PRODUCTION, MET_pt="MissingET +"), ExpressionError, r"alias 'MET_pt' of .*'b'"),
        # refused when the config is validated, before any file is opened
        (dict(OTHER_PRODUCTION, pi="1"), ConfigError, r"samples.b.aliases.pi = 'pi' is reserved"),
        (
            {k: v for k, v in OTHER_PRODUCTION.items() if k != "Jet_mass"},
            UnknownBranch,
            r"feature 'mjj'.*collection 'Jet'.*b.root",
        ),
    ],
)
def test_alias_errors_name_sample_and_alias(productions, aliases, error, match):
    directory, _ = productions
    with pytest.raises(error, match=match):
        ingest(make_config(directory, aliases=aliases), "b", directory / "b.parquet")
    assert not (directory / "b.parquet").exists()


def test_alias_defined_for_another_sample_is_pointed_out(productions):
    directory, _ = productions
    cfg = make_config(directory, {"met": "missing"}, dict(OTHER_PRODUCTION, missing="MissingET"))
    with pytest.raises(UnknownBranch, match=r"'missing'.*sample\(s\) b define it as an alias"):
        ingest(cfg, "a", directory / "a.parquet")


# Type errors: each names the expression and the file.
@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (
            lambda c: c["features"].append({"name": "jets", "expr": "Jet_pt * 2"}),
            ExpressionError,
            r"feature 'jets' is jagged.*reduce it.*\(in '.*a.root', entries 0 to 800\)",
        ),
        (
            lambda c: c["selection"].append({"name": "c", "expr": "Jet_pt > 30"}),
            ExpressionError,
            r"selection cut 'c' is jagged.*any\(\.\.\.\).*a.root",
        ),
        (
            lambda c: c["selection"].append({"name": "c", "expr": "MET_pt * 2"}),
            ExpressionError,
            r"selection cut 'c' gives float.* not True/False.*a.root",
        ),
        (
            lambda c: c["samples"]["a"].update(weight="genWeight * Jet_pt"),
            ExpressionError,
            r"weight of sample 'a' is jagged.*a.root",
        ),
        (
            lambda c: c["samples"]["a"].update(weight="MET_pt > 30"),
            ExpressionError,
            r"weight of sample 'a' gives True/False values, not numbers.*a.root",
        ),
        (
            lambda c: c["samples"]["a"].update(weight="genWeight * nan"),
            DataError,
            r"weight of sample 'a' is NaN or infinite for \d+ selected.*a.root",
        ),
    ],
)
def test_type_errors_name_expression_and_file(productions, mutate, error, match):
    directory, _ = productions
    cfg = make_config(directory)
    mutate(cfg)
    with pytest.raises(error, match=match):
        ingest(cfg, "a", directory / "a.parquet")


def test_boolean_feature_is_zero_or_one_and_arithmetic_counts(productions):
    directory, arrays = productions
    features = {"central": "abs(Jet_eta[0]) < 1", "n_hard": "(MET_pt > 20) + (Jet_pt[0] > 50)"}
    a = ingest(make_config(directory, features), "a", directory / "a.parquet")
    keep = ak.to_numpy(ak.num(arrays["Muon"].pt) >= 1)
    eta = ak.to_numpy(ak.fill_none(ak.firsts(arrays["Jet"].eta), np.nan))[keep]
    np.testing.assert_array_equal(a["central"], (np.abs(eta) < 1).astype(np.float32))
    pt = ak.to_numpy(ak.fill_none(ak.firsts(arrays["Jet"].pt), np.nan))[keep]
    expected = (arrays["MET_pt"][keep] > 20).astype(int) + (pt > 50).astype(int)
    np.testing.assert_array_equal(a["n_hard"], expected)
    assert set(np.unique(a["n_hard"])) == {0.0, 1.0, 2.0}  # True + True is 2, not True


def test_text_and_bad_event_number_branches(tmp_path):
    path = tmp_path / "t.root"
    with uproot.recreate(path) as f:
        f.mktree(
            "events",
            {
                "x": np.arange(1.0, 11.0),
                "label": ak.Array([f"e{i}" for i in range(10)]),
                "fevent": np.arange(10) + 0.5,
                "jevent": ak.Array([[i] for i in range(10)]),
            },
        )
    base = {
        "event_number": "none",
        "samples": {
            "t": {"label": "signal", "files": str(path)},
            "u": {"label": "background", "files": str(path)},
        },
        "features": [{"name": "x", "expr": "x"}],
        "training": {},
    }
    text = dict(base, features=[{"name": "lab", "expr": "label"}])
    with pytest.raises(ExpressionError, match=r"feature 'lab' needs branch 'label'.*t.root.*char"):
        ingest_sample(config_from_dict(text), "t", tmp_path / "o.parquet")
    with pytest.raises(DataError, match=r"event_number: branch 'jevent'.*t.root.*one integer"):
        ingest_sample(config_from_dict(dict(base, event_number="jevent")), "t", tmp_path / "o.pq")
    with pytest.raises(DataError, match=r"event_number.*non-integer.*t.root"):
        ingest_sample(config_from_dict(dict(base, event_number="fevent")), "t", tmp_path / "o.pq")
    assert not list(tmp_path.glob("o.*"))
