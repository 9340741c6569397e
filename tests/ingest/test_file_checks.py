"""`hepml validate --check-files`: the first file of every sample checked in seconds, every
problem reported on its own line, naming the sample, the file and the expression."""

from __future__ import annotations

import logging

import pytest
import yaml
from conftest import ROOT, write_ntuple
from kinds_helpers import write_other_kinds

from hepml.cli.app import main
from hepml.config import config_from_dict
from hepml.ingest.file_checks import check_config_files


@pytest.fixture
def analysis(tmp_path) -> dict:
    """A config whose samples are of three kinds: sig TTrees, bkg Parquet, data an RNTuple."""
    for i in range(2):
        write_ntuple(tmp_path / f"sig_{i}.root", 1200, seed=i, signal=True)
        arrays = write_ntuple(tmp_path / "scratch" / f"bkg_{i}.root", 1500, seed=10 + i,
                              signal=False)  # fmt: skip
        write_other_kinds(tmp_path, f"bkg_{i}", arrays)
    return {
        "samples": {
            "sig": {"label": "signal", "files": str(tmp_path / "sig_*.root"),
                    "cross_section": 1.0, "weight": "genWeight"},
            "bkg": {"label": "background", "files": str(tmp_path / "parquet" / "bkg_*.parquet"),
                    "cross_section": 5.0, "weight": "genWeight",
                    "aliases": {"met": "MET_pt"}},
        },
        "apply": {"samples": {"data": {"files": str(tmp_path / "rntuple" / "bkg_0.root")}}},
        "selection": [{"name": "one_muon", "expr": "num(Muon_pt) >= 1"}],
        "features": [
            {"name": "met", "expr": "MET_pt"},
            {"name": "mjj", "expr": "m_lead(Jet, 2)"},
            {"name": "n_jets", "expr": "nJet"},
        ],
        "training": {"folds": 3},
    }  # fmt: skip


def validate(config: dict, path, *flags) -> int:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return main(["validate", "-c", str(path), *flags])


