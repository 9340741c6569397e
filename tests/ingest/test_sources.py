"""Input sources: the same events as a TTree, an RNTuple and a Parquet file give the same
numbers everywhere (ingest tables, apply scores, `hepml score`, normalisation), and every
kind of file gets the same clear errors."""

from __future__ import annotations

import copy
import os
import random
import threading

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import write_ntuple
from kinds_helpers import write_other_kinds
from ntuple_faults import damaged_copy
from pipeline_helpers import build_pipeline, friend_arrays, load_models

from hepml.apply.samples import apply_sample
from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.exceptions import (
    BadFile,
    DataError,
    ExpressionError,
    HepmlError,
    InputFileError,
    UnknownBranch,
)
from hepml.export.models import closure_sample, export_models
from hepml.ingest.reading import InputFile, iterate_file, resolve_files
from hepml.ingest.sample import ingest_sample
from hepml.ingest.sources import open_source
from hepml.ingest.sources.base import columns_of

SUFFIX = {"ttree": "root", "rntuple": "root", "parquet": "parquet"}
WHERE = {"ttree": "tree 'events' in", "rntuple": "RNTuple 'events' in", "parquet": "Parquet file"}
SAMPLES = {"sig": (1500, 10, True), "bkg": (2000, 20, False)}  # events, seed, signal


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """Two files per sample, each written three ways: ttree/, rntuple/, parquet/."""
    directory = tmp_path_factory.mktemp("kinds")
    for sample, (n, seed, signal) in SAMPLES.items():
        for i in range(2):
            name = f"{sample}_{i}"
            arrays = write_ntuple(directory / "ttree" / f"{name}.root", n, seed=seed + i,
                                  signal=signal)  # fmt: skip
            write_other_kinds(directory, name, arrays)
    return directory


def path_of(directory, kind: str, name: str) -> str:
    return str(directory / kind / f"{name}.{SUFFIX[kind]}")


def config_for(directory, kind: str, **reading) -> dict:
    """Collections (m_lead, sums, nJet) in features and cuts; 500-entry chunks."""
    return {
        "luminosity": 10.0,
        "seed": 7,
        "reading": {"step_size": 500, **reading},
        "samples": {
            sample: {
                "label": "signal" if signal else "background",
                "files": path_of(directory, kind, f"{sample}_*"),
                "cross_section": 2.0 if signal else 50.0,
                "weight": "genWeight",
            }
            for sample, (_, _, signal) in SAMPLES.items()
        },
        "selection": [
            {"name": "one_muon", "expr": "num(Muon_pt) >= 1"},
            {"name": "met", "expr": "MET_pt > 5"},
        ],
        "features": [
            {"name": "met", "expr": "MET_pt"},
            {"name": "n_jets", "expr": "nJet"},
            {"name": "jet1_eta", "expr": "Jet_eta[0]"},
            {"name": "mjj", "expr": "m_lead(Jet, 2)"},
            {"name": "ht", "expr": "sum(Jet_pt[Jet_pt > 30])"},
            {"name": "mu1_pt", "expr": "Muon_pt[0]"},
        ],
        "training": {"folds": 3, "xgboost": {"n_estimators": 20, "max_depth": 3}},
    }


def assert_same_table(a, b) -> None:
    """Two Parquet tables equal column by column (names, types, values; NaN equal to NaN)."""
    a, b = pq.read_table(a), pq.read_table(b)
    assert a.schema.names == b.schema.names
    for name in a.schema.names:
        assert a[name].type == b[name].type, name
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)


def test_flat_names_and_types_are_those_of_the_ttree(kinds):
    sources = {k: open_source(InputFile(path_of(kinds, k, "sig_0"), "events")) for k in SUFFIX}
    try:
        names = sources["ttree"].names
        assert {"Jet_pt", "Jet_eta", "nJet", "Muon_charge", "nMuon", "MET_pt", "event"} <= names
        for kind in ("rntuple", "parquet"):
            assert sources[kind].names == names, kind
            assert sources[kind].num_entries == 1500
            for name in names - {"nJet", "nMuon"}:  # uproot writes counts as int32
                ours, tree = sources[kind].column(name), sources["ttree"].column(name)
                assert (ours.dtype, ours.depth) == (tree.dtype, tree.depth), (kind, name)
    finally:
        for source in sources.values():
            source.close()


