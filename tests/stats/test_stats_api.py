"""hepml.stats: its public API, and that it depends only on what it says it does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hepml.stats

PACKAGE = Path(hepml.stats.__file__).parent
ALLOWED_HEPML = {"hepml.exceptions", "hepml.atomic"}


def test_public_names_exist_and_are_listed():
    assert sorted(hepml.stats.__all__) == sorted(set(hepml.stats.__all__))
    for name in hepml.stats.__all__:
        assert getattr(hepml.stats, name) is not None
    assert dir(hepml.stats) == sorted(hepml.stats.__all__)


def test_importing_the_package_does_not_import_matplotlib():
    code = "import sys, hepml.stats; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
