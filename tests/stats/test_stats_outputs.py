"""hepml.stats outputs: the ROOT shapes read back with uproot, the datacard's columns, the
HistFactory XML read by pyhf.readxml, and the refusal to overwrite."""

from __future__ import annotations

import numpy as np
import pyhf
import pyhf.readxml
import pytest
import uproot
from stats_helpers import three_bin_templates

from hepml.exceptions import OutputConflict
from hepml.stats.datacard import datacard_text
from hepml.stats.model import FitModel, NormSystematic
from hepml.stats.outputs import write_fit_inputs
from hepml.stats.templates import Templates


def _model(**kwargs) -> FitModel:
    xsec = NormSystematic("xsec_ttbar", {"ttbar": (0.9, 1.1), "wjets": (0.8, 1.3)})
    return FitModel(three_bin_templates(), [xsec], **kwargs)


def test_root_file_holds_the_exact_templates(tmp_path):
    model = _model()
    write_fit_inputs(tmp_path, model)
    t = three_bin_templates()
    with uproot.open(tmp_path / "shapes.root") as file:
        keys = set(file.keys(cycle=False, recursive=True, filter_classname="TH1D"))
        expected_keys = {"SR/data_obs"}
        for process in t.simulated_names:
            for variation in t.sumw[process]:
                suffix = "" if variation == "nominal" else f"_{variation}"
                key = f"SR/{process}{suffix}"
                expected_keys.add(key)
                histogram = file[key]
                np.testing.assert_array_equal(histogram.values(), t.sumw[process][variation])
                np.testing.assert_array_equal(histogram.variances(), t.sumw2[process][variation])
                np.testing.assert_array_equal(histogram.axis().edges(), [0.0, 0.5, 0.8, 1.0])
                if variation != "nominal":
                    shape = file[f"SR/shape_only/{process}_{variation}"].values()
                    expected_keys.add(f"SR/shape_only/{process}_{variation}")
                    # rescaled to the nominal yield, same shape as the variation
                    assert shape.sum() == pytest.approx(t.sumw[process]["nominal"].sum())
                    np.testing.assert_allclose(
                        shape / shape.sum(),
                        t.sumw[process][variation] / t.sumw[process][variation].sum(),
                    )
        assert keys == expected_keys
        # no data process: the Asimov data are the summed nominal backgrounds
        data = file["SR/data_obs"]
        np.testing.assert_array_equal(data.values(), [70.0, 18.0, 4.5])
        np.testing.assert_array_equal(data.variances(), [70.0, 18.0, 4.5])


def test_asimov_data_with_signal_and_real_data(tmp_path):
    write_fit_inputs(tmp_path / "a", _model(asimov_includes_signal=True))
    with uproot.open(tmp_path / "a" / "shapes.root") as file:
        np.testing.assert_array_equal(file["SR/data_obs"].values(), [71.0, 21.0, 10.5])
    t = three_bin_templates()
    with_data = Templates(
        "SR",
        t.edges,
        {**t.roles, "collisions": "data"},
        {**t.sumw, "collisions": {"nominal": [69.0, 20.0, 4.0]}},
        {**t.sumw2, "collisions": {"nominal": [69.0, 20.0, 4.0]}},
    )
    inputs = write_fit_inputs(tmp_path / "d", FitModel(with_data))
    with uproot.open(inputs.shapes) as file:
        np.testing.assert_array_equal(file["SR/data_obs"].values(), [69.0, 20.0, 4.0])
        assert "SR/collisions" not in file
    assert inputs.workspace_spec["observations"][0]["data"] == [69.0, 20.0, 4.0]


def _card_rows(text: str) -> dict[str, list[list[str]]]:
    rows: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if fields and not line.startswith(("#", "-")):
            rows.setdefault(fields[0], []).append(fields[1:])
    return rows


def test_datacard_columns_match_the_templates():
    model = _model(lumi_uncertainty=0.025)
    rows = _card_rows(datacard_text(model, "shapes.root"))
    assert rows["imax"][0][0] == "1" and rows["jmax"][0][0] == "2"
    assert rows["shapes"] == [
        ["*", "*", "shapes.root", "$CHANNEL/$PROCESS", "$CHANNEL/$PROCESS_$SYSTEMATIC"]
    ]
    assert rows["bin"] == [["SR"], ["SR", "SR", "SR"]]
    assert rows["observation"] == [["-1"]]
    assert rows["process"] == [["sig", "ttbar", "wjets"], ["0", "1", "2"]]
    assert rows["rate"] == [["-1", "-1", "-1"]]
    assert rows["lumi"] == [["lnN", "1.025", "1.025", "1.025"]]
    assert rows["xsec_ttbar"] == [["lnN", "-", "0.9/1.1", "0.8/1.3"]]
    assert rows["jes"] == [["shape", "1", "1", "1"]]
    assert rows["pu"] == [["shape", "-", "1", "-"]]
    assert rows["*"] == [["autoMCStats", "0"]]


