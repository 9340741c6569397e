"""Sum of generator weights from entries, histograms, another tree or the config."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from ntuple_faults import write_baskets

from hepml.config import config_from_dict
from hepml.exceptions import ConfigError, DataError, InputFileError, UnknownBranch
from hepml.ingest.sample import ingest_sample, summary_of

XSEC, LUMI = 3.0, 20.0  # pb, fb^-1
RUNS = [np.array([100.0, 250.5]), np.array([80.25])]  # genEventSumw per luminosity run
COUNTS = [np.array([7.0, 410.0, 3.0, 2.0]), np.array([1.0, 390.0, 0.0, 5.0])]  # hCount bins


@pytest.fixture
def files(tmp_path):
    """Two NanoAOD-like files: Events, a Runs tree and a counting histogram in each."""
    events = []
    for i in range(2):
        path = tmp_path / f"f{i}.root"
        events.append(write_baskets(path, baskets=1, per_basket=300, seed=i, first_event=i * 300))
        with uproot.update(path) as f:
            f.mktree("Runs", {"genEventSumw": RUNS[i], "tag": np.array(["x"] * len(RUNS[i]))})
            f["meta/hCount"] = (COUNTS[i], np.arange(5.0))
            f["hText"] = (np.array([1.0]), np.array([0.0, 1.0]))
    return tmp_path, events


def make_config(directory, sum_of_weights=None) -> dict:
    sample = {
        "label": "signal",
        "files": str(directory / "f*.root"),
        "cross_section": XSEC,
        "weight": "genWeight",
    }
    if sum_of_weights is not None:
        sample["sum_of_weights"] = sum_of_weights
    return {
        "luminosity": LUMI,
        "samples": {"s": sample, "b": {"label": "background", "files": "x.root"}},
        "features": [{"name": "met", "expr": "MET_pt"}],
        "training": {},
    }


def weights_for(directory, sum_of_weights):
    result = ingest_sample(
        config_from_dict(make_config(directory, sum_of_weights)), "s", directory / "o.parquet"
    )
    return result, pq.read_table(directory / "o.parquet").column("_weight").to_numpy()


@pytest.mark.parametrize(
    ("source", "expected_sum", "described"),
    [
        (None, "entries", "'genWeight' summed over all entries"),
        (1234.5, 1234.5, "config (sum_of_weights)"),
        ({"tree": "Runs", "branch": "genEventSumw"}, 100 + 250.5 + 80.25, "'genEventSumw' of"),
        ({"histogram": "meta/hCount", "bin": 2}, 410.0 + 390.0, "histogram 'meta/hCount' (bin 2)"),
        ({"histogram": "meta/hCount"}, 7 + 410 + 3 + 2 + 1 + 390 + 0 + 5, "all in-range bins"),
    ],
)
def test_sources_of_the_sum(files, source, expected_sum, described):
    directory, events = files
    gen = np.concatenate([e["genWeight"] for e in events]).astype(np.float64)
    if expected_sum == "entries":
        expected_sum = float(gen.sum())
    result, weights = weights_for(directory, source)
    assert result.sum_of_weights == pytest.approx(expected_sum, rel=1e-12)
    np.testing.assert_allclose(weights, XSEC * LUMI * 1000.0 / expected_sum * gen, rtol=1e-12)
    summary = summary_of(result)
    assert described in summary["sum_of_weights_source"]
    assert summary["weighted_yield"] == pytest.approx(weights.sum())


def test_histogram_underflow_and_overflow_bins(files):
    directory, _ = files
    # bin 0 is the underflow, bin 5 the overflow of a 4-bin histogram; uproot wrote them as 0
    with pytest.raises(DataError, match=r"sum of generator weights .*histogram.* is 0"):
        weights_for(directory, {"histogram": "meta/hCount", "bin": 0})
    with pytest.raises(InputFileError, match=r"has 4 bins \(bin numbers 0 = underflow to 5"):
        weights_for(directory, {"histogram": "meta/hCount", "bin": 6})


@pytest.mark.parametrize(
    ("source", "error", "match"),
    [
        ({"histogram": "meta/hCont"}, InputFileError, r"f0.root' has no 'meta/hCont'.*hCount'"),
        ({"histogram": "Runs"}, InputFileError, r"'Runs' in '.*f0.root' is a TTree, not a TH1"),
        ({"tree": "Run", "branch": "genEventSumw"}, InputFileError, r"no 'Run'.*mean 'Runs'"),
        ({"tree": "Runs", "branch": "genEventSumW"}, UnknownBranch, r"no branch .*'genEventSumw'"),
        ({"tree": "Runs", "branch": "tag"}, Exception, r"branch 'tag' .*Runs.*f0.root"),
        ({"tree": "meta/hCount", "branch": "x"}, InputFileError, r"is a TH1D, not a TTree"),
    ],
)
def test_missing_or_wrong_sources_name_file_and_object(files, source, error, match):
    directory, _ = files
    with pytest.raises(error, match=match):
        weights_for(directory, source)
    assert not (directory / "o.parquet").exists()


@pytest.mark.parametrize(
    ("weight", "match"), [("genWeight * 0", r" is 0;"), ("abs(genWeight) * inf", r" is inf;")]
)
def test_sum_must_be_positive_and_finite(files, weight, match):
    directory, _ = files
    data = make_config(directory)
    data["samples"]["s"]["generator_weight"] = weight
    with pytest.raises(DataError, match=r"sample 's': the sum of generator weights .*" + match):
        ingest_sample(config_from_dict(data), "s", directory / "o.parquet")


def test_generator_weight_may_differ_from_the_event_weight(files):
    directory, events = files
    data = make_config(directory)
    data["samples"]["s"]["weight"] = "genWeight * 0.5"  # e.g. times a scale factor
    data["samples"]["s"]["generator_weight"] = "genWeight"
    ingest_sample(config_from_dict(data), "s", directory / "o.parquet")
    gen = np.concatenate([e["genWeight"] for e in events]).astype(np.float64)
    weights = pq.read_table(directory / "o.parquet").column("_weight").to_numpy()
    np.testing.assert_allclose(weights, XSEC * LUMI * 1000.0 / gen.sum() * 0.5 * gen, rtol=1e-12)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"histogram": "h", "tree": "Runs"}, r"give either \{histogram: NAME\}"),
        ({"tree": "Runs"}, r"give either"),
        ({"branch": "x", "bin": 1}, r"give either"),
        ({"histgram": "h"}, r"unknown key 'samples.s.sum_of_weights.histgram'.*'histogram'"),
        (-5, r"sum_of_weights: -5 is less than or equal to the minimum of 0"),
        ("many", r"sum_of_weights: 'many' is not of type 'number', 'object'"),
    ],
)
def test_config_errors(tmp_path, value, match):
    data = make_config(tmp_path, copy.deepcopy(value))
    with pytest.raises(ConfigError, match=match):
        config_from_dict(data)
