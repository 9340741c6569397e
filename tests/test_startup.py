"""Start-up of the jobs: each stage imports only the heavy libraries it uses.

Every Snakemake job is a fresh ``hepml`` process, so an import that a stage does not need
(scikit-learn and scipy.stats, which XGBoost imports: about two seconds; matplotlib) is paid
once per job. Each check runs a fresh interpreter and looks at ``sys.modules``; nothing is
timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

HEAVY = ("sklearn", "xgboost", "scipy.stats", "matplotlib", "pandas", "awkward", "vector")


def imported_after(code: str) -> set[str]:
    """The libraries of HEAVY that a fresh interpreter has imported after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(run.stdout.splitlines()[-1]))


def test_loading_the_demo_config_imports_no_heavy_library():
    # the demo lists baselines without params: the schema checks them, scikit-learn is not needed
    loaded = imported_after(
        """
        from hepml.config import load_config
        cfg = load_config(["config/config.yaml"])
        assert cfg.training.baselines
        """
    )
    assert loaded == set()


def test_what_the_snakefile_imports_is_light():
    """common.smk and resources.smk import these at every Snakemake start (cluster: per job)."""
    loaded = imported_after(
        "import hepml.workflow.resources, hepml.config.model, hepml.demo.files, hepml.cli.app"
    )
    assert loaded == set()


@pytest.mark.parametrize(
    ("modules", "allowed"),
    [
        (["hepml.ingest.sample"], {"awkward"}),
        (["hepml.apply.merge"], set()),  # once per split sample: bytes copied, nothing scored
        (["hepml.evaluate.performance", "hepml.tables.features"], set()),
        (["hepml.evaluate.inputs"], set()),
        (["hepml.plots.performance", "hepml.plots.inputs", "hepml.plots.training"], {"matplotlib"}),
    ],
)
def test_stages_that_do_not_train_or_plot_skip_those_libraries(modules, allowed):
    loaded = imported_after(f"import {', '.join(modules)}")
    assert loaded <= allowed, f"{modules} import {sorted(loaded - allowed)}"


def test_a_scoring_job_loads_xgboost_without_scikit_learn():
    """`hepml apply` (once per part of a sample split into jobs) imports XGBoost with
    scikit-learn hidden: the boosters score as before, and scikit-learn stays importable."""
    loaded = imported_after(
        """
        from hepml.scoring_imports import import_xgboost_for_scoring
        import_xgboost_for_scoring()
        import numpy as np, xgboost as xgb
        import hepml.apply.samples, hepml.models
        rng = np.random.default_rng(1)
        x = rng.normal(size=(200, 3))
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0), 5)
        scores = booster.inplace_predict(x)
        assert ((scores > 0.5) == (x[:, 0] > 0)).mean() > 0.9
        """
    )
    assert "xgboost" in loaded and not loaded & {"sklearn", "scipy.stats"}
    assert "sklearn" in imported_after(
        """
        from hepml.scoring_imports import import_xgboost_for_scoring
        import_xgboost_for_scoring()
        import sklearn.isotonic
        """
    )


def test_four_momentum_functions_on_branches_need_no_vector():
    """Collections read from files (NanoAOD pt/eta/phi/mass, the CMS tutorial's Px/Py/Pz/E)
    are summed and converted with numpy: scikit-hep vector (and the sympy it imports, half a
    second of every ingest and apply job) is imported only for other layouts."""
    loaded = imported_after(
        """
        import awkward as ak
        from hepml.ingest.expressions.language import parse_expression
        nano = {f"Jet_{c}": ak.Array([[50.0, 30.0, 20.0], [40.0], []]) for c in ("pt", "mass")}
        nano |= {f"Jet_{c}": ak.Array([[0.1, -1.0, 2.0], [0.3], []]) for c in ("eta", "phi")}
        cms = {f"Mu_{c}": ak.Array([[30.0, -10.0], [5.0], []]) for c in ("Px", "Py", "Pz")}
        cms["Mu_E"] = ak.Array([[60.0, 40.0], [9.0], []])
        for text, names in [
            ("m_lead(Jet, 2) + pt_lead(Jet, 3) + m_pair(Jet, Jet)", nano),
            ("delta_r(Jet_eta[0], Jet_phi[0], Jet_eta[1], Jet_phi[1])", nano),
            ("pt(Mu)[0] + eta(Mu)[0] + phi(Mu)[0] + mass(Mu)[0] + m_lead(Mu, 2)", cms),
        ]:
            parse_expression(text, where="test").evaluate(names, fill=-1.0)
        """
    )
    assert "vector" not in loaded