def _models_agree(spec_a, spec_b, points):
    model_a, model_b = pyhf.Workspace(spec_a).model(), pyhf.Workspace(spec_b).model()
    assert model_a.config.par_order == model_b.config.par_order
    for point in points:
        pars = np.array(model_a.config.suggested_init(), dtype=float)
        for name, value in point.items():
            pars[model_a.config.par_slice(name)] = value
        np.testing.assert_allclose(
            model_a.expected_data(pars), model_b.expected_data(pars), rtol=1e-12
        )


@pytest.mark.parametrize("lumi", [None, 0.02])
def test_histfactory_xml_reads_back_as_the_json_workspace(tmp_path, lumi):
    inputs = write_fit_inputs(tmp_path, _model(lumi_uncertainty=lumi))
    pyhf.readxml.clear_filecache()
    parsed = pyhf.readxml.parse(inputs.combination_xml, tmp_path)
    spec = pyhf.Workspace(inputs.workspace_spec)
    parsed_ws = pyhf.Workspace(parsed)
    points = [
        {},
        {"mu": 2.0, "jes": 0.7, "pu": -1.4, "xsec_ttbar": 1.2},
        {"staterror_SR": [1.1, 0.9, 1.05], "mu": 0.3},
    ]
    if lumi is not None:
        points.append({"lumi": 1.03, "jes": -0.4})
    _models_agree(inputs.workspace_spec, parsed, points)
    model = spec.model()
    assert parsed_ws.data(parsed_ws.model()) == spec.data(model)
    # the constraint widths agree too: same auxiliary data and the same pdf of them
    pars = np.array(model.config.suggested_init()) + 0.05
    np.testing.assert_allclose(
        parsed_ws.model().logpdf(pars, spec.data(model)),
        model.logpdf(pars, spec.data(model)),
        rtol=1e-10,
    )
    assert (tmp_path / "HistFactorySchema.dtd").is_file()


def test_fit_inputs_never_overwrite_a_users_file(tmp_path):
    (tmp_path / "datacard.txt").write_text("a user's own datacard\n")
    with pytest.raises(OutputConflict, match=r"datacard\.txt' exists and hepml has no record"):
        write_fit_inputs(tmp_path, _model())
    assert (tmp_path / "datacard.txt").read_text() == "a user's own datacard\n"
    assert not (tmp_path / "shapes.root").exists()
    again = tmp_path / "again"
    write_fit_inputs(again, _model())
    write_fit_inputs(again, _model())  # its own files: replaced
    assert (again / "datacard.txt").read_text().startswith("# CMS Combine datacard")
    assert not list(again.glob(".*.tmp"))  # no temporary file left behind


def test_two_channels_one_without_signal(tmp_path):
    sr = three_bin_templates("SR")
    cr_roles = {"ttbar": "background", "wjets": "background"}
    cr = Templates(
        "CR",
        [0.0, 0.5, 1.0],
        cr_roles,
        {"ttbar": {"nominal": [100.0, 20.0]}, "wjets": {"nominal": [50.0, 5.0]}},
        {"ttbar": {"nominal": [10.0, 2.0]}, "wjets": {"nominal": [5.0, 0.5]}},
    )
    xsec = NormSystematic("xsec_ttbar", {"ttbar": (0.9, 1.1)})
    inputs = write_fit_inputs(tmp_path, FitModel([sr, cr], [xsec]))
    rows = _card_rows(inputs.datacard.read_text())
    assert rows["bin"] == [["SR", "CR"], ["SR", "SR", "SR", "CR", "CR"]]
    assert rows["process"] == [
        ["sig", "ttbar", "wjets", "ttbar", "wjets"],
        ["0", "1", "2", "1", "2"],
    ]
    assert rows["xsec_ttbar"] == [["lnN", "-", "0.9/1.1", "-", "0.9/1.1", "-"]]
    assert rows["jes"] == [["shape", "1", "1", "1", "-", "-"]]
    with uproot.open(inputs.shapes) as file:
        np.testing.assert_array_equal(file["CR/data_obs"].values(), [150.0, 25.0])
        np.testing.assert_array_equal(file["CR/ttbar"].variances(), [10.0, 2.0])
    pyhf.readxml.clear_filecache()
    parsed = pyhf.readxml.parse(inputs.combination_xml, tmp_path)
    points = [{}, {"mu": 1.5, "xsec_ttbar": -0.8, "staterror_CR": [1.1, 0.95], "jes": 0.3}]
    _models_agree(inputs.workspace_spec, parsed, points)
