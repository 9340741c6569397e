"""A sample scored as several jobs (parts) and merged: the outputs of one job."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import write_ntuple
from pipeline_helpers import build_pipeline, friend_arrays, load_models, truncated_ntuple

from hepml.apply.merge import merge_parts
from hepml.apply.samples import ApplyPart, apply_sample
from hepml.config import config_from_dict
from hepml.exceptions import DataError
from hepml.workflow.parts import split_files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The small pipeline, trained once; an extra sample of five files, two of one name."""
    from conftest import make_small_config

    base = tmp_path_factory.mktemp("parts")
    config = make_small_config(base)
    config["event_number"] = None  # folds from (file index, entry): the index must carry over
    pipeline = build_pipeline(config, base)
    files = []
    for i in range(5):
        directory = base / "extra" / ("a" if i < 3 else "b")
        name = f"data_{i % 3}.root"  # data_0.root twice: friend names carry the index
        write_ntuple(directory / name, 700 + 50 * i, seed=60 + i, signal=i % 2 == 0)
        files.append(str(directory / name))
    config["apply"] = {"samples": {"extra": {"files": files}}, "data_model": "fold"}
    pipeline.update(config_dict=config, files=files, base=base)
    return pipeline


def _run(pipeline, config, sample, files, out, per_job=None, indexed=False):
    cfg = config_from_dict(config)
    models = load_models(pipeline, cfg)
    if per_job is None:
        return apply_sample(cfg, sample, models, out, files=files)
    summaries = []
    for k, part in enumerate(split_files(files, per_job)):
        where = out / "parts"
        apply_part = ApplyPart(k, part.first, indexed)
        apply_sample(cfg, sample, models, where, files=list(part.files), part=apply_part)
        summaries.append(where / f"part{k}.json")
    return merge_parts(cfg, sample, summaries, out)


def _same_outputs(one, merged, sample):
    assert (merged / f"{sample}.parquet").read_bytes() == (one / f"{sample}.parquet").read_bytes()
    a = json.loads((one / f"{sample}.json").read_text())
    b = json.loads((merged / f"{sample}.json").read_text())
    for summary, root in ((a, one), (b, merged)):
        summary["friend_dir"] = os.path.relpath(summary["friend_dir"], root)
        summary["parquet"] = os.path.relpath(summary["parquet"], root)
    assert a == b
    names = sorted(p.name for p in (one / sample).iterdir() if p.suffix == ".root")
    assert names == sorted(p.name for p in (merged / sample).iterdir() if p.suffix == ".root")
    for name in names:
        x, y = friend_arrays(one / sample / name), friend_arrays(merged / sample / name)
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}: {key}")
    return a


@pytest.mark.parametrize("per_job", [1, 2])
def test_parts_merge_to_one_jobs_outputs_with_indexed_friend_names(trained, tmp_path, per_job):
    config, files = trained["config_dict"], trained["files"]
    _run(trained, config, "extra", files, tmp_path / "one")
    _run(trained, config, "extra", files, tmp_path / "merged", per_job, indexed=True)
    summary = _same_outputs(tmp_path / "one", tmp_path / "merged", "extra")
    assert [r["friend"] for r in summary["files"]][:2] == ["0000_data_0.root", "0001_data_1.root"]
    # no copy: the merged friend files are the parts' files
    merged, part = tmp_path / "merged" / "extra", tmp_path / "merged" / "parts" / "part0"
    assert (merged / "0000_data_0.root").stat().st_ino == (part / "0000_data_0.root").stat().st_ino


def test_a_file_failing_half_way_is_skipped_per_part_and_keeps_its_index(trained, tmp_path):
    """(file, entry) folds need each file's index in the sample; a truncated file in the
    middle, skipped by its own part, keeps its index: the merge equals one job."""
    config = json.loads(json.dumps(trained["config_dict"]))
    (tmp_path / "in").mkdir()
    bad = tmp_path / "in" / "bad.root"
    truncated_ntuple(bad, seed=3, keep=2 / 3)  # its tree opens; reading it fails half-way
    files = [trained["files"][0], str(bad), trained["files"][4]]
    config["apply"]["samples"] = {"skipping": {"files": files, "on_bad_file": "skip"}}
    _run(trained, config, "skipping", files, tmp_path / "one")
    _run(trained, config, "skipping", files, tmp_path / "merged", 1)
    summary = _same_outputs(tmp_path / "one", tmp_path / "merged", "skipping")
    assert [s["file"] for s in summary["skipped_files"]] == [files[1]]
    assert [r["friend"] for r in summary["files"]] == ["data_0.root", None, "data_1.root"]


def test_merge_refuses_parts_out_of_order_or_of_other_models(trained, tmp_path):
    config, files = trained["config_dict"], trained["files"]
    _run(trained, config, "extra", files, tmp_path / "merged", 2, indexed=True)
    parts = [tmp_path / "merged" / "parts" / f"part{k}.json" for k in range(3)]
    cfg = config_from_dict(config)
    with pytest.raises(DataError, match="starts at file 2"):
        merge_parts(cfg, "extra", parts[1:], tmp_path / "again")
    record = json.loads(parts[2].read_text())
    record["config_hash"] = "0" * 16
    shutil.copy(parts[2], tmp_path / "saved.json")
    parts[2].write_text(json.dumps(record))
    with pytest.raises(DataError, match="differ in config_hash"):
        merge_parts(cfg, "extra", parts, tmp_path / "again")
    assert not (tmp_path / "again").exists()
