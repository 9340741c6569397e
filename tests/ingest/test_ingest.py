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
from ntuple_faults import corrupt_basket, write_baskets

from hepml.config import config_from_dict
from hepml.exceptions import BadFile, DataError, ExpressionError, InputFileError, UnknownBranch
from hepml.folds import fold_of_event
from hepml.ingest.sample import ingest_sample, summary_of, write_cutflow


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


def test_event_number_none_folds_on_file_and_entry(small_config, tmp_path, caplog):
    small_config["event_number"] = "none"
    result = ingest_sample(config_from_dict(small_config), "sig", tmp_path / "s.parquet")
    assert result.fold_source == "(file, entry)"
    table = pq.read_table(tmp_path / "s.parquet").to_pydict()
    expected = [
        fold_of_event([np.array([f], np.uint64), np.array([e], np.uint64)], 3, 7)[0]
        for f, e in zip(table["_file"], table["_entry"], strict=True)
    ]
    assert table["_fold"] == expected
    assert not caplog.records  # declared: said once at validation, never per job


def test_configured_event_number_missing_is_an_error(small_config, tmp_path):
    """A configured branch the files lack stops ingest, never a quiet (file, entry) fallback."""
    small_config["event_number"] = "evnt"
    out = tmp_path / "s.parquet"
    with pytest.raises(
        UnknownBranch, match=r"event_number needs branch 'evnt'.*Did you mean 'event'.*none"
    ):
        ingest_sample(config_from_dict(small_config), "sig", out)
    assert not out.exists()


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


# Bad files: an error naming the file by default; with on_bad_file: skip, a warning, a record
# in the summary and the cutflow, and the numbers of the good files alone.
def _bad_file(kind: str, directory, good_source):
    path = directory / f"b_{kind}.root"
    if kind == "not_root":
        path.write_text("this is a text file")
    elif kind == "truncated":
        data = good_source.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "corrupt":
        write_baskets(path, baskets=3, per_basket=200, seed=9, first_event=10_000)
        corrupt_basket(path, "MET_pt", 1)
    elif kind == "empty":
        with uproot.recreate(path) as f:
            f.mktree("events", {"event": np.zeros(0, np.uint64), "MET_pt": np.zeros(0, np.float32)})
    elif kind == "wrong_type":
        with uproot.recreate(path) as f:
            f["events"] = (np.array([1.0]), np.array([0.0, 1.0]))
    return path


def _skip_config(tmp_path, files, policy=None) -> dict:
    data = {
        "luminosity": 10.0,
        "reading": {"step_size": 200},
        "samples": {
            "s": {
                "label": "signal",
                "files": [str(f) for f in files],
                "cross_section": 4.0,
                "weight": "genWeight",
            },
            "b": {"label": "background", "files": "x.root"},
        },
        "selection": [{"name": "met", "expr": "MET_pt > 10"}],
        "features": [{"name": "met", "expr": "MET_pt"}, {"name": "j1", "expr": "Jet_pt[0]"}],
        "training": {},
    }
    if policy:
        data["reading"]["on_bad_file"] = policy
    return data


@pytest.fixture
def good_files(tmp_path):
    return [
        write_baskets(tmp_path / "a_good.root", 3, 200, seed=1) and tmp_path / "a_good.root",
        write_baskets(tmp_path / "c_good.root", 3, 200, seed=2, first_event=5000)
        and tmp_path / "c_good.root",
    ]


BAD_KINDS = ["not_root", "truncated", "corrupt", "empty", "wrong_type"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_is_an_error_by_default(tmp_path, good_files, kind):
    bad = _bad_file(kind, tmp_path, good_files[0])
    cfg = config_from_dict(_skip_config(tmp_path, [good_files[0], bad, good_files[1]]))
    with pytest.raises(BadFile, match=rf"sample 's':.*{bad.name}.*on_bad_file: skip"):
        ingest_sample(cfg, "s", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")]


def _columns(path) -> dict:
    table = pq.read_table(path).to_pydict()
    return {k: np.asarray(v) for k, v in table.items() if k != "_file"}


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_skipped_leaves_the_good_files_numbers(tmp_path, good_files, kind, caplog):
    bad = _bad_file(kind, tmp_path, good_files[0])
    files = [good_files[0], bad, good_files[1]]
    skip = ingest_sample(
        config_from_dict(_skip_config(tmp_path, files, "skip")), "s", tmp_path / "skip.parquet"
    )
    alone = ingest_sample(
        config_from_dict(_skip_config(tmp_path, good_files)), "s", tmp_path / "alone.parquet"
    )
    assert [s["file"] for s in skip.skipped_files] == [str(bad)]
    assert f"skipping a bad file: {skip.skipped_files[0]['reason']}" in caplog.text
    assert skip.cutflow.events == alone.cutflow.events
    assert skip.cutflow.weighted == pytest.approx(alone.cutflow.weighted, rel=1e-12)
    assert skip.sum_of_weights == alone.sum_of_weights
    assert skip.entries == alone.entries == 1200
    a, b = _columns(tmp_path / "skip.parquet"), _columns(tmp_path / "alone.parquet")
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)
    assert set(pq.read_table(tmp_path / "skip.parquet").column("_file").to_numpy()) == {0, 2}
    summary = summary_of(skip)
    assert summary["skipped_files"] == skip.skipped_files
    write_cutflow(skip, tmp_path / "cf.csv", tmp_path / "cf.md")
    assert f"`{bad}`" in (tmp_path / "cf.md").read_text()
    assert "1 file(s) skipped" in (tmp_path / "cf.md").read_text()


def test_file_failing_half_way_is_purged_and_renormalised(tmp_path, good_files):
    middle = tmp_path / "b_middle.root"
    write_baskets(middle, baskets=3, per_basket=200, seed=7, first_event=2000)
    corrupt_basket(middle, "MET_pt", 2)  # genWeight intact: the sum-of-weights pass reads it
    files = [good_files[0], middle, good_files[1]]
    data = _skip_config(tmp_path, files)
    data["samples"]["s"]["on_bad_file"] = "skip"  # the sample's own policy wins
    result = ingest_sample(config_from_dict(data), "s", tmp_path / "skip.parquet")
    alone = ingest_sample(
        config_from_dict(_skip_config(tmp_path, good_files)), "s", tmp_path / "alone.parquet"
    )
    assert "failed after entry 400" in result.skipped_files[0]["reason"]
    assert result.sum_of_weights == alone.sum_of_weights  # the middle file's share removed
    assert result.normalisation == pytest.approx(alone.normalisation, rel=1e-15)
    a, b = _columns(tmp_path / "skip.parquet"), _columns(tmp_path / "alone.parquet")
    assert len(a["met"]) == len(b["met"]) == result.cutflow.events[-1]
    for name in a:  # rows of the middle file's first 400 entries are gone, weights rescaled
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)