def test_record_fields_get_nanoaod_names():
    events = ak.Array(
        {
            "Jet": [[{"Jet_pt": 1.0, "eta": 2.0}], []],  # a field named Jet_pt keeps its name
            "MET": [{"pt": 3.0}, {"pt": 4.0}],
            "name": ["a", "b"],
            "nested": [[[1.0]], []],
        }
    )
    columns = columns_of(ak.to_layout(events).form)
    assert set(columns) == {"Jet_pt", "Jet_eta", "nJet", "MET_pt", "name", "nested"}
    assert columns["Jet_pt"].path == ("Jet", "Jet_pt") and columns["Jet_pt"].depth == 1
    assert columns["MET_pt"].depth == 0 and columns["nJet"].count
    assert not columns["name"].numeric and not columns["nested"].numeric
    assert columns["nested"].typename == "var * var * float64"


@pytest.mark.parametrize("kind", ["rntuple", "parquet"])
def test_chunks_cover_every_entry_in_order(kinds, kind):
    names = {"Jet_pt", "MET_pt", "event", "nJet"}
    file = InputFile(path_of(kinds, kind, "bkg_1"), "events")
    chunks = list(iterate_file(file, names, 300))
    assert [(start, stop) for _, start, stop in chunks] == [
        (i, min(i + 300, 2000)) for i in range(0, 2000, 300)
    ]
    got = ak.concatenate([c for c, _, _ in chunks])
    with uproot.open(path_of(kinds, "ttree", "bkg_1")) as f:
        expected = f["events"].arrays(sorted(names))
    assert set(got.fields) == names
    for name in names:
        assert ak.all(got[name] == expected[name]), name


@pytest.mark.parametrize("event_number", ["event", "none"])
def test_ingest_tables_identical_for_every_kind(kinds, tmp_path, event_number):
    """Event-number folds, and (file, entry) folds (event_number: none): entry = the row."""
    results = {}
    for kind in SUFFIX:
        cfg = config_from_dict(config_for(kinds, kind) | {"event_number": event_number})
        for sample in SAMPLES:
            results[kind, sample] = ingest_sample(cfg, sample, tmp_path / f"{kind}_{sample}.pq")
    for kind in ("rntuple", "parquet"):
        for sample in SAMPLES:
            assert_same_table(tmp_path / f"ttree_{sample}.pq", tmp_path / f"{kind}_{sample}.pq")
            ours, tree = results[kind, sample], results["ttree", sample]
            assert ours.cutflow.events == tree.cutflow.events
            assert ours.fold_source == tree.fold_source
    # normalisation from all entries: the sum of genWeight over both files, by numpy
    for kind in SUFFIX:
        weights = [
            uproot.open(path_of(kinds, "ttree", f"bkg_{i}"))["events"]["genWeight"].array(
                library="np"
            )
            for i in range(2)
        ]
        assert results[kind, "bkg"].sum_of_weights == np.sum(np.concatenate(weights), dtype="f8")


@pytest.fixture(scope="module")
def trained(kinds, tmp_path_factory):
    """Fold models trained on the TTree files, and their export."""
    directory = tmp_path_factory.mktemp("trained")
    p = build_pipeline(config_for(kinds, "ttree"), directory)
    closure = closure_sample(p["config"], p["tables"], p["scores"], max_events=300)
    export_models(p["config"], load_models(p), closure, directory / "export", onnx="no")
    p["export"] = directory / "export"
    return p


