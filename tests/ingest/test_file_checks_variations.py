"""`hepml validate --check-files` (and the workflow's start) check every systematic variation
too: a replaced branch or a varied weight that the first file cannot give is reported before
any job runs, once, naming the sample, the variation, the file and the near branch."""

from __future__ import annotations

from hepml.config import config_from_dict
from hepml.ingest.file_checks import check_config_files


def _with_variations(config: dict, variations: dict) -> dict:
    config["systematics"] = {"variations": variations}
    config["fit"] = {}
    return config


def test_good_variations_add_no_problem(small_config):
    config = _with_variations(
        small_config,
        {
            "scale": {
                "up": {"branches": {"MET_pt": "MET_pt * 1.1"}},
                "down": {"weight": "genWeight * 0.9"},
            }
        },
    )
    assert check_config_files(config_from_dict(config)) == []


def test_a_missing_replacement_and_a_bad_weight_are_named_once(small_config):
    config = _with_variations(
        small_config,
        {
            "jes": {
                "samples": ["bkg"],
                "up": {"branches": {"Jet_pt": "Jet_pt_jesUp"}},
                "down": {"weight": "genWeight * MET_ptt"},
            }
        },
    )
    lines = [str(p) for p in check_config_files(config_from_dict(config))]
    assert len(lines) == 2, lines
    up, down = lines
    assert up.startswith("sample 'bkg' (variation 'jesUp'), file '")
    assert "'Jet_pt_jesUp' is neither a branch" in up
    assert down.startswith("sample 'bkg' (variation 'jesDown'), file '")
    assert "MET_ptt" in down and "Did you mean 'MET_pt'" in down


def test_replacing_a_branch_the_file_lacks_is_named(small_config):
    """A misspelt replaced branch would replace nothing: the variation would equal the
    nominal, silently. It is reported with the near branch."""
    config = _with_variations(
        small_config,
        {"scale": {"samples": ["bkg"], "up": {"branches": {"MET_ptt": "MET_pt * 1.1"}},
                   "down": {"branches": {"MET_pt": "MET_pt * 0.9"}}}},
    )  # fmt: skip
    lines = [str(p) for p in check_config_files(config_from_dict(config))]
    assert len(lines) == 1, lines
    assert lines[0].startswith("sample 'bkg' (variation 'scaleUp'), file '")
    assert "replaces 'MET_ptt', which is not a branch" in lines[0]
    assert "Did you mean 'MET_pt'" in lines[0]
