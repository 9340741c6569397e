"""The README's worked example, end to end: an analysis directory made by `hepml init`, the
README's config on the CMS HEP tutorial files of ../shared/data, a real Snakemake run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import SHARED_DATA
from sklearn.metrics import roc_auc_score
from workflow_helpers import ROOT, require_hepml, snakemake_env

from hepml.folds import fold_of_entry
from hepml.workflow.analysis import init_analysis

pytestmark = pytest.mark.e2e

SAMPLES = ["single_top", "ww", "wz", "zz", "qcd"]


def readme_config() -> str:
    """The YAML block that follows the worked-example marker in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("<!-- worked-example:", 1)[1]
    return re.search(r"```yaml\n(.*?)```", after, re.DOTALL)[1]


def snakemake(workdir, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        capture_output=True,
        text=True,
        env=snakemake_env(),
        check=False,
        cwd=workdir,
    )


def jobs(dry_run: str) -> set[str]:
    return set(re.findall(r"^\s*rule (\w+):", dry_run, re.MULTILINE)) - {"all"}


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real ROOT files not available: {SHARED_DATA} does not exist")
    require_hepml()
    directory = init_analysis(tmp_path_factory.mktemp("worked") / "single_top")
    text = readme_config().replace("../shared/data", str(SHARED_DATA))
    (directory / "config" / "config.yaml").write_text(text, encoding="utf-8")
    done = snakemake(directory)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return directory


def test_no_demo_content_and_the_users_parameters(analysis):
    used = yaml.safe_load((analysis / "results" / "config.yaml").read_text())
    assert "demo" not in used
    assert list(used["samples"]) == SAMPLES
    xgb = used["training"]["xgboost"]
    assert (xgb["n_estimators"], xgb["max_depth"], xgb["eta"]) == (200, 3, 0.1)
    # schema defaults, not the demo's (min_child_weight 10, lambda 5, colsample 0.8)
    assert (xgb["min_child_weight"], xgb["lambda"], xgb["colsample_bytree"]) == (1, 1.0, 1.0)
    assert not (analysis / "resources").exists()  # no demo ntuples written
    summary = json.loads((analysis / "results" / "ingest" / "qcd.summary.json").read_text())
    assert summary["fold_source"] == "(file, entry)"


def test_out_of_fold_auc_matches_sklearn(analysis):
    tables = [
        pq.read_table(analysis / "results" / "train" / f"fold{k}" / "scores.parquet").to_pydict()
        for k in range(4)
    ]
    test = [
        (s, y) for t in tables for s, y, r in zip(t["score"], t["label"], t["set"], strict=True)
        if r == "test"
    ]  # fmt: skip
    score, label = map(np.array, zip(*test, strict=True))
    metrics = (analysis / "results" / "evaluation" / "metrics.csv").read_text().splitlines()
    row = dict(zip(metrics[0].split(","), metrics[1].split(","), strict=True))
    assert float(row["auc_unweighted"]) == pytest.approx(roc_auc_score(label, score), abs=1e-9)
    assert float(row["auc_unweighted"]) > 0.7


def test_a_finished_run_reruns_nothing_whatever_the_config_file_is_called(analysis, tmp_path):
    done = snakemake(analysis, "-n")
    assert "Nothing to be done" in done.stdout + done.stderr
    other = tmp_path / "same_config_elsewhere.yaml"
    shutil.copy(analysis / "config" / "config.yaml", other)
    done = snakemake(analysis, "-n", "--configfile", str(other))
    assert "Nothing to be done" in done.stdout + done.stderr, done.stdout[-3000:]


def test_a_plot_label_reruns_only_the_plots(analysis, tmp_path):
    edited = tmp_path / "label.yaml"
    config = yaml.safe_load((analysis / "config" / "config.yaml").read_text())
    config["features"][0]["label"] = "Leading muon $p_T$ [GeV]"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    done = snakemake(analysis, "-n", "--configfile", str(edited))
    # the histograms carry no label (the plots take it from the config): drawing only
    assert jobs(done.stdout) == {"plot", "plot_inputs", "plot_training", "provenance"}
    config["selection"][1]["expr"] = "num(pt(Muon)[pt(Muon) > 30]) >= 1"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    done = snakemake(analysis, "-n", "--configfile", str(edited))
    assert {"ingest", "train", "apply", "evaluate", "export"} <= jobs(done.stdout)


def test_exported_fold_header_reproduces_every_fold(analysis, tmp_path):
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++) on this machine")
    export = analysis / "results" / "export"
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["folds"]["source"] == "file_entry"
    ids, folds = [], []
    for sample in SAMPLES:
        summary = json.loads(
            (analysis / "results" / "ingest" / f"{sample}.summary.json").read_text()
        )
        assert manifest["folds"]["files"][sample] == summary["files"]
        table = pq.read_table(analysis / "results" / "ingest" / f"{sample}.parquet").to_pydict()
        ids += list(zip(table["_file"], table["_entry"], strict=True))
        folds += table["_fold"]
    assert folds == [int(fold_of_entry(f, np.array([e]), 4, 1)[0]) for f, e in ids]
    data = "\n".join(f"{f} {e}" for f, e in ids)
    (tmp_path / "ids.txt").write_text(data + "\n")
    (tmp_path / "main.cpp").write_text(
        f'#include <cstdio>\n#include "{export}/hepml_folds.h"\nint main() {{\n'
        "  unsigned long long f, e;\n"
        '  while (std::scanf("%llu %llu", &f, &e) == 2) std::printf("%d\\n", '
        "hepml::fold_of_entry(f, e));\n}\n"
    )
    exe = tmp_path / "folds"
    subprocess.run([compiler, "-std=c++17", "-O1", "-o", str(exe), str(tmp_path / "main.cpp")],
                   check=True)  # fmt: skip
    out = subprocess.run(
        [str(exe)], input=data + "\n", capture_output=True, text=True, check=True
    ).stdout
    assert [int(x) for x in out.split()] == folds
