"""Jobs per group of files, end to end: the demo ingested and applied as one job per file
gives the tables, cutflows and models of one job per sample, byte for byte; a failed part
reruns alone."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import uproot
from review_runs import workflow_run
from workflow_helpers import run_snakemake

pytestmark = pytest.mark.e2e

SAMPLES = ("vbf_h", "dy", "ttbar")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return workflow_run(tmp_path_factory, "reference"), workflow_run(tmp_path_factory, "per_file")


def _relative(run, pattern):
    """The files (not hepml's .hepml records) matching ``pattern`` under ``run``."""
    return sorted(p.relative_to(run) for p in run.glob(pattern) if p.is_file())


def test_one_job_per_file_really_ran_in_parts(runs):
    _, per_file = runs
    for sample in SAMPLES:  # the tiny demo: two files per sample
        parts = _relative(per_file, f"results/parts/ingest/{sample}/part*.parquet")
        assert [p.name for p in parts] == ["part0.parquet", "part1.parquet"], sample
        summary = json.loads((per_file / parts[1]).with_suffix(".json").read_text())
        assert summary["first_file"] == 1 and len(summary["files"]) == 1
        assert (per_file / "results/parts/apply" / sample / "part1.json").is_file()


def test_tables_cutflows_summaries_and_models_are_byte_identical(runs):
    reference, per_file = runs
    files = _relative(reference, "results/ingest/*")
    files += _relative(reference, "results/cutflow/*")
    files += _relative(reference, "results/train/fold*/*")
    files += _relative(reference, "results/apply/*.parquet")
    files += _relative(reference, "results/evaluation/metrics.csv")
    assert len(files) >= 3 * 2 + 3 * 2 + 3 * 3 + 3 + 1
    for path in files:
        assert (per_file / path).read_bytes() == (reference / path).read_bytes(), path


def test_apply_summaries_and_friend_trees_are_the_same(runs):
    reference, per_file = runs
    for sample in SAMPLES:
        summary = json.loads((reference / f"results/apply/{sample}.json").read_text())
        assert json.loads((per_file / f"results/apply/{sample}.json").read_text()) == summary
        for record in summary["files"]:
            friend = f"results/apply/{sample}/{record['friend']}"
            with uproot.open(reference / friend) as a, uproot.open(per_file / friend) as b:
                x, y = a["hepml"].arrays(library="np"), b["hepml"].arrays(library="np")
            assert x.keys() == y.keys()
            for key in x:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{friend}: {key}")


def test_a_failed_part_reruns_alone(runs, tmp_path):
    """A corrupt input file fails its part's job; the other parts are done and stay done.
    Once the file is repaired, the next run redoes only that part (and the merge)."""
    work = tmp_path / "run"
    shutil.copytree(runs[1], work, symlinks=True)
    bad = work / "resources/demo/dy_1.root"
    good = bad.read_bytes()
    tables = sorted((work / "results/parts/ingest").rglob("part*.parquet"))
    assert len(tables) == 6
    stamps = {p: p.stat().st_mtime_ns for p in tables}
    bad.write_bytes(good[: len(good) // 3])  # truncated: the part's job fails
    targets = [f"results/ingest/{s}.parquet" for s in SAMPLES]
    failed = run_snakemake(work, "--cores", "2", "--keep-going", *targets)
    assert failed.returncode != 0
    log = failed.stdout + failed.stderr
    assert "Error in rule ingest_part" in log and "dy_1.root" in log, log[-3000:]
    assert not (work / "results/parts/ingest/dy/part1.parquet").exists()
    for path, stamp in stamps.items():
        if path.parent.name != "dy" or path.name != "part1.parquet":
            assert path.stat().st_mtime_ns == stamp, path  # untouched

    bad.write_bytes(good)
    rerun = run_snakemake(work, "--cores", "2", *targets)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = rerun.stdout + rerun.stderr
    ran = re.findall(r"^(?:local)?rule (\w+):", log, flags=re.MULTILINE)
    assert sorted(ran) == ["ingest_merge", "ingest_part"], log[-3000:]
    assert "sample=dy, part=1" in log
    for path, stamp in stamps.items():
        if path.parent.name != "dy" or path.name != "part1.parquet":
            assert path.stat().st_mtime_ns == stamp, path
    table = "results/ingest/dy.parquet"
    assert (work / table).read_bytes() == (runs[0] / table).read_bytes()
