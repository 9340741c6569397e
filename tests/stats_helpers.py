"""Small hand-made templates and events for the tests of hepml.stats (numbers easy to check)."""

from __future__ import annotations

import numpy as np

from hepml.stats.fill import Events
from hepml.stats.model import FitModel, NormSystematic
from hepml.stats.templates import Templates

ROLES = {"sig": "signal", "ttbar": "background", "wjets": "background"}


def three_bin_templates(channel: str = "SR") -> Templates:
    """Three bins, one signal, two backgrounds, a shape systematic 'jes' on all and a
    weight systematic 'pu' on ttbar only."""
    sumw = {
        "sig": {
            "nominal": [1.0, 3.0, 6.0],
            "jesUp": [0.8, 3.1, 6.6],
            "jesDown": [1.2, 2.9, 5.5],
        },
        "ttbar": {
            "nominal": [40.0, 12.0, 3.0],
            "jesUp": [38.0, 13.0, 3.6],
            "jesDown": [42.0, 11.0, 2.5],
            "puUp": [41.0, 12.5, 3.2],
            "puDown": [39.0, 11.6, 2.9],
        },
        "wjets": {
            "nominal": [30.0, 6.0, 1.5],
            "jesUp": [29.0, 6.4, 1.8],
            "jesDown": [31.0, 5.7, 1.3],
        },
    }
    # MC variance: signal weights 0.01, backgrounds 0.1 (sumw2 = w * sumw)
    sumw2 = {
        p: {v: [x * (0.01 if p == "sig" else 0.1) for x in values] for v, values in t.items()}
        for p, t in sumw.items()
    }
    return Templates(channel, [0.0, 0.5, 0.8, 1.0], ROLES, sumw, sumw2)


def random_events(n: int = 3000, seed: int = 7) -> tuple[Events, dict[str, Events]]:
    """Nominal events of sig/ttbar/wjets with a shape (jes) and a weight (pu) variation."""
    rng = np.random.default_rng(seed)
    process = rng.choice(list(ROLES), n, p=[0.2, 0.5, 0.3])
    is_signal = process == "sig"
    score = np.where(is_signal, rng.beta(5, 2, n), rng.beta(2, 5, n))
    weight = np.where(is_signal, 0.01, 0.1) * rng.uniform(0.5, 1.5, n)
    nominal = Events(score, weight, process)
    variations = {
        "jesUp": Events(np.clip(score * 1.05, 0, 1), weight, process),
        "jesDown": Events(score * 0.95, weight, process),
        "puUp": Events(score, weight * 1.03, process),
        "puDown": Events(score, weight * 0.96, process),
    }
    return nominal, variations


def full_model() -> FitModel:
    xsec = NormSystematic("xsec_ttbar", {"ttbar": (0.9, 1.1)})
    return FitModel(three_bin_templates(), [xsec], lumi_uncertainty=0.02)


def hand_workspace() -> dict:
    """The workspace of full_model() written out by hand from the numbers of stats_helpers."""
    nominal = {"sig": [1.0, 3.0, 6.0], "ttbar": [40.0, 12.0, 3.0], "wjets": [30.0, 6.0, 1.5]}
    jes = {
        "sig": ([1.2, 2.9, 5.5], [0.8, 3.1, 6.6]),
        "ttbar": ([42.0, 11.0, 2.5], [38.0, 13.0, 3.6]),
        "wjets": ([31.0, 5.7, 1.3], [29.0, 6.4, 1.8]),
    }
    pu = ([39.0, 11.6, 2.9], [41.0, 12.5, 3.2])
    weight = {"sig": 0.01, "ttbar": 0.1, "wjets": 0.1}

    def shape_pair(name, nom, down, up):
        # the yield change as normsys, the shape at nominal yield as histosys
        k_down, k_up = sum(down) / sum(nom), sum(up) / sum(nom)
        return [
            {"name": name, "type": "normsys", "data": {"hi": k_up, "lo": k_down}},
            {
                "name": name,
                "type": "histosys",
                "data": {"hi_data": [u / k_up for u in up], "lo_data": [d / k_down for d in down]},
            },
        ]

    samples = []
    for name, nom in nominal.items():
        modifiers = [{"name": "mu", "type": "normfactor", "data": None}] if name == "sig" else []
        if name == "ttbar":
            modifiers.append(
                {"name": "xsec_ttbar", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
            )
        modifiers += shape_pair("jes", nom, *jes[name])
        if name == "ttbar":
            modifiers += shape_pair("pu", nom, *pu)
        modifiers.append({"name": "lumi", "type": "lumi", "data": None})
        modifiers.append(
            {
                "name": "staterror_SR",
                "type": "staterror",
                "data": [np.sqrt(weight[name] * x) for x in nom],
            }
        )
        samples.append({"name": name, "data": nom, "modifiers": modifiers})
    lumi = {
        "name": "lumi",
        "auxdata": [1.0],
        "sigmas": [0.02],
        "bounds": [[0.9, 1.1]],
        "inits": [1.0],
    }
    mu = {"name": "mu", "bounds": [[0.0, 10.0]], "inits": [1.0]}
    return {
        "channels": [{"name": "SR", "samples": samples}],
        "observations": [{"name": "SR", "data": [70.0, 18.0, 4.5]}],
        "measurements": [{"name": "hepml", "config": {"poi": "mu", "parameters": [mu, lumi]}}],
        "version": "1.0.0",
    }