def test_a_good_config_of_three_kinds_passes(analysis, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert check_config_files(config_from_dict(analysis)) == []
    assert validate(analysis, tmp_path / "c.yaml", "--check-files") == 0
    checked = [r.getMessage() for r in caplog.records if "every branch and expression" in r.message]
    assert len(checked) == 6  # sig, bkg, data; twice
    assert any("RNTuple 'events'" in m for m in checked)
    assert any("Parquet file" in m for m in checked)


def test_every_problem_is_one_line_naming_sample_file_and_expression(analysis, tmp_path, capsys):
    analysis["features"][0]["expr"] = "MET_ptt"  # a typo
    analysis["features"].append({"name": "jets", "expr": "Jet_pt"})  # jagged, not reduced
    analysis["selection"].append({"name": "met", "expr": "MET_pt"})  # not a comparison
    analysis["samples"]["bkg"]["weight"] = "genWeigt"  # a typo (generator_weight: the same)
    problems = check_config_files(config_from_dict(analysis))
    lines = [str(p) for p in problems]
    sig, bkg, data = (f"sample '{s}', file '" for s in ("sig", "bkg", "data"))
    assert sum(line.startswith(sig) for line in lines) == 3  # typo, jagged, cut
    assert sum(line.startswith(bkg) for line in lines) == 4  # and the weight, once
    assert sum(line.startswith(data) for line in lines) == 3
    typo = next(line for line in lines if line.startswith(sig) and "'met'" in line)
    assert "sig_0.root" in typo and "Did you mean 'MET_pt'" in typo
    assert any("feature 'jets'" in line and "jagged" in line for line in lines)
    assert any("selection cut 'met'" in line and "True/False" in line for line in lines)
    weight = [line for line in lines if "genWeigt" in line]
    assert len(weight) == 1 and "bkg_0.parquet" in weight[0] and "'genWeight'" in weight[0]
    # the command: one line per problem, then the count; exit status 2
    assert validate(analysis, tmp_path / "c.yaml", "--check-files") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[:-1] == [f"hepml validate: error: {line}" for line in lines]
    assert err[-1] == f"hepml validate: error: {len(lines)} problem(s) with the input files of " + (
        str(tmp_path / "c.yaml")
    )
    # without the flag the files are not opened: the config itself is valid
    assert validate(analysis, tmp_path / "c.yaml") == 0


def test_file_level_problems(analysis, tmp_path):
    analysis["samples"]["sig"]["files"] = str(tmp_path / "sgi_*.root")  # empty glob
    analysis["samples"]["bkg"]["tree"] = "Events"  # ignored for Parquet
    analysis["samples"]["bkg"]["files"] = [str(tmp_path / "parquet" / "bkg_0.parquet"),
                                           str(tmp_path / "sig_1.root")]  # fmt: skip
    (tmp_path / "data.root").write_bytes((tmp_path / "rntuple" / "bkg_0.root").read_bytes()[:900])
    analysis["apply"]["samples"]["data"]["files"] = str(tmp_path / "data.root")
    lines = [str(p) for p in check_config_files(config_from_dict(analysis))]
    assert len(lines) == 3, lines
    assert lines[0].startswith("sample 'sig': no file matches") and "'sig_0.root'" in lines[0]
    assert lines[1].startswith("sample 'bkg': mixes kinds") and "sig_1.root" in lines[1]
    assert lines[2].startswith(f"sample 'data', file '{tmp_path / 'data.root'}': ")


def test_samples_the_demo_writes_are_skipped(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.chdir(tmp_path)
    config = {
        "demo": {"directory": "demo", "files_per_process": 2},
        "samples": {
            "vbf_h": {"label": "signal", "files": "demo/vbf_h_*.root"},
            "dy": {"label": "background", "files": "demo/dy_*.root"},
            "mine": {"label": "background", "files": "mine/*.root"},  # not the demo's
        },
        "features": [{"name": "met", "expr": "MET_pt"}],
        "training": {},
    }
    lines = [str(p) for p in check_config_files(config_from_dict(config))]
    assert len(lines) == 1 and lines[0].startswith("sample 'mine': no file matches")
    skipped = [r.getMessage() for r in caplog.records if "written by the demo" in r.message]
    assert len(skipped) == 2


def test_the_repository_demo_config_passes(monkeypatch):
    monkeypatch.chdir(ROOT)  # its paths are relative to the repository
    assert main(["validate", "--check-files", "-c", "config/config.yaml"]) == 0


def real_config(shared_data) -> dict:
    tutorial, nano = shared_data / "cms-hep-tutorial", shared_data / "scikit-hep-testdata"
    return {
        "event_number": "none",  # the tutorial files have no event number
        "samples": {
            "ww": {"label": "signal", "files": str(tutorial / "ww.root"), "weight": "EventWeight"},
            "qcd": {"label": "background", "files": str(tutorial / "q*.root"),
                    "weight": "EventWeight"},
        },
        "apply": {"samples": {"nano": {"files": str(nano / "nanoAOD_*.root"), "tree": "Events",
                                       "aliases": {"NJet": "nJet", "MET_px": "MET_pt"}}}},
        "selection": [{"name": "jets", "expr": "NJet >= 1"}],
        "features": [{"name": "met", "expr": "MET_px"}, {"name": "n_jets", "expr": "NJet"}],
        "training": {},
    }  # fmt: skip


def test_real_files(shared_data, caplog):
    caplog.set_level(logging.INFO)
    config = real_config(shared_data)
    assert check_config_files(config_from_dict(config)) == []
    config["features"][0]["expr"] = "MET_pxx"
    lines = [str(p) for p in check_config_files(config_from_dict(config))]
    assert len(lines) == 3  # ww, qcd and nano each
    assert all("feature 'met'" in line and "Did you mean 'MET_px'" in line for line in lines)
    assert "cms-hep-tutorial/ww.root" in lines[0] and "nanoAOD_2015" in lines[2]
