"""Input files: finding them, checking them up front, reading them, and surviving damaged ones."""

from __future__ import annotations

import logging
import random

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from ntuple_faults import corrupt_basket, damaged_copy, write_baskets

from hepml.config import config_from_dict
from hepml.exceptions import BadFile, ExpressionError, HepmlError, InputFileError, UnknownBranch
from hepml.ingest.reading import (
    InputFile,
    check_branch_types,
    check_branches,
    check_entries,
    iterate_file,
    located,
    open_source,
    reason,
    resolve_files,
)
from hepml.ingest.sample import ingest_sample


def test_resolve_files_sorted_with_tree_suffix(tmp_path):
    for name in ("b.root", "a.root", "c.root"):
        write_baskets(tmp_path / name, baskets=1, per_basket=10)
    files = resolve_files(
        "s",
        (str(tmp_path / "[bc].root"), f"{tmp_path / 'a.root'}:other", "root://eos.example//x.root"),
        "events",
    )
    assert [(f.path, f.tree) for f in files] == [
        (str(tmp_path / "b.root"), "events"),
        (str(tmp_path / "c.root"), "events"),
        (str(tmp_path / "a.root"), "other"),
        ("root://eos.example//x.root", "events"),  # remote: passed through, no glob
    ]


def test_resolve_files_empty_glob_suggests(tmp_path):
    write_baskets(tmp_path / "signal_0.root", baskets=1, per_basket=10)
    with pytest.raises(InputFileError, match=r"sample 's': no file .*Did you mean 'signal_0.root'"):
        resolve_files("s", (str(tmp_path / "signl_0.root"),), "events")
    with pytest.raises(InputFileError, match=r"directory .* does not exist"):
        resolve_files("s", (str(tmp_path / "nowhere" / "*.root"),), "events")


def test_open_errors_name_the_file(tmp_path):
    (tmp_path / "text.root").write_text("not ROOT")
    text = InputFile(str(tmp_path / "text.root"), "events")
    with (
        pytest.raises(BadFile, match=r"text.root.*cannot be read as a ROOT file"),
        open_source(text),
    ):
        pass
    missing = InputFile(str(tmp_path / "gone.root"), "events")
    with (
        pytest.raises(InputFileError, match=r"gone.root' does not exist") as info,
        open_source(missing),
    ):
        pass
    assert not isinstance(info.value, BadFile)  # a missing file is never skipped


def test_missing_tree_and_wrong_type(tmp_path):
    path = tmp_path / "f.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"x": np.arange(3.0)})
        f["events"] = (np.array([1.0, 2.0]), np.array([0.0, 1.0, 2.0]))  # a TH1D named events
    histogram, typo = InputFile(str(path), "events"), InputFile(str(path), "Event")
    with pytest.raises(BadFile, match=r"'events' in .*f.root' is a .*TH1D.*not a TTree"):
        open_source(histogram)
    with pytest.raises(
        BadFile, match=r"no tree 'Event'.*Did you mean 'Events'.*TTrees in .*Events"
    ):
        open_source(typo)


def test_zero_entries_is_a_bad_file(tmp_path):
    path = tmp_path / "empty.root"
    with uproot.recreate(path) as f:
        f.mktree("events", {"x": np.zeros(0)})
    file = InputFile(str(path), "events")
    with open_source(file) as source, pytest.raises(BadFile, match=r"empty.root' has no entries"):
        check_entries(source)


def test_branch_checks_name_branch_file_and_type(tmp_path):
    path = tmp_path / "types.root"
    with uproot.recreate(path) as f:
        f.mktree(
            "events",
            {
                "x": np.arange(3.0),
                "flag": np.array([True, False, True]),
                "jets": ak.Array([[1.0], [], [2.0, 3.0]]),
                "name": ak.Array(["a", "bb", "c"]),
            },
        )
    file = InputFile(str(path), "events")
    with open_source(file) as source:
        check_branch_types(source, {"x": "a", "flag": "b", "jets": "c"})  # all numeric
        with pytest.raises(ExpressionError, match=r"feature 'n' needs branch 'name'.*char\*"):
            check_branch_types(source, {"name": "feature 'n'"})
        with pytest.raises(UnknownBranch, match=r"'jet'.*types.root.*Did you mean 'jets'"):
            check_branches(source, {"jet": "feature 'j'"})


def test_iterate_file_covers_every_entry_in_order(tmp_path):
    path = tmp_path / "f.root"
    truth = write_baskets(path, baskets=3, per_basket=250)
    chunks = list(iterate_file(InputFile(str(path), "events"), {"MET_pt", "event"}, 100))
    assert [(start, stop) for _, start, stop in chunks] == [
        (i, min(i + 100, 750)) for i in range(0, 750, 100)
    ]
    met = np.concatenate([ak.to_numpy(c.MET_pt) for c, _, _ in chunks])
    np.testing.assert_array_equal(met, truth["MET_pt"])
    assert set(chunks[0][0].fields) == {"MET_pt", "event"}


