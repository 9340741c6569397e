"""End to end: the real `snakemake` on the tiny demo, whose config has systematics and a fit.

The statistics stage runs after training: every variation scored, the templates, the fit
inputs and the expected results. Checked against independent computations: pyhf's own schema
and model on the workspace, numpy on the ingest tables and the ROOT branches for the yields.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyhf
import pytest
import uproot
import yaml
from workflow_helpers import run_snakemake, run_tiny_workflow

pytestmark = pytest.mark.e2e

SAMPLES = ("vbf_h", "dy", "ttbar")


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e_fit")
    run_tiny_workflow(workdir)
    return workdir


def test_the_fit_outputs_exist(workflow_run):
    results = workflow_run / "results"
    fit = [
        "templates.json",
        "variation_yields.csv",
        "variation_yields.md",
        "variation_yields.tex",
        "shapes.root",
        "datacard.txt",
        "combination.xml",
        "channel_SR.xml",
        "HistFactorySchema.dtd",
        "workspace.json",
        "expected.json",
        "expected.csv",
        "expected.md",
        "expected.tex",
    ]
    plots = ["fit_templates"] + [f"systematics/{p}_{s}" for p in SAMPLES for s in ("jes", "pileup")]
    expected = [results / "fit" / f for f in fit] + [
        results / "plots" / f"{p}.{e}" for p in plots for e in ("pdf", "png")
    ]
    expected += [results / "systematics" / f"{s}.{e}" for s in SAMPLES for e in ("parquet", "json")]
    missing = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not missing


def test_workspace_is_a_valid_pyhf_workspace_with_every_uncertainty(workflow_run):
    spec = json.loads((workflow_run / "results" / "fit" / "workspace.json").read_text())
    pyhf.schema.validate(spec, "workspace.json")
    model = pyhf.Workspace(spec).model()
    assert model.config.poi_name == "mu"
    parameters = set(model.config.parameters)
    assert {"jes", "pileup", "xsec_ttbar", "norm_dy", "lumi", "staterror_SR"} <= parameters
    assert model.config.samples == sorted(SAMPLES)
    types = {m["type"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert types == {"normfactor", "normsys", "histosys", "staterror", "lumi"}
    n_bins = model.config.channel_nbins["SR"]
    assert 2 <= n_bins <= 15
    # the pyhf model's background expectation is the templates' nominal background
    templates = json.loads((workflow_run / "results" / "fit" / "templates.json").read_text())
    background = sum(np.array(templates["sumw"][p]["nominal"]) for p in ("dy", "ttbar"))
    init = np.asarray(model.config.suggested_init(), dtype=float)
    init[model.config.poi_index] = 0.0
    np.testing.assert_allclose(model.expected_actualdata(init), background, rtol=1e-9)


def test_expected_results_with_systematics_are_weaker_than_stat_only(workflow_run):
    results = json.loads((workflow_run / "results" / "fit" / "expected.json").read_text())
    assert results["format"] == "hepml-expected-results-1"
    rows = {r["variant"]: r for r in results["results"]}
    assert set(rows) == {"stat_only", "all_systematics"}
    stat, syst = rows["stat_only"], rows["all_systematics"]
    for row in (stat, syst):
        band = [row["limit"][k] for k in ("minus_2sigma", "minus_1sigma", "median")]
        band += [row["limit"][k] for k in ("plus_1sigma", "plus_2sigma")]
        assert np.all(np.diff(band) > 0) and band[0] > 0
        assert row["significance"] > 0 and 0 < row["p_value"] < 0.5
    assert syst["significance"] < stat["significance"]
    assert syst["limit"]["median"] > stat["limit"]["median"]
    table = pd.read_csv(workflow_run / "results" / "fit" / "expected.csv")
    assert table.significance.tolist() == [stat["significance"], syst["significance"]]


def _ingest(workflow_run, sample: str) -> pd.DataFrame:
    return pq.read_table(workflow_run / "results" / "ingest" / f"{sample}.parquet").to_pandas()


def test_nominal_templates_hold_the_ingest_yields_and_pileup_equals_numpy(workflow_run):
    """The templates' nominal yield of each process is the ingest table's weight sum; the
    pileup up yield is the ingest weight times puWeightUp at each event's (file, entry)."""
    cfg = yaml.safe_load((workflow_run / "tiny.yaml").read_text())
    yields = pd.read_csv(workflow_run / "results" / "fit" / "variation_yields.csv")
    templates = json.loads((workflow_run / "results" / "fit" / "templates.json").read_text())
    summaries = {
        s: json.loads((workflow_run / "results" / "ingest" / f"{s}.summary.json").read_text())
        for s in SAMPLES
    }
    for sample in SAMPLES:
        ingest = _ingest(workflow_run, sample)
        nominal = ingest["_weight"].sum()
        assert sum(templates["sumw"][sample]["nominal"]) == pytest.approx(nominal, rel=1e-9)
        files = summaries[sample]["files"]
        assert len(files) == cfg["demo"]["files_per_process"]
        pu = []
        for index, path in enumerate(files):
            with uproot.open(workflow_run / path.split(":")[0]) as f:  # relative to the run
                branch = f["events"]["puWeightUp"].array(library="np")
            pu.append(branch[ingest["_entry"][ingest["_file"] == index].to_numpy()])
        by_numpy = float(np.sum(ingest["_weight"].to_numpy() * np.concatenate(pu)))
        row = yields[(yields.process == sample) & (yields.systematic == "pileup")].iloc[0]
        assert row.up == pytest.approx(by_numpy, rel=1e-6)
        assert row.nominal == pytest.approx(nominal, rel=1e-9)


def test_nothing_left_to_do_and_a_fit_setting_reruns_only_the_fit(workflow_run):
    assert "Nothing to be done" in run_snakemake(workflow_run, "-n").stdout
    path = workflow_run / "tiny.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["fit"]["lumi_uncertainty"] = 0.025
    path.write_text(yaml.safe_dump(cfg))
    dry = run_snakemake(workflow_run, "-n")
    assert dry.returncode == 0, dry.stderr[-2000:]
    # the "Job stats" table of the dry run: one line "<rule> <count>" per rule to run
    rerun = set(re.findall(r"^(\w+)\s+\d+$", dry.stdout, flags=re.MULTILINE))
    assert {"fit_inputs", "expected", "plot_fit"} <= rerun
    assert not rerun & {"ingest", "train", "variations", "fit_templates", "apply", "export"}