def test_apply_scores_identical_for_every_kind(kinds, trained, tmp_path):
    models = load_models(trained)
    apply_sample(trained["config"], "sig", models, tmp_path / "ttree")
    for kind in ("rntuple", "parquet"):
        cfg = config_from_dict(config_for(kinds, kind))
        summary = apply_sample(cfg, "sig", models, tmp_path / kind)
        assert [r["friend"] for r in summary["files"]] == ["sig_0.root", "sig_1.root"]
        for name in ("sig_0.root", "sig_1.root"):
            ours, tree = (friend_arrays(tmp_path / k / "sig" / name) for k in (kind, "ttree"))
            assert ours.keys() == tree.keys()
            for branch in tree:
                np.testing.assert_array_equal(ours[branch], tree[branch], err_msg=branch)
        assert_same_table(tmp_path / "ttree" / "sig.parquet", tmp_path / kind / "sig.parquet")


@pytest.mark.parametrize("kind", ["rntuple", "parquet"])
def test_hepml_score_on_other_kinds(kinds, trained, tmp_path, kind):
    apply_sample(trained["config"], "sig", load_models(trained), tmp_path / "applied")
    source = path_of(kinds, kind, "sig_1")
    out = tmp_path / "scored"
    argv = ["score", source, "--export-dir", str(trained["export"]), "--output-dir", str(out)]
    assert main(argv) == 0
    scored = friend_arrays(out / "sig_1.root")  # a ROOT friend, also for a Parquet source
    applied = friend_arrays(tmp_path / "applied" / "sig" / "sig_1.root")
    for branch in applied:
        np.testing.assert_array_equal(scored[branch], applied[branch], err_msg=branch)


@pytest.mark.parametrize("kind", list(SUFFIX))
def test_missing_branch_suggests_for_every_kind(kinds, tmp_path, kind):
    cfg = config_for(kinds, kind)
    cfg["features"][0]["expr"] = "Jet_ptt[0]"
    with pytest.raises(UnknownBranch, match=r"'Jet_ptt'.*Did you mean 'Jet_pt'") as info:
        ingest_sample(config_from_dict(cfg), "sig", tmp_path / "o.parquet")
    assert WHERE[kind] in str(info.value)
    assert path_of(kinds, kind, "sig_0") in str(info.value)


def test_wrong_tree_name_lists_ttrees_and_rntuples(kinds):
    with pytest.raises(
        BadFile, match=r"no tree 'Events'.*mean 'events'.*TTrees.*none; RNTuples: events"
    ):
        open_source(InputFile(path_of(kinds, "rntuple", "sig_0"), "Events"))
    # the tree key means nothing for Parquet
    with open_source(InputFile(path_of(kinds, "parquet", "sig_0"), "anything")) as source:
        assert source.kind == "Parquet"