def test_iterate_file_corrupt_basket_is_a_bad_file(tmp_path):
    path = tmp_path / "f.root"
    write_baskets(path, baskets=3, per_basket=250)
    corrupt_basket(path, "MET_pt", 2)
    chunks = iterate_file(InputFile(str(path), "events"), {"MET_pt"}, 250)
    assert len(next(chunks)[0]) == 250  # the first baskets are intact
    next(chunks)
    with pytest.raises(BadFile, match=r"reading '.*f.root' .* failed after entry 500.*corrupt"):
        next(chunks)


def test_iterate_file_leaves_callers_errors_alone(tmp_path):
    path = tmp_path / "f.root"
    write_baskets(path, baskets=1, per_basket=10)
    with pytest.raises(ak.errors.FieldNotFoundError):  # not a BadFile: the caller's bug
        for chunk, _, _ in iterate_file(InputFile(str(path), "events"), {"MET_pt"}, 5):
            chunk["nope"]


def test_located_and_reason_keep_class_and_flatten():
    err = located(UnknownBranch("feature 'x': no"), "in 'a.root'")
    assert type(err) is UnknownBranch
    assert str(err) == "feature 'x': no (in 'a.root')"
    assert reason(OSError("two\n   lines")) == "OSError: two lines"
    assert len(reason(ValueError("x" * 1000))) == 300


# Fuzzing: damaged copies of every real file. Each must give a result or a HepmlError naming
# the damaged file; never another exception, never partial output.
REAL_FILES = {
    "scikit-hep-testdata/uproot-HZZ-zlib.root": ("events", ["Muon_Px[0]", "m_lead(Jet, 2)"]),
    "scikit-hep-testdata/uproot-HZZ-lz4.root": ("events", ["sum(Jet_E)", "MET_px"]),
    "scikit-hep-testdata/uproot-HZZ-lzma.root": ("events", ["num(Muon_Px)", "pt(Jet)[0]"]),
    "scikit-hep-testdata/uproot-HZZ-zstd.root": ("events", ["Jet_Py[1]", "NJet"]),
    "scikit-hep-testdata/uproot-HZZ-uncompressed.root": ("events", ["Muon_E[0]", "m_lead(Muon)"]),
    "scikit-hep-testdata/uproot-Zmumu.root": ("events", ["M", "hypot(px1, py1)"]),
    "scikit-hep-testdata/nanoAOD_2015_CMS_Open_Data_ttbar.root": (
        "Events",
        ["m_lead(Jet, 2)", "num(Muon_pt)"],
    ),
    "cms-hep-tutorial/ww.root": ("events", ["pt(Jet)[0]", "MET_px"]),
    "cms-hep-tutorial/qcd.root": ("events", ["max(Jet_btag)", "NJet"]),
}


def _fuzz_config(files, tree: str, features: list[str], policy: str) -> dict:
    return {
        "event_number": "none",  # not every file has one: folds from (file, entry)
        "reading": {"on_bad_file": policy, "step_size": 500},
        "samples": {
            "fuzzed": {"label": "signal", "files": files, "tree": tree, "cross_section": 1.0},
            "other": {"label": "background", "files": "unused.root"},
        },
        "features": [{"name": f"f{i}", "expr": e} for i, e in enumerate(features)],
        "training": {},
    }


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_fuzz_damaged_real_files(shared_data, tmp_path, name, caplog):
    caplog.set_level(logging.ERROR)
    tree, features = REAL_FILES[name]
    rng = random.Random(name)  # deterministic per file
    outcomes = []
    for case in range(6):
        damaged = tmp_path / f"damaged_{case}.root"
        mode = damaged_copy(shared_data / name, damaged, rng)
        out = tmp_path / f"out_{case}.parquet"
        cfg = config_from_dict(_fuzz_config(str(damaged), tree, features, "error"))
        try:
            ingest_sample(cfg, "fuzzed", out)
        except HepmlError as err:
            assert str(damaged) in str(err), f"{mode}: the error does not name the file: {err}"
            assert not out.exists()
            outcomes.append("error")
        else:  # e.g. a flipped bit in a value: a clean result
            assert pq.read_table(out).num_rows > 0
            outcomes.append("result")
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".out_{case}")]
    assert "error" in outcomes  # the damage was noticed at least once


@pytest.mark.parametrize("name", ["scikit-hep-testdata/uproot-HZZ-zlib.root"])
def test_fuzz_with_skip_keeps_the_good_file(shared_data, tmp_path, name):
    tree, features = REAL_FILES[name]
    rng = random.Random(1)
    good = tmp_path / "a_good.root"
    good.write_bytes((shared_data / name).read_bytes())
    with uproot.open(good) as handle:
        entries = handle[tree].num_entries
    for _ in range(6):
        damaged = tmp_path / "b_damaged.root"
        damaged_copy(shared_data / name, damaged, rng)
        cfg = config_from_dict(_fuzz_config([str(good), str(damaged)], tree, features, "skip"))
        result = ingest_sample(cfg, "fuzzed", tmp_path / "out.parquet")
        skipped = [s["file"] for s in result.skipped_files]
        assert skipped in ([], [str(damaged)])
        assert result.entries == entries * (2 - len(skipped))
