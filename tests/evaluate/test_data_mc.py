"""hepml.evaluate.data_mc: the data/MC histograms and the blinding, checked with numpy counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from model_helpers import _data, _events, _write_fold_models, _write_table

from hepml.evaluate.data_mc import Events, data_mc_from_files, data_mc_histograms, score_edges
from hepml.exceptions import DataError
from hepml.models import load_fold_models
from hepml.tables.features import load_dataset


@pytest.fixture
def inputs():
    mc = {
        "dy": _events(4000, 1, weight=0.5),
        "ttbar": _events(1000, 2, weight=0.3, shift=0.5),
        "vbf_h": _events(500, 3, label=1, weight=0.02, shift=1.0),
    }
    data = _events(2500, 4)
    data = Events(data.X, data.weight, np.r_[data.score[:-5], np.ones(5)])  # some at score 1
    return mc, data


def test_blinded_data_never_reaches_the_file(inputs):
    mc, data = inputs
    # the JSON form: what data_mc.json holds
    out = data_mc_histograms(
        mc, data, ["x", "n"], bins=10, score_bins=20, blind_above=0.6
    ).to_json()
    assert out["blind_above"] == 0.6 and out["unblind"] is False
    hidden = data.score > 0.6
    assert out["hidden_data_events"] == hidden.sum()
    score = out["score"]
    edges = np.asarray(score["edges"])
    blinded = [False, *(edges[1:] > 0.6 + 1e-9), True]  # an edge at 0.6 up to rounding is not
    assert [v is None for v in score["data"]["sumw"]] == blinded
    visible, _ = np.histogram(data.score[~hidden], bins=edges)
    shown = np.array([v for v in score["data"]["sumw"][1:-1] if v is not None])
    np.testing.assert_array_equal(shown, visible[: shown.size])
    # MC is shown everywhere on the score axis
    total = sum(sum(p["sumw"]) for p in score["processes"].values())
    assert total == pytest.approx(sum(ev.weight.sum() for ev in mc.values()))


def test_input_variables_are_restricted_to_the_unblinded_region_for_data_and_mc(inputs):
    mc, data = inputs
    out = data_mc_histograms(mc, data, ["x", "n"], bins=10, blind_above=0.6).to_json()
    x = out["variables"]["x"]
    assert x["region"] == "score <= 0.6"
    assert sum(x["data"]["sumw"]) == pytest.approx(np.count_nonzero(data.score <= 0.6))
    dy = mc["dy"]
    assert sum(x["processes"]["dy"]["sumw"]) == pytest.approx(dy.weight[dy.score <= 0.6].sum())
    assert x["processes"]["vbf_h"]["label"] == 1


def test_unblind_shows_everything(inputs):
    mc, data = inputs
    out = data_mc_histograms(mc, data, ["x", "n"], bins=10, unblind=True).to_json()
    assert out["blind_above"] is None and out["hidden_data_events"] == 0
    assert None not in out["score"]["data"]["sumw"]
    assert sum(out["score"]["data"]["sumw"]) == pytest.approx(2500)  # a score of 1.0 included
    assert sum(out["variables"]["n"]["data"]["sumw"]) == pytest.approx(2500)
    assert out["variables"]["x"]["region"] == "all events"


def test_a_bin_ending_at_the_blinding_threshold_stays_visible(inputs):
    mc, data = inputs
    # 40 bins: the edge 0.6 is 0.6000000000000001 in floating point
    out = data_mc_histograms(mc, data, ["x"], score_bins=40, blind_above=0.6).to_json()
    edges = np.asarray(out["score"]["edges"])
    assert edges[24] != 0.6 and np.isclose(edges[24], 0.6)
    hidden = [v is None for v in out["score"]["data"]["sumw"][1:-1]]
    assert hidden == [i >= 24 for i in range(40)]
    shown = [v for v in out["score"]["data"]["sumw"] if v is not None]
    assert sum(shown) == np.count_nonzero(data.score <= 0.6)


def test_score_edges_keep_a_score_of_one_in_the_last_bin():
    edges = score_edges(4)
    assert edges[0] == 0.0 and edges[-1] > 1.0
    assert np.histogram([1.0], bins=edges)[0][-1] == 1


def test_no_mc_is_a_data_error(inputs):
    _, data = inputs
    with pytest.raises(DataError, match="at least one MC process"):
        data_mc_histograms({}, data, ["x", "n"])


def _config(**samples):
    from hepml.config import config_from_dict

    return config_from_dict(
        {
            "samples": samples,
            "features": [{"name": "x", "expr": "x"}],
            "training": {},
            "evaluation": {"blind_above": 0.7, "significance": {"metric": "s_over_sqrt_b"}},
        }
    )


def test_data_samples_are_neither_signal_nor_background():
    cfg = _config(
        sig={"label": "signal", "files": "s.root"},
        bkg={"label": "background", "files": "b.root", "cross_section": 2.0},
        run2018={"label": "data", "files": "d.root"},
    )
    assert cfg.data_samples == ["run2018"]
    assert cfg.background_samples == ["bkg"]
    assert cfg.signal_samples == ["sig"]
    assert cfg.evaluation.blind_above == 0.7 and cfg.evaluation.unblind is False
    assert (
        cfg.evaluation.significance_metric == "s_over_sqrt_b"
        and cfg.evaluation.min_background == 1.0
    )


def test_data_cannot_stand_in_for_the_background():
    from hepml.exceptions import ConfigError

    with pytest.raises(ConfigError, match="no sample has label 'background'"):
        _config(
            sig={"label": "signal", "files": "s.root"},
            run2018={"label": "data", "files": "d.root"},
        )


def test_data_mc_from_files_equals_the_histograms_of_the_whole_matrices(tmp_path):
    """Scored in row batches (97 events each: several per table) and histogrammed one column
    at a time, the files give what data_mc_histograms gives on the stacked
    matrices scored by hand; MC samples of one process are summed, and so are data samples."""
    X, label = _data(n=2400, seed=5)
    fold = np.random.default_rng(6).integers(0, 3, len(label))
    models = _write_fold_models(tmp_path / "models", X, label, fold)
    weight = np.where(label == 1, 0.01, 0.5)
    parts = {"vbf": label == 1, "dy_a": (label == 0) & (np.arange(2400) % 3 == 0),
             "dy_b": (label == 0) & (np.arange(2400) % 3 == 1),
             "run_a": (label == 0) & (np.arange(2400) % 3 == 2)}  # fmt: skip
    tables = {}
    for name, rows in parts.items():
        tables[name] = tmp_path / f"{name}.parquet"
        _write_table(tables[name], X[rows], label[rows], fold[rows])
        table = pq.read_table(tables[name])
        w = weight[rows] if not name.startswith("run") else np.ones(rows.sum())
        pq.write_table(table.set_column(table.schema.get_field_index("_weight"), "_weight",
                                        pa.array(w)), tables[name])  # fmt: skip
    data_tables = {"run_a": tables.pop("run_a"), "run_b": tables["dy_b"]}
    options = {"bins": 12, "score_bins": 20, "blind_above": 0.7}
    content = data_mc_from_files(models, tables, data_tables,
                                 processes={"dy_a": "dy", "dy_b": "dy"}, batch_rows=97,
                                 **options)  # fmt: skip

    boosters, features = load_fold_models(models)

    def scored(samples):
        data = load_dataset({s: {**tables, **data_tables}[s] for s in samples}, features)
        score = np.empty(len(data))
        for k, booster in enumerate(boosters):
            rows = data.fold == k
            score[rows] = booster.inplace_predict(data.X[rows], validate_features=False)
        return data, score

    mc = {}
    for process, samples in (("vbf", ["vbf"]), ("dy", ["dy_a", "dy_b"])):
        data, score = scored(samples)
        mc[process] = Events(data.X, data.weight, score, int(data.label[0]))
    data, score = scored(["run_a", "run_b"])
    expected = data_mc_histograms(mc, Events(data.X, data.weight, score), features, **options)
    content = content.to_json()
    assert content == {**expected.to_json(), "data_samples": ["run_a", "run_b"]}
    assert list(content["score"]["processes"]) == ["vbf", "dy"]
    assert content["hidden_data_events"] == int((score > 0.7).sum()) > 0


def test_a_feature_range_and_bins_set_its_data_mc_binning(inputs):
    from hepml.evaluate.inputs import Binning

    mc, data = inputs
    out = data_mc_histograms(mc, data, ["x", "n"], bins=10, binning={"x": Binning(4, (-1.0, 1.0))})
    np.testing.assert_allclose(out.variables["x"].edges, [-1.0, -0.5, 0.0, 0.5, 1.0])
    # everything outside [-1, 1] lands in the flow bins: the data count is kept whole
    x = data.X[:, 0][data.score <= 0.5]
    assert out.variables["x"].data.sumw[0] == np.count_nonzero(x < -1.0)
    assert out.variables["x"].data.sumw[-1] == np.count_nonzero(x >= 1.0)