@pytest.mark.parametrize("kind", ["rntuple", "parquet"])
def test_truncated_file_is_a_bad_file_that_skip_skips(kinds, tmp_path, kind):
    good = path_of(kinds, kind, "sig_0")
    data = (kinds / kind / f"sig_1.{SUFFIX[kind]}").read_bytes()
    bad = tmp_path / f"sig_1.{SUFFIX[kind]}"
    bad.write_bytes(data[: len(data) * 2 // 3])
    cfg = config_for(kinds, kind)
    cfg["samples"]["sig"]["files"] = [good, str(bad)]
    with pytest.raises(BadFile, match=r"sig_1.* (truncated|corrupt)"):
        ingest_sample(config_from_dict(cfg), "sig", tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()
    cfg["reading"]["on_bad_file"] = "skip"
    result = ingest_sample(config_from_dict(cfg), "sig", tmp_path / "o.parquet")
    assert [s["file"] for s in result.skipped_files] == [str(bad)]
    assert result.entries == 1500  # the good file's


@pytest.mark.parametrize("kind", ["rntuple", "parquet"])
def test_damaged_copies_give_a_result_or_an_error_naming_the_file(kinds, tmp_path, kind):
    rng = random.Random(kind)
    outcomes = set()
    for case in range(6):
        damaged = tmp_path / f"damaged_{case}.{SUFFIX[kind]}"
        damaged_copy(kinds / kind / f"bkg_0.{SUFFIX[kind]}", damaged, rng)
        cfg = config_for(kinds, kind)
        cfg["samples"]["bkg"]["files"] = str(damaged)
        out = tmp_path / f"out_{case}.parquet"
        try:
            ingest_sample(config_from_dict(cfg), "bkg", out)
        except HepmlError as err:
            assert str(damaged) in str(err)
            assert not out.exists()
            outcomes.add("error")
        else:
            outcomes.add("result")
    assert "error" in outcomes


def test_a_sample_of_mixed_kinds_is_an_error(kinds, tmp_path):
    for other in ("rntuple", "parquet"):
        cfg = config_for(kinds, "ttree")
        cfg["samples"]["sig"]["files"] = [path_of(kinds, "ttree", "sig_0"),
                                          path_of(kinds, other, "sig_1")]  # fmt: skip
        with pytest.raises(InputFileError, match=r"sample 'sig' mixes kinds") as info:
            ingest_sample(config_from_dict(cfg), "sig", tmp_path / "o.parquet")
        assert path_of(kinds, "ttree", "sig_0") in str(info.value)
        assert path_of(kinds, other, "sig_1") in str(info.value)


def finishes(function, seconds: float = 20.0):
    """Run ``function`` in a thread; fail (rather than hang the suite) if it blocks."""
    outcome = {}

    def run():
        try:
            function()
        except Exception as err:  # handed to the test
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return outcome.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_socket_and_directory_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x.root"
    os.mkfifo(fifo)
    (tmp_path / "d.parquet").mkdir()
    err = finishes(lambda: resolve_files("s", (str(tmp_path / "*.root"),), "events"))
    assert isinstance(err, InputFileError)
    assert f"sample 's': input '{fifo}' is a FIFO" in str(err)
    err = finishes(lambda: open_source(InputFile(str(fifo), "events")))
    assert isinstance(err, InputFileError) and "FIFO" in str(err)
    err = finishes(lambda: resolve_files("s", (str(tmp_path / "d.parquet"),), "events"))
    assert isinstance(err, InputFileError)
    assert "is a directory" in str(err) and "d.parquet/*.parquet" in str(err)


def test_the_same_file_twice_is_refused(kinds, tmp_path):
    first = path_of(kinds, "ttree", "sig_0")
    link = tmp_path / "link.root"
    link.symlink_to(first)
    with pytest.raises(InputFileError, match=r"'.*link.root' and '.*sig_0.root' \(the same file\)"):
        resolve_files("s", (first, str(link)), "events")
    with pytest.raises(
        InputFileError, match=r"sig_0.root' listed twice, by '.*sig_\*.*count twice"
    ):
        resolve_files("s", (path_of(kinds, "ttree", "sig_*"), first), "events")


@pytest.mark.parametrize("kind", ["rntuple", "parquet"])
def test_text_null_and_nan_columns(tmp_path, kind):
    arrays = {
        "event": np.arange(4, dtype=np.uint64),
        "x": np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32),
        "label": np.array(["a", "b", "c", "d"]),
    }
    write_other_kinds(tmp_path, "t", arrays)
    cfg = config_for(tmp_path, kind) | {"event_number": "none"}
    cfg["samples"] = {
        "s": {"label": "signal", "files": path_of(tmp_path, kind, "t")},
        "b": {"label": "background", "files": "unused.root"},
    }
    cfg["selection"], cfg["features"] = [], [{"name": "f", "expr": "label"}]
    with pytest.raises(ExpressionError, match=r"feature 'f' needs .* 'label' .*string values"):
        ingest_sample(config_from_dict(cfg), "s", tmp_path / "o.parquet")
    if kind == "rntuple":
        return
    # Parquet nulls: NaN in a float column, an error in an integer one
    table = pa.table({"x": pa.array([1.0, None, 3.0], pa.float32()), "n": [1, None, 3]})
    pq.write_table(table, tmp_path / "nulls.parquet")
    cfg["samples"]["s"]["files"] = str(tmp_path / "nulls.parquet")
    cfg["features"] = [{"name": "f", "expr": "x"}]
    ingest_sample(config_from_dict(cfg), "s", tmp_path / "o.parquet")
    np.testing.assert_array_equal(pq.read_table(tmp_path / "o.parquet")["f"], [1.0, np.nan, 3.0])
    cfg["features"] = [{"name": "f", "expr": "n"}]
    with pytest.raises(DataError, match=r"column 'n' of Parquet file '.*nulls.parquet'.*1 null"):
        ingest_sample(config_from_dict(cfg), "s", tmp_path / "o.parquet")


def test_sum_of_weights_from_a_runs_rntuple_and_none_from_parquet(kinds, tmp_path):
    runs = [np.array([100.0, 250.5]), np.array([80.25])]
    cfg = config_for(tmp_path, "rntuple")
    for i in range(2):
        events = ak.Array(uproot.open(path_of(kinds, "ttree", f"sig_{i}"))["events"].arrays())
        with uproot.recreate(tmp_path / f"sig_{i}.root") as f:
            f.mkrntuple("events", events[["event", "genWeight", "MET_pt", "Muon_pt"]])
            f.mkrntuple("Runs", ak.Array({"genEventSumw": runs[i]}))
    sample = {"label": "signal", "files": str(tmp_path / "sig_*.root"), "cross_section": 2.0,
              "sum_of_weights": {"tree": "Runs", "branch": "genEventSumw"}}  # fmt: skip
    cfg["samples"] = {"sig": sample, "b": {"label": "background", "files": "unused.root"}}
    cfg["selection"], cfg["features"] = [], [{"name": "met", "expr": "MET_pt"}]
    result = ingest_sample(config_from_dict(cfg), "sig", tmp_path / "o.parquet")
    assert result.sum_of_weights == 100.0 + 250.5 + 80.25
    parquet = copy.deepcopy(cfg)
    parquet["samples"]["sig"].update(
        files=path_of(kinds, "parquet", "sig_0"), sum_of_weights={"histogram": "hCount"}
    )
    with pytest.raises(InputFileError, match=r"sample 'sig': sum_of_weights from histogram") as e:
        ingest_sample(config_from_dict(parquet), "sig", tmp_path / "o.parquet")
    assert "sig_0.parquet' is a Parquet file" in str(e.value)


def test_real_nanoaod_as_rntuple_and_parquet(shared_data, tmp_path):
    """The real NanoAOD file's collections zipped into records: the same ingest table."""
    source = shared_data / "scikit-hep-testdata" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    tree = uproot.open(source)["Events"]
    flat = tree.arrays(["run", "luminosityBlock", "event", "MET_pt", "nJet", "nMuon"])
    arrays = {name: flat[name] for name in ("run", "luminosityBlock", "event", "MET_pt")}
    for collection in ("Jet", "Muon"):
        fields = ["pt", "eta", "phi", "mass"]
        parts = tree.arrays([f"{collection}_{f}" for f in fields])
        arrays[collection] = ak.zip({f: parts[f"{collection}_{f}"] for f in fields})
    write_other_kinds(tmp_path, "nano", arrays, tree="Events")
    features = {"mjj": "m_lead(Jet, 2)", "n_mu": "nMuon", "mu_pt": "Muon_pt[0]", "met": "MET_pt"}
    tables = {}
    for kind, path in [("ttree", str(source)), *[(k, path_of(tmp_path, k, "nano")) for k in
                                                  ("rntuple", "parquet")]]:  # fmt: skip
        cfg = {
            "event_number": ["run", "luminosityBlock", "event"],
            "samples": {"real": {"label": "signal", "files": path, "tree": "Events"},
                        "other": {"label": "background", "files": "unused.root"}},
            "selection": [{"name": "jets", "expr": "nJet >= 2"}],
            "features": [{"name": k, "expr": v} for k, v in features.items()],
            "training": {"folds": 5},
        }  # fmt: skip
        tables[kind] = tmp_path / f"{kind}.parquet"
        ingest_sample(config_from_dict(cfg), "real", tables[kind])
    assert pq.read_metadata(tables["ttree"]).num_rows > 0
    for kind in ("rntuple", "parquet"):
        assert_same_table(tables["ttree"], tables[kind])
