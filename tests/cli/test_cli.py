"""The hepml command line: user mistakes give one readable line and exit status 2."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import yaml
from conftest import ROOT

from hepml.cli.app import main


def test_validate_shipped_config(capsys):
    assert main(["validate", "--config", str(ROOT / "config" / "config.yaml")]) == 0


def test_config_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["training"]["fols"] = 3
    bad.write_text(yaml.safe_dump(cfg))
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "validate", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "unknown key 'training.fols'. Did you mean 'folds'?" in run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_sample_suggests(tmp_path, capsys):
    code = main(
        [
            "ingest",
            "--config",
            str(ROOT / "config" / "config.yaml"),
            "--sample",
            "vbf_hh",
            "--output",
            str(tmp_path / "x.parquet"),
            "--cutflow",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert "no sample 'vbf_hh'" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_ingest_missing_files_names_sample(tmp_path, capsys):
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg.pop("demo")
    cfg["samples"]["dy"]["files"] = str(tmp_path / "nowhere" / "dy_*.root")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = main(
        [
            "ingest",
            "--config",
            str(path),
            "--sample",
            "dy",
            "--output",
            str(tmp_path / "dy.parquet"),
            "--cutflow",
            str(tmp_path / "dy.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "sample 'dy': no file matches" in err
    assert "does not exist" in err


def test_make_demo_and_config_merge(tmp_path):
    override = tmp_path / "small.yaml"
    override.write_text(
        yaml.safe_dump(
            {"demo": {"directory": str(tmp_path / "demo"), "events": 900, "files_per_process": 1}}
        )
    )
    assert (
        main(
            [
                "make-demo",
                "--config",
                str(ROOT / "config" / "config.yaml"),
                "--config",
                str(override),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        ".hepml",  # the ledger of what hepml wrote (hepml.outputs)
        "dy_0.root",
        "ttbar_0.root",
        "vbf_h_0.root",
    ]


def test_logged_peak_memory_is_the_jobs_own_not_its_parents():
    """A job started by a big process (Snakemake, a benchmark) logs its own peak memory."""
    ballast = np.ones(100_000_000)  # 800 MB resident in this (the parent) process
    run = subprocess.run(
        [sys.executable, "-m", "hepml", "validate", "--config", str(ROOT / "config/config.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    peak = float(re.search(r"peak memory: (\d+) MB", run.stderr).group(1))
    assert 10 < peak < 500, run.stderr
    assert ballast.sum() == 1e8
