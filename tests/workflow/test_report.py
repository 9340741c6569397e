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


def _report_items() -> dict[str, tuple[str, str, str]]:
    """output path -> (caption file, category, subcategory), read from report.smk's text."""
    rules = (ROOT / "workflow" / "rules" / "report.smk").read_text(encoding="utf-8")
    found = re.findall(r'"(results/[^"]+)": \(\s*"(\w+\.rst)",\s*"([^"]+)",\s*"([^"]+)",', rules)
    return {path: (caption, category, sub) for path, caption, category, sub in found}


def test_every_table_sits_with_its_plot_and_its_caption_names_the_plot():
    """A reviewer finds each number of a table on a plot beside it (same subcategory of the
    report), and the caption says which plot shows it. Records (cutflows, the run's ingest,
    apply and export summaries) are tables without a plot."""
    items = _report_items()
    assert len(items) > 25
    plots_of = {}
    for path, (_, category, sub) in items.items():
        if path.endswith(".png"):
            plots_of.setdefault((category, sub), []).append(path)
    records = ("results/cutflow/", "results/summaries/")
    tables = [p for p in items if p.endswith(".csv") and not p.startswith(records)]
    assert len(tables) >= 9
    for path in tables:
        caption, category, sub = items[path]
        assert plots_of.get((category, sub)), f"{path}: no plot in its subcategory {sub!r}"
        text = " ".join((CAPTIONS / caption).read_text().split())
        assert "plot" in text, f"{caption} does not name the plot that shows its numbers"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = workflow_run(tmp_path_factory, "reference")
    out = run / "results" / "report.html"
    result = run_snakemake(run, "--report", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    page = out.read_text(encoding="utf-8")
    return (
        run, page, _script_json(page, "results"), _script_json(page, "categories"),
        result.stderr,
    )  # fmt: skip


@pytest.mark.e2e
def test_building_the_report_warns_of_nothing(report):
    """Snakemake's own input.size_mb, used in a resource function, leaves an unawaited
    coroutine per job when the report builds the DAG (snakemake/snakemake#4280): the
    resources read the sizes themselves."""
    stderr = report[4]
    assert "was never awaited" not in stderr
    assert "RuntimeWarning" not in stderr


@pytest.mark.e2e
def test_the_run_records_are_in_the_report(report):
    run, _, results, categories = report[:4]
    for name in ("ingest", "apply", "export"):
        assert f"results/summaries/{name}.csv" in results
    assert set(categories["inputs"]["run records"]) == {
        f"results/summaries/{name}.csv" for name in ("ingest", "apply", "export")
    }
    caption = _text(results["results/summaries/ingest.csv"]["caption"])
    assert "negative weight" in caption and "nan_<feature>" in caption
    rows = (run / "results" / "summaries" / "ingest.csv").read_text().splitlines()
    assert rows[0].startswith("sample,files,skipped_files,entries,selected,")
    assert "negative_weight_fraction" in rows[0]
    export = (run / "results" / "summaries" / "export.csv").read_text().splitlines()
    assert len(export) == 1 + 3 and all(",True," in line for line in export[1:])  # closure


@pytest.mark.e2e
def test_every_plot_and_table_is_in_the_report(report):
    run, _, results, categories = report[:4]
    produced = [
        str(p.relative_to(run))
        for pattern in (
            "plots/**/*.png",
            "evaluation/*.csv",
            "cutflow/*.csv",
            "train/*/*.csv",
            "summaries/*.csv",
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
    _, page, results, _ = report[:4]
    captions = {_text(r["caption"]) for r in results.values()}
    assert all(len(c) > 100 for c in captions)  # a real explanation, not a title
    for rst in sorted(CAPTIONS.glob("*.rst")):
        if rst.name.startswith(("data_mc", "tune_", "overtraining_baseline")):
            continue  # only with data samples / a hyperparameter search / baselines
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
    run, page, results, _ = report[:4]
    for name, result in results.items():
        header, _, data = result["data_uri"].partition(";base64,")
        assert header.startswith("data:"), name
        if name.endswith(".png"):
            assert base64.b64decode(data) == (run / name).read_bytes(), name
    # self-contained: nothing is fetched from the network when the page is opened
    assert not re.search(r"<(img|script|link)[^>]+(src|href)=\"https?://", page)
