"""A sample ingested as several jobs (parts) and merged: byte for byte one job's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_ntuple
from ntuple_faults import corrupt_basket, write_baskets
from pipeline_helpers import truncated_ntuple

from hepml.config import config_from_dict
from hepml.exceptions import BadFile, DataError, InputFileError
from hepml.ingest.cutflow import write_cutflow
from hepml.ingest.partial import ingest_part, merge_parts, part_summary_path
from hepml.ingest.sample import ingest_sample, summary_of
from hepml.workflow.parts import split_files


def _config(directory: Path, **sample) -> tuple[dict, list[str]]:
    """Five background files of different sizes; a config over them (sample keys updated)."""
    files = []
    for i in range(5):
        path = directory / f"bkg_{i}.root"
        if not path.exists():
            write_ntuple(path, 1500 + 150 * i, seed=30 + i, signal=False)
        files.append(str(path))
    spec = {"label": "background", "files": files, "cross_section": 50.0, "weight": "genWeight"}
    config = {
        "luminosity": 10.0,
        "seed": 7,
        "reading": {"step_size": 700},  # several chunks per file
        "samples": {"bkg": spec | sample, "sig": {"label": "signal", "files": files[0]}},
        "selection": [{"name": "one_muon", "expr": "num(Muon_pt) >= 1"}],
        "features": [
            {"name": "met", "expr": "MET_pt"},
            {"name": "jet1_eta", "expr": "Jet_eta[0]"},
            {"name": "ht", "expr": "sum(Jet_pt[Jet_pt > 30])"},
        ],
        "training": {"folds": 3},
    }
    return config, files


def _outputs(cfg, result, directory: Path) -> dict[str, bytes]:
    """The table, cutflow (CSV and Markdown) and summary bytes of one way of ingesting."""
    write_cutflow(result, directory / "cutflow.csv", directory / "cutflow.md")
    summary = json.dumps(summary_of(result), indent=2, sort_keys=True)
    return {
        "table": (directory / "table.parquet").read_bytes(),
        "cutflow.csv": (directory / "cutflow.csv").read_bytes(),
        "cutflow.md": (directory / "cutflow.md").read_bytes(),
        "summary": summary.encode(),
    }


def one_job(cfg, files: list[str], directory: Path) -> dict[str, bytes]:
    directory.mkdir(parents=True)
    result = ingest_sample(cfg, "bkg", directory / "table.parquet", files=files)
    return _outputs(cfg, result, directory)


def in_parts(cfg, files: list[str], directory: Path, per_job: int) -> dict[str, bytes]:
    directory.mkdir(parents=True)
    tables = []
    for k, part in enumerate(split_files(files, per_job)):
        table = directory / f"part{k}.parquet"
        ingest_part(cfg, "bkg", table, files=list(part.files), first_file=part.first)
        tables.append(table)
    result = merge_parts(cfg, "bkg", tables, directory / "table.parquet")
    return _outputs(cfg, result, directory)


@pytest.mark.parametrize(
    ("event_number", "per_job"), [("event", 1), ("event", 2), (None, 2), (None, 3)]
)
def test_parts_merge_to_the_bytes_of_one_job(tmp_path, event_number, per_job):
    config, files = _config(tmp_path)
    config["event_number"] = event_number  # None: folds from (file index, entry)
    cfg = config_from_dict(config)
    reference = one_job(cfg, files, tmp_path / "one")
    merged = in_parts(cfg, files, tmp_path / "parts", per_job)
    for name, data in reference.items():
        assert merged[name] == data, name
    assert b"_file" in reference["table"]


@pytest.mark.parametrize(
    "sample",
    [{"sum_of_weights": 1234.5}, {"cross_section": None, "weight": "genWeight * 2"}],
    ids=["sum_of_weights from the config", "no cross section"],
)
def test_every_normalisation_merges_to_the_bytes_of_one_job(tmp_path, sample):
    config, files = _config(tmp_path)
    spec = config["samples"]["bkg"]
    spec.update(sample)
    config["samples"]["bkg"] = {k: v for k, v in spec.items() if v is not None}
    cfg = config_from_dict(config)
    reference = one_job(cfg, files, tmp_path / "one")
    assert in_parts(cfg, files, tmp_path / "parts", 2) == reference


def test_skip_works_per_part_and_merges_like_one_job(tmp_path):
    """A corrupt file (part 1) and a truncated one (part 3), each alone in its part under
    on_bad_file: skip: the merge lists them in one job's order (the truncated one first: the
    checks up front find it, the corrupt basket shows only when read) and leaves them out."""
    config, files = _config(tmp_path, on_bad_file="skip")
    write_baskets(tmp_path / "bkg_1.root", seed=4)
    corrupt_basket(tmp_path / "bkg_1.root", "MET_pt", 1)  # fails in the sums pass
    truncated_ntuple(tmp_path / "bkg_3.root", seed=3, keep=0.1)  # caught by the checks
    config["features"] = [{"name": "met", "expr": "MET_pt"}]
    config["selection"] = [{"name": "met", "expr": "MET_pt > 5"}]
    cfg = config_from_dict(config)
    reference = one_job(cfg, files, tmp_path / "one")
    merged = in_parts(cfg, files, tmp_path / "parts", 1)
    assert merged == reference
    skipped = json.loads(reference["summary"])["skipped_files"]
    assert [s["file"] for s in skipped] == [files[3], files[1]]
    # the part of the truncated file alone: no rows, its skip recorded
    part = json.loads(part_summary_path(tmp_path / "parts" / "part3.parquet").read_text())
    assert part["rows"] == 0 and part["skipped"][0]["file"] == files[3]


def test_an_error_in_one_part_fails_that_part_only(tmp_path):
    config, files = _config(tmp_path)
    truncated_ntuple(tmp_path / "bkg_4.root", seed=3, keep=0.1)
    cfg = config_from_dict(config)
    ingest_part(cfg, "bkg", tmp_path / "part0.parquet", files=files[:2], first_file=0)
    with pytest.raises(BadFile, match=r"bkg_4\.root"):
        ingest_part(cfg, "bkg", tmp_path / "part1.parquet", files=files[2:], first_file=2)
    assert not (tmp_path / "part1.parquet").exists()
    assert not part_summary_path(tmp_path / "part1.parquet").exists()


def test_merge_refuses_missing_foreign_and_stale_parts(tmp_path):
    config, files = _config(tmp_path)
    cfg = config_from_dict(config)
    parts = []
    for k, part in enumerate(split_files(files, 2)):
        parts.append(tmp_path / f"part{k}.parquet")
        ingest_part(cfg, "bkg", parts[-1], files=list(part.files), first_file=part.first)
    with pytest.raises(DataError, match=r"starts at file 2 .* end at file -1"):
        merge_parts(cfg, "bkg", parts[1:], tmp_path / "out.parquet")
    with pytest.raises(DataError, match="not a part of sample 'sig'"):
        merge_parts(cfg, "sig", parts, tmp_path / "out.parquet")
    config["selection"][0]["expr"] = "num(Muon_pt) >= 2"
    with pytest.raises(DataError, match="other settings"):
        merge_parts(config_from_dict(config), "bkg", parts, tmp_path / "out.parquet")
    part_summary_path(parts[2]).unlink()
    with pytest.raises(InputFileError, match="no summary"):
        merge_parts(cfg, "bkg", parts, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_split_files_even_runs_and_sizes():
    files = [f"f{i}" for i in range(45)]
    parts = split_files(files, 20)
    assert [len(p.files) for p in parts] == [15, 15, 15]
    assert [p.first for p in parts] == [0, 15, 30]
    assert [f for p in parts for f in p.files] == files
    assert [len(p.files) for p in split_files(files[:7], 20)] == [7]
    sizes = [50, 50, 200, 10, 10, 10, 10]
    parts = split_files(files[:7], 3, mb_per_job=100, sizes_mb=sizes)
    assert [list(p.files) for p in parts] == [
        ["f0", "f1"],
        ["f2"],  # larger than mb_per_job: a job of its own
        ["f3", "f4", "f5"],  # files_per_job still caps it
        ["f6"],
    ]
