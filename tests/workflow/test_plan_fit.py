"""The plan of the statistics stage: present only with a `fit` section, explicit file lists of
variations read from other files, one variation plot per process and systematic."""

from __future__ import annotations

import shutil

import yaml
from conftest import ROOT

from hepml.workflow.plan import workflow_plan

FIT_RULES = {"variations", "fit_templates", "fit_inputs", "expected", "plot_fit"}


def _write(path, data) -> str:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_no_fit_section_no_fit_rules(small_config, tmp_path):
    plan = workflow_plan([_write(tmp_path / "c.yaml", small_config)])
    assert plan["fit"] is None
    assert not FIT_RULES & set(plan["settings"])


def test_demo_plans_every_sample_and_one_plot_per_process_and_variation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = workflow_plan([shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "demo.yaml")])
    fit = plan["fit"]
    assert fit["channel"] == "SR"
    assert fit["samples"] == ["vbf_h", "dy", "ttbar"]
    assert fit["variation_files"] == {"vbf_h": {}, "dy": {}, "ttbar": {}}
    assert fit["plots"] == [
        f"systematics/{p}_{s}" for p in ("vbf_h", "dy", "ttbar") for s in ("jes", "pileup")
    ]
    assert set(plan["settings"]) >= FIT_RULES
    assert set(plan["settings"]["variations"]) == {"vbf_h", "dy", "ttbar"}


def test_variation_files_are_resolved_once_in_order(small_config, tmp_path):
    for i in (1, 0):  # written out of order: the plan sorts them
        shutil.copy(tmp_path / f"bkg_{i}.root", tmp_path / f"alt_{i}.root")
    small_config["systematics"] = {
        "variations": {
            "gen": {
                "up": {"files": {"bkg": str(tmp_path / "alt_*.root")}},
                "down": {"weight": "genWeight * 0.9"},
            }
        },
        "normalisation": {"xsec": {"bkg": 1.1}},
    }
    small_config["fit"] = {}
    plan = workflow_plan([_write(tmp_path / "c.yaml", small_config)])
    fit = plan["fit"]
    alt = [str(tmp_path / f"alt_{i}.root") for i in range(2)]
    assert fit["variation_files"] == {"sig": {}, "bkg": {"genUp": alt}}
    assert fit["variation_inputs"] == {"sig": [], "bkg": alt}
    assert fit["plots"] == ["systematics/bkg_gen"]  # normalisation uncertainties: no plot
