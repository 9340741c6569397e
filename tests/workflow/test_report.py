"""The self-contained HTML report of a real run: every plot and table, with its caption."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
from conftest import ROOT
from review_runs import workflow_run
from workflow_helpers import run_snakemake

CAPTIONS = ROOT / "workflow" / "report"
CATEGORIES = ("inputs", "training", "performance", "overtraining", "significance")


def _script_json(page: str, name: str):
    """The JSON a Snakemake report page embeds as `var NAME = {...};`."""
    match = re.search(rf"var {name} = (\{{.*?\}});\s*</script>", page, re.S)
    assert match, f"no '{name}' in the report"
    return json.loads(match.group(1))


def _text(caption_html: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", caption_html)).split())


def test_every_report_item_has_a_caption_and_every_caption_is_used():
    """Static check of workflow/rules/report.smk against workflow/report/*.rst (no run)."""
    rules = (ROOT / "workflow" / "rules" / "report.smk").read_text(encoding="utf-8")
    named = set(re.findall(r'"(\w+\.rst)"', rules))
    files = {p.name for p in CAPTIONS.glob("*.rst")} - {"workflow.rst"}  # the report's front page
    assert named == files, f"no file: {sorted(named - files)}; unused: {sorted(files - named)}"
    for name in files:
        assert len(" ".join((CAPTIONS / name).read_text().split())) > 100, name


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = workflow_run(tmp_path_factory, "reference")
    out = run / "results" / "report.html"
    result = run_snakemake(run, "--report", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    page = out.read_text(encoding="utf-8")
    return run, page, _script_json(page, "results"), _script_json(page, "categories")


@pytest.mark.e2e
def test_every_plot_and_table_is_in_the_report(report):
    run, _, results, categories = report
    produced = [
        str(p.relative_to(run))
        for pattern in (
            "plots/**/*.png",
            "evaluation/*.csv",
            "cutflow/*.csv",
            "train/*/*.csv",
            "fit/*.csv",
        )
        for p in (run / "results").glob(pattern)
    ]
    assert len(produced) > 20
    missing = sorted(set(produced) - set(results))
    assert not missing, f"not registered with report() in workflow/rules/report.smk: {missing}"
    assert "results/provenance.json" in results and "results/config.yaml" in results
    assert set(CATEGORIES) <= set(categories)
    in_categories = {p for sub in categories.values() for paths in sub.values() for p in paths}
    assert in_categories == set(results)


@pytest.mark.e2e
def test_every_result_has_its_caption(report):
    _, page, results, _ = report
    captions = {_text(r["caption"]) for r in results.values()}
    assert all(len(c) > 100 for c in captions)  # a real explanation, not a title
    for rst in sorted(CAPTIONS.glob("*.rst")):
        if rst.name.startswith(("data_mc", "tune_")):
            continue  # only with data samples / a hyperparameter search in the config
        first_line = rst.read_text().splitlines()[0].split("{{")[0].split("``")[0]
        words = " ".join(first_line.split()[:6])
        where = _text(page) if rst.name == "workflow.rst" else " ".join(captions)
        assert words in where, rst.name
    # the templates were filled from the wildcards and the config
    assert _text(results["results/cutflow/vbf_h.csv"]["caption"]).startswith(
        "Cutflow of sample vbf_h:"
    )
    assert "normalised to 140 fb-1" in _text(results["results/plots/score.png"]["caption"])
    assert results["results/plots/inputs/mll.png"]["labels"] == {"feature": "mll"}


@pytest.mark.e2e
def test_plots_are_embedded_byte_for_byte(report):
    run, page, results, _ = report
    for name, result in results.items():
        header, _, data = result["data_uri"].partition(";base64,")
        assert header.startswith("data:"), name
        if name.endswith(".png"):
            assert base64.b64decode(data) == (run / name).read_bytes(), name
    # self-contained: nothing is fetched from the network when the page is opened
    assert not re.search(r"<(img|script|link)[^>]+(src|href)=\"https?://", page)
