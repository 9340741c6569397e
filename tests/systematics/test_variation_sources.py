"""Variations read from other files or another tree, with folds from (file, entry).

An analysis with ``event_number: none`` (folds from the nominal (file, entry)) of the demo
ntuples, whose ttbar files also hold a second tree ``events_copy`` with the same events, and a
copy of the ttbar files elsewhere. A variation reading the copies (files) or the second tree
must give back the nominal exactly: the same events, each scored by its nominal fold's model,
normalised from its own files (which hold the same generator weights). Files that do not hold
the nominal's events entry by entry are refused before anything is written.
"""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from systematics_helpers import analysis_config, make_analysis, read_summary, score_all

from hepml.config import config_from_dict
from hepml.demo.events import generate
from hepml.demo.files import DEMO_PROCESSES, _events_per_file, _file_seed
from hepml.exceptions import InputFileError

EVENTS = 3000


def _sources(demo_dir, variations: dict) -> dict:
    config = analysis_config(demo_dir, event_number="none")
    config["systematics"] = {"variations": variations}
    return config


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    config = _sources(
        base / "demo",
        {
            "copy": {
                "up": {"files": {"ttbar": str(base / "copies" / "ttbar_*.root")}},
                "down": {"tree": "events_copy"},
                "samples": ["ttbar"],
            }
        },
    )
    analysis = make_analysis(base, config, events=EVENTS)
    (base / "copies").mkdir()
    for path in sorted((base / "demo").glob("ttbar_*.root")):
        shutil.copy(path, base / "copies" / path.name)
    ttbar = next(p for p in DEMO_PROCESSES if p.name == "ttbar")
    sizes = _events_per_file(EVENTS, 2)["ttbar"]
    for index, size in enumerate(sizes):  # the same events again, as a second tree
        rng = np.random.default_rng(_file_seed(3, "ttbar", index))
        with uproot.update(base / "demo" / f"ttbar_{index}.root") as out:
            out.mktree("events_copy", generate(ttbar, rng, size, index))
    analysis["variations"] = score_all(analysis)
    return analysis


def _rows(analysis, variation: str):
    table = pq.read_table(analysis["variations"]["ttbar"]).to_pandas()
    return table[table.variation == variation].sort_values(["file", "entry"])


@pytest.mark.parametrize("variation", ["copyUp", "copyDown"])
def test_other_files_or_tree_with_the_same_events_give_the_nominal(analysis, variation):
    nominal, varied = _rows(analysis, "nominal"), _rows(analysis, variation)
    assert len(nominal) > 100 and len(varied) == len(nominal)
    for column in ("score", "fold", "file", "entry"):
        assert np.array_equal(varied[column].to_numpy(), nominal[column].to_numpy()), column
    np.testing.assert_allclose(varied.weight.to_numpy(), nominal.weight.to_numpy(), rtol=1e-12)
    record = read_summary(analysis["variations"]["ttbar"])["variations"][variation]
    assert record["kind"] == "source"
    if variation == "copyUp":  # normalised from the copies: the same sum of generator weights
        assert record["normalisation_from"] == "the variation's files"
        assert all("copies" in f for f in record["files"])
    else:
        assert record["normalisation_from"] == "ingest summary"
        assert all(f.endswith(":events_copy") for f in record["files"])
    assert record["normalisation"] == pytest.approx(
        analysis["summaries"]["ttbar"]["normalisation"], rel=1e-12
    )


def test_samples_it_does_not_affect_have_only_the_nominal(analysis):
    table = pq.read_table(analysis["variations"]["dy"]).to_pandas()
    assert set(table.variation) == {"nominal"}


def test_files_not_aligned_with_the_nominal_are_refused_up_front(analysis, tmp_path):
    """event_number: none: (file, entry) names the nominal event, so a variation's files must
    hold the nominal's events entry by entry; one file fewer is refused before writing."""
    config = _sources(
        analysis["demo"],
        {
            "short": {
                "samples": ["ttbar"],
                "up": {"files": {"ttbar": str(analysis["base"] / "copies" / "ttbar_0.root")}},
                "down": {"weight": "genWeight"},
            }
        },
    )
    cfg = config_from_dict(config)
    with pytest.raises(InputFileError, match="entry by entry") as info:
        score_all(analysis, cfg, out="short")
    assert "variation 'shortUp' of sample 'ttbar' reads 1 file(s)" in str(info.value)
    assert not (analysis["base"] / "short" / "ttbar.parquet").exists()
