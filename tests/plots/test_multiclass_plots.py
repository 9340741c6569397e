"""The multiclass, calibration and categories plots, drawn from the evaluations' JSON: one
curve per class, the matrix's cells as computed, every file written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from multiclass_helpers import CLASSES, score_tables

from hepml.evaluate.calibration import evaluate_calibration, write_calibration
from hepml.evaluate.multiclass import evaluate_multiclass
from hepml.evaluate.multiclass_tables import write_multiclass
from hepml.exceptions import DataError
from hepml.plots.calibration import draw_calibration, plot_reliability
from hepml.plots.categories import draw_categories
from hepml.plots.multiclass import (
    draw_multiclass,
    plot_multiclass_confusion,
    plot_multiclass_roc,
)
from hepml.plots.style import PlotStyle

STYLE = PlotStyle(experiment=None, luminosity_fb=10.0)


@pytest.fixture
def evaluation(tmp_path):
    paths, _ = score_tables(tmp_path, n=600)
    write_multiclass([evaluate_multiclass(paths, CLASSES, bins=10)], tmp_path / "ev")
    return tmp_path / "ev"


def test_every_multiclass_plot_is_written(evaluation, tmp_path):
    written = draw_multiclass(evaluation, tmp_path / "plots", STYLE)
    names = {p.stem for p in written}
    expected = {"multiclass_roc", "multiclass_confusion"}
    expected |= {f"multiclass_{kind}_{c}" for kind in ("score", "overtraining") for c in CLASSES}
    assert names == expected
    assert all(p.stat().st_size > 1000 for p in written) and len(written) == 2 * len(expected)


def test_roc_has_one_curve_per_class_in_the_classes_order(evaluation):
    data = json.loads((evaluation / "multiclass.json").read_text())["classifiers"]["xgboost"]
    figure = plot_multiclass_roc(data, STYLE)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert [label.split(" vs rest")[0] for label in labels] == CLASSES


def test_confusion_cells_are_each_true_class_s_fractions(evaluation):
    data = json.loads((evaluation / "multiclass.json").read_text())["classifiers"]["xgboost"]
    figure = plot_multiclass_confusion(data, STYLE)
    cells = np.asarray(figure.axes[0].images[0].get_array())
    expected = np.asarray(data["confusion"]["expected"])
    np.testing.assert_allclose(cells, expected / expected.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(cells.sum(axis=1), 1.0)


def test_reliability_and_rarity_plots(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    paths = []
    for k in range(3):
        label = (rng.random(900) < 0.3).astype(np.int8)
        score = np.clip(rng.normal(0.3 + 0.3 * label, 0.2), 0.001, 0.999)
        table = {"score": score, "score_platt": score * 0.5, "score_rarity": rng.random(900),
                 "label": label, "weight": np.ones(900), "set": np.full(900, "test"),
                 "model_fold": np.full(900, k, np.int8)}  # fmt: skip
        pq.write_table(pa.table(table), tmp_path / f"f{k}.parquet")
        paths.append(tmp_path / f"f{k}.parquet")
    result = evaluate_calibration(paths, policy="abs", prior="physics", bins=8)
    write_calibration(result, tmp_path / "ev")
    written = draw_calibration(tmp_path / "ev", tmp_path / "plots", STYLE)
    assert {p.name for p in written} == {
        "reliability.pdf",
        "reliability.png",
        "rarity.pdf",
        "rarity.png",
    }
    figure = plot_reliability(result, STYLE)
    assert len(figure.axes[0].get_lines()) == 3  # raw, Platt, the diagonal


def test_categories_plot_and_a_missing_input(tmp_path):
    combined = {
        "metric": "asimov",
        "rows": [
            {"name": "a", "kind": "category", "significance": 1.0},
            {"name": "combined", "kind": "sqrt(sum Z_i^2)", "significance": 1.4},
            {"name": "inclusive", "kind": "inclusive BDT", "significance": 1.2},
        ],
    }
    (tmp_path / "combined.json").write_text(json.dumps(combined))
    written = draw_categories(tmp_path / "combined.json", tmp_path / "plots", STYLE)
    assert [p.name for p in written] == [
        "categories_significance.pdf",
        "categories_significance.png",
    ]
    with pytest.raises(DataError, match="run the evaluate_multiclass rule"):
        draw_multiclass(tmp_path / "nothing", tmp_path / "plots", STYLE)
