"""The fit stage's commands: a user mistake is one line naming what is wrong, exit status 2."""

from __future__ import annotations

import json

import yaml
from stats_helpers import three_bin_templates

from hepml.cli.app import main
from hepml.stats import write_templates


def _config(tmp_path, small_config, fit: bool = True) -> str:
    if fit:
        small_config["fit"] = {"channel": "SR"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(small_config))
    return str(path)


def test_every_fit_command_needs_a_fit_section(tmp_path, small_config, capsys):
    config = _config(tmp_path, small_config, fit=False)
    code = main(["fit-inputs", "--config", config, "--templates", "t.json", "--output-dir", "out"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("hepml fit-inputs: error: the config has no fit section")
    assert not (tmp_path / "out").exists()


def test_variations_of_an_unknown_sample_suggest_the_near_one(tmp_path, small_config, capsys):
    config = _config(tmp_path, small_config)
    code = main(
        [
            "variations",
            "--config",
            config,
            "--sample",
            "sgi",
            "--models",
            "m.json",
            "--ingest-summary",
            "s.json",
            "--output",
            "o.parquet",
            "--summary",
            "o.json",
        ]
    )
    assert code == 2
    assert "no simulated sample 'sgi' in the config. Did you mean 'sig'?" in capsys.readouterr().err


def test_a_file_that_is_not_templates_is_named(tmp_path, small_config, capsys):
    config = _config(tmp_path, small_config)
    other = tmp_path / "templates.json"
    other.write_text(json.dumps({"format": "hepml-expected-results-1"}))
    code = main(
        [
            "fit-inputs",
            "--config",
            config,
            "--templates",
            str(other),
            "--output-dir",
            str(tmp_path / "fit"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(other) in err and "not hepml templates" in err
    assert not (tmp_path / "fit").exists()


def test_fit_inputs_expected_and_plots_from_templates(tmp_path, small_config, capsys):
    """The three commands after the templates, on hand-made templates: every file written."""
    config = _config(tmp_path, small_config)
    small = tmp_path / "fit"
    write_templates(small / "templates.json", three_bin_templates())
    templates = str(small / "templates.json")
    args = ["--config", config, "--output-dir", str(small)]
    assert main(["fit-inputs", *args, "--templates", templates]) == 0
    assert main(["expected", *args, "--workspace", str(small / "workspace.json")]) == 0
    results = json.loads((small / "expected.json").read_text())["results"]
    assert [r["variant"] for r in results] == ["stat_only", "all_systematics"]
    fitted = json.loads((small / "fitted.json").read_text())
    assert set(fitted["yields"]["SR"]) == {"sig", "ttbar", "wjets"}
    plots = tmp_path / "plots"
    args = ["--config", config, "--templates", templates, "--output-dir", str(plots)]
    assert main(["plot-fit", *args, "--fitted", str(small / "fitted.json")]) == 0
    assert (plots / "fit_templates.png").is_file()
    assert (plots / "systematics" / "ttbar_pu.pdf").is_file()
    # a fitted file of another channel is refused, naming it
    code = main(["plot-fit", *args, "--fitted", str(small / "expected.json")])
    assert code == 2
    assert "expected.json" in capsys.readouterr().err
