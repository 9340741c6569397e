"""End to end: the real `snakemake` on a tiny demo config, every output checked."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score
from workflow_helpers import run_snakemake, run_tiny_workflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    run_tiny_workflow(workdir)
    return workdir


def test_every_output_exists_and_is_not_empty(workflow_run):
    results = workflow_run / "results"
    expected = [
        *(
            results / "cutflow" / f"{s}.{e}"
            for s in ("vbf_h", "dy", "ttbar")
            for e in ("csv", "md")
        ),
        *(results / "ingest" / f"{s}.parquet" for s in ("vbf_h", "dy", "ttbar")),
        *(
            results / "train" / f"fold{k}" / f
            for k in range(3)
            for f in ("model.json", "metadata.json", "learning_curve.csv", "scores.parquet")
        ),
        *(
            results / "evaluation" / f"{t}.{e}"
            for t in ("metrics", "working_points", "overtraining")
            for e in ("csv", "md")
        ),
        *(
            results / "plots" / f"{p}.{e}"
            for p in ("roc", "roc_tpr_fpr", "overtraining", "score", "score_log")
            for e in ("pdf", "png")
        ),
    ]
    missing = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not missing
    for rule_log in ("make_demo.log", "evaluate.log", "plot.log"):
        assert (workflow_run / "logs" / rule_log).is_file()
    # no temporary file left anywhere under results/
    assert not list(results.rglob(".*.tmp"))


def test_auc_in_table_matches_sklearn_on_out_of_fold_scores(workflow_run):
    tables = [
        pq.read_table(workflow_run / "results" / "train" / f"fold{k}" / "scores.parquet")
        for k in range(3)
    ]
    score = np.concatenate([t.column("score").to_numpy() for t in tables])
    label = np.concatenate([t.column("label").to_numpy() for t in tables])
    weight = np.concatenate([t.column("weight").to_numpy() for t in tables])
    role = np.concatenate([t.column("set").to_numpy(zero_copy_only=False) for t in tables]).astype(
        str
    )
    test = role == "test"
    with open(workflow_run / "results" / "evaluation" / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["auc_unweighted"]) == pytest.approx(
        roc_auc_score(label[test], score[test]), abs=1e-9
    )
    # The weighted AUC uses the signed weights (Drell-Yan has negative ones), where sklearn
    # cannot be used: check it against the Mann-Whitney form, P(s_sig > s_bkg) + P(=)/2.
    expected = _mann_whitney_auc(score[test], label[test], weight[test])
    assert float(row["auc"]) == pytest.approx(expected, abs=1e-6)
    # physics sanity: the demo is separable but not trivially
    assert 0.75 < float(row["auc"]) < 0.97


def _mann_whitney_auc(score, label, weight):
    sig, bkg = label == 1, label == 0
    order = np.argsort(score[bkg], kind="stable")
    bkg_scores, bkg_cum = score[bkg][order], np.concatenate([[0.0], np.cumsum(weight[bkg][order])])
    below = bkg_cum[np.searchsorted(bkg_scores, score[sig], side="left")]
    equal = bkg_cum[np.searchsorted(bkg_scores, score[sig], side="right")] - below
    num = np.sum(weight[sig] * (below + 0.5 * equal))
    return num / (weight[sig].sum() * weight[bkg].sum())


def test_cutflow_is_consistent_with_tables(workflow_run):
    for sample in ("vbf_h", "dy", "ttbar"):
        with open(workflow_run / "results" / "cutflow" / f"{sample}.csv") as f:
            rows = list(csv.DictReader(f))
        events = [int(r["events"]) for r in rows]
        assert events == sorted(events, reverse=True)
        n_rows = pq.read_metadata(
            workflow_run / "results" / "ingest" / f"{sample}.parquet"
        ).num_rows
        assert events[-1] == n_rows


def test_rerun_has_nothing_to_do(workflow_run):
    dry = run_snakemake(workflow_run, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_lint_is_clean(workflow_run):
    lint = run_snakemake(workflow_run, "--lint")
    assert lint.returncode == 0, lint.stdout[-3000:] + lint.stderr[-3000:]


def test_every_job_records_its_time_and_memory(workflow_run):
    """Snakemake's benchmark TSV per job (wall, CPU, sampled RSS) and hepml's own peak RSS line
    in the job's log, which bench/bench_workflow.py reads."""
    benchmarks = workflow_run / "benchmarks"
    for job in ("ingest/vbf_h", "train/fold0", "evaluate", "plot", "apply/dy", "export"):
        with (benchmarks / f"{job}.tsv").open(newline="") as stream:
            rows = list(csv.DictReader(stream, delimiter="\t"))
        assert len(rows) == 1 and float(rows[0]["s"]) > 0, job
        log = (workflow_run / "logs" / f"{job}.log").read_text()
        peak = [line for line in log.splitlines() if "peak memory:" in line]
        assert len(peak) == 1 and float(peak[0].split("peak memory: ")[1].split()[0]) > 10, job


def test_the_python_api_reads_the_run(workflow_run):
    """hepml.load_models on a real run's results/ (its config.yaml from the provenance rule):
    a demo file scored as the apply rule scored it, the tables as the evaluate rule wrote them."""
    import uproot

    import hepml

    results = workflow_run / "results"
    models = hepml.load_models(results)
    prediction = models.predict(
        workflow_run / "resources" / "demo" / "dy_0.root", fill=models.config.apply.fill
    )
    with uproot.open(results / "apply" / "dy" / "dy_0.root") as f:
        applied = f["hepml"].arrays(library="np")
    np.testing.assert_array_equal(prediction.score, applied["bdt_score"])  # bit for bit
    np.testing.assert_array_equal(prediction.fold, applied["fold"])
    with open(results / "evaluation" / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    assert hepml.read_metrics(results)["metrics"][0]["auc"] == float(row["auc"])
    scores = hepml.read_scores(results)
    assert len(scores["score"]) == sum(pq.read_metadata(p).num_rows for p in
                                       (results / "ingest").glob("*.parquet"))  # fmt: skip
