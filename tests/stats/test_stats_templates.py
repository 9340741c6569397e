"""hepml.stats templates: filled sums against numpy.histogram, JSON round trip, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stats_helpers import ROLES, random_events, three_bin_templates

from hepml.exceptions import DataError, InputFileError
from hepml.stats.fill import Events, fill_templates, histogram
from hepml.stats.templates import TEMPLATES_FORMAT, Templates, read_templates, write_templates

EDGES = np.array([0.0, 0.2, 0.5, 0.7, 1.0])


def _numpy_sums(events: Events, process: str, edges=EDGES):
    mask = events.process == process
    sumw, _ = np.histogram(events.score[mask], edges, weights=events.weight[mask])
    sumw2, _ = np.histogram(events.score[mask], edges, weights=events.weight[mask] ** 2)
    return sumw, sumw2


def test_filled_templates_equal_numpy_histograms_per_process_and_variation():
    nominal, variations = random_events()
    templates = fill_templates(EDGES, ROLES, nominal, variations, applies_to={"pu": ["ttbar"]})
    for process in ROLES:
        for variation, events in {"nominal": nominal, **variations}.items():
            if variation.startswith("pu") and process != "ttbar":
                assert variation not in templates.sumw[process]
                continue
            sumw, sumw2 = _numpy_sums(events, process)
            np.testing.assert_allclose(templates.sumw[process][variation], sumw, rtol=1e-12)
            np.testing.assert_allclose(templates.sumw2[process][variation], sumw2, rtol=1e-12)
    assert templates.systematics == ["jes", "pu"]
    assert templates.systematics_of("sig") == ["jes"]
    assert templates.systematics_of("ttbar") == ["jes", "pu"]


def test_weight_variation_scales_the_sums_and_shape_variation_keeps_the_total():
    nominal, variations = random_events()
    templates = fill_templates(EDGES, ROLES, nominal, variations)
    ttbar = templates.sumw["ttbar"]
    np.testing.assert_allclose(ttbar["puUp"], 1.03 * ttbar["nominal"], rtol=1e-12)
    np.testing.assert_allclose(
        templates.sumw2["ttbar"]["puDown"],
        0.96**2 * templates.sumw2["ttbar"]["nominal"],
        rtol=1e-12,
    )
    # the jes-shifted scores stay in [0, 1]: same total, other shape
    assert ttbar["jesUp"].sum() == pytest.approx(ttbar["nominal"].sum(), rel=1e-12)
    assert not np.allclose(ttbar["jesUp"], ttbar["nominal"])


def test_score_on_the_last_edge_is_in_the_last_bin_and_a_missing_process_is_empty():
    events = Events([0.0, 0.2, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], ["ttbar"] * 4)
    templates = fill_templates(EDGES, ROLES, events)
    np.testing.assert_array_equal(templates.sumw["ttbar"]["nominal"], [1.0, 2.0, 0.0, 7.0])
    np.testing.assert_array_equal(templates.sumw["sig"]["nominal"], np.zeros(4))
    np.testing.assert_array_equal(histogram([0.1, 0.9], [2.0, 3.0], [0.0, 0.5, 1.0])[1], [4, 9])


def test_scores_outside_the_binning_are_an_error_not_a_loss():
    events = Events([0.1, 1.2, np.nan], [1.0, 1.0, 1.0], ["ttbar"] * 3)
    with pytest.raises(DataError, match=r"2 scores of the nominal events are NaN or outside"):
        fill_templates(EDGES, ROLES, events)


def test_unknown_process_suggests_the_near_name():
    events = Events([0.1], [1.0], ["ttbarr"])
    with pytest.raises(DataError, match=r"process 'ttbarr' without a role\. Did you mean 'ttbar'"):
        fill_templates(EDGES, ROLES, events)


def test_up_without_down_is_refused():
    nominal, variations = random_events()
    with pytest.raises(DataError, match=r"has 'jesUp' but not 'jesDown'"):
        fill_templates(EDGES, ROLES, nominal, {"jesUp": variations["jesUp"]})
    with pytest.raises(DataError, match=r"must be 'nominal' or end in 'Up' or 'Down'"):
        fill_templates(EDGES, ROLES, nominal, {"jes": variations["jesUp"]})


def test_systematic_on_data_or_unknown_systematic_is_refused():
    nominal, variations = random_events()
    roles = {**ROLES, "data": "data"}
    with pytest.raises(DataError, match=r"applies to 'data', which is not simulated"):
        fill_templates(EDGES, roles, nominal, variations, applies_to={"jes": ["data"]})
    with pytest.raises(DataError, match=r"'jse' without variations\. Did you mean 'jes'"):
        fill_templates(EDGES, ROLES, nominal, variations, applies_to={"jse": ["sig"]})


def test_bad_names_and_shapes_are_refused():
    good = three_bin_templates()
    with pytest.raises(DataError, match=r"process name 'tt bar' is not allowed"):
        Templates("SR", good.edges, {"tt bar": "background"}, {}, {})
    with pytest.raises(DataError, match=r"role 'bkg'; valid: signal, background, data"):
        Templates("SR", good.edges, {"ttbar": "bkg"}, {}, {})
    sumw = {p: dict(t) for p, t in good.sumw.items()}
    sumw["ttbar"]["nominal"] = [1.0, 2.0]
    with pytest.raises(
        DataError, match=r"'ttbar', variation 'nominal'.* has 2 bins; the edges make 3"
    ):
        Templates("SR", good.edges, good.roles, sumw, good.sumw2)
    with pytest.raises(DataError, match=r"must increase strictly"):
        Templates("SR", [0.0, 0.5, 0.5, 1.0], good.roles, good.sumw, good.sumw2)


def test_json_round_trip_is_exact(tmp_path):
    nominal, variations = random_events()
    templates = fill_templates(EDGES, ROLES, nominal, variations, channel="SR_2j")
    path = tmp_path / "templates.json"
    write_templates(path, templates)
    back = read_templates(path)
    assert back.channel == "SR_2j" and back.roles == templates.roles
    np.testing.assert_array_equal(back.edges, templates.edges)
    for process in templates.roles:
        assert back.sumw[process].keys() == templates.sumw[process].keys()
        for variation in templates.sumw[process]:
            np.testing.assert_array_equal(
                back.sumw[process][variation], templates.sumw[process][variation]
            )
            np.testing.assert_array_equal(
                back.sumw2[process][variation], templates.sumw2[process][variation]
            )


def test_reading_another_format_names_the_file_and_the_format(tmp_path):
    path = tmp_path / "templates.json"
    data = three_bin_templates().to_dict()
    path.write_text(json.dumps({**data, "format": "hepml-templates-0"}))
    with pytest.raises(
        InputFileError,
        match=r"templates\.json.*'hepml-templates-0', expected "
        rf"'{TEMPLATES_FORMAT}'",
    ):
        read_templates(path)
    path.write_text("{not json")
    with pytest.raises(InputFileError, match=r"cannot read templates from .*templates\.json"):
        read_templates(path)
    del data["sumw2"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match=r"missing the entry 'sumw2'"):
        read_templates(path)
