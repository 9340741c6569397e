"""Apply with bad input files: ``on_bad_file: error`` names the file and writes nothing;
``skip`` leaves the file out (no friend file, no Parquet rows, listed in the summary) while the
other files keep their (file, entry) folds, so their scores still equal the out-of-fold scores
of training bit for bit."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from conftest import write_ntuple
from ntuple_faults import corrupt_basket
from pipeline_helpers import build_pipeline, friend_arrays, load_models, truncated_ntuple

from hepml.apply.samples import apply_sample
from hepml.config import config_from_dict
from hepml.exceptions import BadFile, InputFileError

STEP = 300  # entries per chunk: a file broken in its third basket has written two chunks


def broken_basket_ntuple(path, seed: int, *, signal: bool = True) -> None:
    """An ntuple in three baskets of 300 entries whose third MET_pt basket is corrupt: it
    opens and passes every check, then fails after entry 600."""
    arrays = write_ntuple(path, 900, seed=seed, signal=signal)
    arrays["MET_pt"] = (np.round(arrays["MET_pt"] * 4) / 4).astype(np.float32)  # compressible
    with uproot.recreate(path) as out:
        for i in range(3):
            part = {k: v[i * STEP : (i + 1) * STEP] for k, v in arrays.items()}
            if i == 0:
                out.mktree("events", part)
            else:
                out["events"].extend(part)
    corrupt_basket(path, "MET_pt", 2)


BAD = {
    "truncated_header": lambda path, seed: truncated_ntuple(path, seed, keep=0.1),
    "truncated": truncated_ntuple,
    "broken_basket": broken_basket_ntuple,
}
REASON = {
    "truncated_header": "cannot read tree 'events'",
    "truncated": "failed after entry 0",
    "broken_basket": "failed after entry 600",
}


def config_with_bad_file(small_config, tmp_path, kind: str, position: int, folds: str) -> dict:
    """small_config whose signal sample has a bad file at ``position`` among its files."""
    config = copy.deepcopy(small_config)
    bad = tmp_path / "bad.root"
    BAD[kind](bad, seed=31)
    files = [str(tmp_path / "sig_0.root"), str(tmp_path / "sig_1.root")]
    files.insert(position, str(bad))
    config["samples"]["sig"]["files"] = files
    config["reading"] = {"step_size": STEP, "on_bad_file": "skip"}
    if folds == "(file, entry)":
        config["event_number"] = "none"  # folds from (file, entry)
    return config


@pytest.mark.parametrize(
    ("kind", "position", "folds", "policy_of"),
    [
        ("truncated_header", 0, "(file, entry)", "reading"),
        ("truncated", 2, "event", "reading"),
        ("broken_basket", 0, "(file, entry)", "reading"),
        ("broken_basket", 1, "event", "sample"),
    ],
)
def test_skipped_file_leaves_the_other_scores_equal_to_training(
    small_config, tmp_path, caplog, kind, position, folds, policy_of
):
    config = config_with_bad_file(small_config, tmp_path, kind, position, folds)
    if policy_of == "sample":  # the sample's own policy wins over reading.on_bad_file
        config["reading"]["on_bad_file"] = "error"
        config["samples"]["sig"]["on_bad_file"] = "skip"
    p = build_pipeline(config, tmp_path)  # ingest skips the file too
    with caplog.at_level(logging.WARNING):
        summary = apply_sample(p["config"], "sig", load_models(p), p["out"])
    bad = str(tmp_path / "bad.root")

    assert summary["fold_source"] == folds
    assert [s["file"] for s in summary["skipped_files"]] == [bad]
    assert REASON[kind] in summary["skipped_files"][0]["reason"]
    assert f"skipping a bad file: {summary['skipped_files'][0]['reason']}" in caplog.text
    records = summary["files"]
    assert [r["source"] for r in records][position] == f"{bad}:events"  # kept in the list
    assert records[position] | {"source": None} == {
        "source": None,
        "friend": None,
        "entries": 0,
        "selected": 0,
    }
    good = [i for i in range(3) if i != position]
    friends = sorted(f.name for f in (p["out"] / "sig").iterdir())
    assert friends == [".hepml", "sig_0.root", "sig_1.root"]  # .hepml: hepml.outputs' ledger
    assert summary["entries"] == sum(records[i]["entries"] for i in good) == 3000

    # the Parquet table: no row of the bad file, every row of the others as in their friends
    table = pq.read_table(p["out"] / "sig.parquet").to_pydict()
    file_column = np.array(table["file"])
    assert set(file_column) == set(good)
    friends = {i: friend_arrays(p["out"] / "sig" / records[i]["friend"]) for i in good}
    for i in good:
        rows = file_column == i
        np.testing.assert_array_equal(np.array(table["entry"])[rows], np.arange(rows.sum()))
        np.testing.assert_array_equal(np.array(table["bdt_score"])[rows], friends[i]["bdt_score"])
        np.testing.assert_array_equal(np.array(table["fold"])[rows], friends[i]["fold"])

    # every out-of-fold score of training reappears, bit for bit, at its (file, entry)
    n_checked = 0
    for path in p["scores"]:
        t = pq.read_table(path).to_pydict()
        for sample, file, entry, score, role in zip(
            t["sample"], t["file"], t["entry"], t["score"], t["set"], strict=True
        ):
            if sample == "sig" and role == "test":
                assert friends[file]["bdt_score"][entry] == score, (file, entry)
                n_checked += 1
    assert n_checked == pq.read_metadata(p["tables"]["sig"]).num_rows == summary["selected"]


@pytest.mark.parametrize(("kind", "position"), [("truncated_header", 0), ("broken_basket", 1)])
def test_bad_file_is_an_error_naming_it_by_default(small_config, tmp_path, kind, position):
    config = config_with_bad_file(small_config, tmp_path, kind, position, "(file, entry)")
    p = build_pipeline(config, tmp_path)  # trained with skip: reading is not in the model hash
    config["reading"]["on_bad_file"] = "error"
    cfg = config_from_dict(config)
    with pytest.raises(BadFile, match=r"^sample 'sig': .*on_bad_file: skip would skip") as err:
        apply_sample(cfg, "sig", load_models(p, cfg), p["out"])
    assert f"'{tmp_path / 'bad.root'}'" in str(err.value) and REASON[kind] in str(err.value)
    assert not p["out"].exists() or sorted(p["out"].iterdir()) == []  # nothing half-written


def test_extra_sample_own_policy_and_every_file_bad(small_config, tmp_path):
    write_ntuple(tmp_path / "data" / "run_1.root", 700, seed=41, signal=False)
    broken_basket_ntuple(tmp_path / "data" / "run_0.root", seed=42, signal=False)
    truncated_ntuple(tmp_path / "data" / "run_2.root", seed=43)
    d = tmp_path / "data"
    small_config["reading"] = {"step_size": STEP}  # on_bad_file: error
    skip = {"on_bad_file": "skip"}  # the extra samples' own policy
    small_config["apply"] = {
        "samples": {
            "data": {"files": [str(d / "run_0.root"), str(d / "run_1.root")], **skip},
            "alone": {"files": str(d / "run_1.root")},
            "none_good": {"files": [str(d / "run_0.root"), str(d / "run_2.root")], **skip},
        }
    }
    p = build_pipeline(small_config, tmp_path)
    models = load_models(p)
    data = apply_sample(p["config"], "data", models, p["out"])
    alone = apply_sample(p["config"], "alone", models, p["out"])
    assert [s["file"] for s in data["skipped_files"]] == [str(d / "run_0.root")]
    assert alone["skipped_files"] == []
    assert sorted(f.name for f in (p["out"] / "data").iterdir()) == [".hepml", "run_1.root"]
    with_bad, without = (
        friend_arrays(p["out"] / "data" / "run_1.root"),
        friend_arrays(p["out"] / "alone" / "run_1.root"),
    )
    for branch in without:  # event-number folds: the same scores as without the bad file
        np.testing.assert_array_equal(with_bad[branch], without[branch])
    assert set(pq.read_table(p["out"] / "data.parquet").column("file").to_numpy()) == {1}
    # both files pass the checks, then fail while read: none is left, nothing is written
    with pytest.raises(InputFileError, match=r"'none_good': none of its 2 file\(s\) can be read"):
        apply_sample(p["config"], "none_good", models, p["out"])
    assert not list(p["out"].glob("none_good*")) and not list(p["out"].glob(".none_good*"))
