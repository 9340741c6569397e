"""Small hand-made templates and events for the tests of hepml.stats (numbers easy to check)."""

from __future__ import annotations

import numpy as np

from hepml.stats.fill import Events
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
