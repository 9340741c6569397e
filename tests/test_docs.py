"""The documentation site (mkdocs.yml) builds strictly: every page, link and API entry."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

import hepml

NOT_INSTALLED = "the docs extra is not installed: pip install -e '.[docs]'"
pytest.importorskip("mkdocs", reason=NOT_INSTALLED)
pytest.importorskip("mkdocstrings_handlers.python", reason=NOT_INSTALLED)


def test_the_documentation_builds_strictly_with_the_whole_api(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    public = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in hepml.__all__:
        if name != "__version__":
            assert f"hepml.{name}" in public, name
    assert "and score each selected event" in public  # a docstring, rendered
    packages = [p.parent.name for p in (ROOT / "src" / "hepml").glob("*/__init__.py")]
    for package in set(packages) - {"api", "cli"}:
        assert (site / "api" / package / "index.html").is_file(), package
    guide = (site / "guide" / "index.html").read_text(encoding="utf-8")
    assert 'href="../configuration/' in guide  # README's links rewritten for the site
    leaked = [
        str(p.relative_to(site))
        for p in site.rglob("*.html")
        if ":func:`" in p.read_text(encoding="utf-8") or ":class:`" in p.read_text(encoding="utf-8")
    ]
    assert not leaked, f"Sphinx roles left in {leaked}"
