"""The public API, pinned (as pyhf's tests/test_public_api.py does): what ``import hepml``
offers, and the entry points each stage package names; each importable and documented."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
from conftest import ROOT

import hepml

PUBLIC = [
    "HepmlError",
    "Models",
    "Prediction",
    "__version__",
    "load_config",
    "load_models",
    "read_metrics",
    "read_scores",
]
PACKAGES = sorted(p.parent.name for p in (ROOT / "src" / "hepml").glob("*/__init__.py"))


def test_the_public_names_are_pinned():
    assert hepml.__all__ == PUBLIC
    assert dir(hepml) == PUBLIC


def _documented(owner, name: str, *, members: bool = True) -> list[str]:
    """Problems of ``owner.name``: not importable, or a function or class without docstring
    (with ``members``, also its public methods and properties)."""
    try:
        obj = getattr(owner, name)
    except AttributeError as err:
        return [f"{owner.__name__}.{name} is not importable: {err}"]
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return []  # constants (__version__, SCHEMA_PATH): documented where they are defined
    problems = [] if inspect.getdoc(obj) else [f"{owner.__name__}.{name} has no docstring"]
    if members and inspect.isclass(obj) and obj.__module__.startswith("hepml"):
        for member, value in vars(obj).items():
            if member.startswith("_") or not callable(getattr(value, "fget", value)):
                continue
            if not inspect.getdoc(getattr(value, "fget", value)):
                problems.append(f"{owner.__name__}.{name}.{member} has no docstring")
    return problems


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_importable_and_documented(name):
    assert not _documented(hepml, name)
    exec(f"from hepml import {name}", {})  # the form notebooks use


@pytest.mark.parametrize("package", PACKAGES)
def test_every_entry_point_of_a_stage_package_is_importable_and_documented(package):
    module = importlib.import_module(f"hepml.{package}")
    assert module.__doc__, f"hepml.{package} has no docstring"
    assert sorted(dir(module)) == sorted(module.__all__) or package in ("cli", "config")
    problems = [p for name in module.__all__ for p in _documented(module, name, members=False)]
    assert not problems, "; ".join(problems)


def test_import_hepml_is_light():
    """``import hepml`` (and the API package) loads no heavy library until a name is used."""
    code = (
        "import sys, hepml, hepml.api; "
        "heavy = {'xgboost', 'uproot', 'awkward', 'matplotlib', 'pyarrow', 'numpy', 'yaml'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"