def test_every_file_bad_is_an_error_even_with_skip(tmp_path, good_files):
    bad = [_bad_file(k, tmp_path, good_files[0]) for k in ("not_root", "empty")]
    with pytest.raises(InputFileError, match=r"none of its 2 file\(s\) can be read.*b_empty"):
        ingest_sample(
            config_from_dict(_skip_config(tmp_path, bad, "skip")), "s", tmp_path / "o.parquet"
        )


def test_skip_with_sum_of_weights_from_config_warns(tmp_path, good_files, caplog):
    bad = _bad_file("not_root", tmp_path, good_files[0])
    data = _skip_config(tmp_path, [*good_files, bad], "skip")
    data["samples"]["s"]["sum_of_weights"] = 1000.0
    result = ingest_sample(config_from_dict(data), "s", tmp_path / "o.parquet")
    assert result.normalisation == pytest.approx(4.0 * 10.0 * 1000.0 / 1000.0)
    assert "yield is underestimated" in caplog.text


def test_nan_counted_inf_refused_with_file(small_config, tmp_path):
    small_config["features"].append({"name": "log_met", "expr": "log(MET_pt - 20)"})
    result = ingest_sample(config_from_dict(small_config), "bkg", tmp_path / "o.parquet")
    ev = _read_all(small_config["samples"]["bkg"]["files"][0])
    sel = ev[(ak.num(ev.Muon_pt) >= 1) & (ev.MET_pt > 5)]
    expected = int(np.sum(ak.to_numpy(sel.MET_pt) < 20))  # log of a negative number: NaN
    assert result.nan_counts["log_met"] == expected > 0
    assert result.nan_counts["jet1_eta"] == int(np.sum(ak.num(sel.Jet_eta) == 0))
    assert summary_of(result)["nan_counts"] == result.nan_counts
    small_config["features"][-1]["expr"] = "log(MET_pt - MET_pt)"  # -inf for every event
    with pytest.raises(DataError, match=r"feature 'log_met' is infinite for \d+ .*bkg_0.root"):
        ingest_sample(config_from_dict(small_config), "bkg", tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()


def test_only_file_failing_half_way_is_reported_as_unreadable(tmp_path):
    path = tmp_path / "only.root"
    write_baskets(path, baskets=3, per_basket=200, seed=3)
    corrupt_basket(path, "MET_pt", 2)
    cfg = config_from_dict(_skip_config(tmp_path, [path], "skip"))
    with pytest.raises(
        InputFileError, match=r"none of its 1 file\(s\) can be read.*after entry 400"
    ):
        ingest_sample(cfg, "s", tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("sample", ["sig", "bkg"])
def test_selected_weights_summing_negative_is_an_error(small_config, tmp_path, sample):
    """The generator weights sum positive, the selected events' weights negative."""
    data = copy.deepcopy(small_config)
    data["samples"][sample].update(
        weight="genWeight * where(MET_pt > 5, -1, 1)", generator_weight="genWeight"
    )
    out = tmp_path / "never.parquet"
    with pytest.raises(DataError) as info:
        ingest_sample(config_from_dict(data), sample, out)
    message = str(info.value)
    assert f"sample '{sample}'" in message
    assert "sum to -" in message  # the (negative) weighted yield is given
    assert not out.exists()


def test_feature_named_like_a_function(small_config, tmp_path):
    """``sum`` the feature and ``sum(...)`` the function live side by side."""
    data = copy.deepcopy(small_config)
    data["features"] += [
        {"name": "sum", "expr": "MET_pt"},
        {"name": "both", "expr": "sum * 2 + sum(Jet_pt)"},
    ]
    out = tmp_path / "bkg.parquet"
    ingest_sample(config_from_dict(data), "bkg", out)
    table = pq.read_table(out).to_pydict()
    ev = _read_all(small_config["samples"]["bkg"]["files"][0])
    sel = ev[(ak.num(ev.Muon_pt) >= 1) & (ev.MET_pt > 5)]
    expected = 2 * ak.to_numpy(sel.MET_pt) + ak.to_numpy(ak.sum(sel.Jet_pt, axis=1))
    np.testing.assert_allclose(table["both"], expected, rtol=1e-6)
    np.testing.assert_allclose(table["sum"], ak.to_numpy(sel.MET_pt), rtol=1e-7)
