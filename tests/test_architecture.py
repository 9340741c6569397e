"""The house rules, written down: which package may import which (module-level and lazy
imports alike), no cycles between the stage packages, rules that reach hepml only through
its command, and modules of a readable size. A new violation fails here."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

import pytest
from conftest import ROOT

SRC = ROOT / "src" / "hepml"
STAGES = {"ingest", "train", "evaluate", "plots", "apply", "export", "demo"}
MAX_LINES = 450

# package -> (imports it must never make, why)
FORBIDDEN = {
    "config": (
        STAGES | {"workflow", "review", "cli", "models", "tables"},
        "the config is read by every stage and depends on none",
    ),
    "train": ({"evaluate", "plots", "apply", "export"}, "training never evaluates or draws"),
    "evaluate": ({"matplotlib", "plots", "train", "apply"}, "evaluation computes data only"),
    "plots": ({"train", "ingest", "xgboost", "apply"}, "plots draw data files, nothing else"),
    "ingest": ({"xgboost", "train", "evaluate", "plots", "apply", "export"}, "reading only"),
    "tables": (STAGES | {"matplotlib", "xgboost"}, "tables are read by the stages"),
    "folds": (STAGES | {"xgboost", "matplotlib"}, "folds are a shared concept"),
    "stats": (STAGES | {"xgboost", "matplotlib"}, "the statistical model works on histograms"),
    "api": (
        {"train", "plots", "matplotlib", "cli", "workflow"},
        "the public API reads a finished run and scores events: it never trains or draws",
    ),
    "plotdata": (
        STAGES | {"matplotlib", "xgboost", "config"},
        "plot data are written by the stages that compute and read by the plots",
    ),
    "progress": (STAGES | {"matplotlib", "xgboost"}, "progress lines are a shared helper"),
    "systematics": (
        {"train", "evaluate", "plots", "apply", "export", "matplotlib"},
        "variations are read and scored as ingest and the models do, never drawn",
    ),
}


def _package(module: str) -> str:
    """hepml.ingest.reading -> ingest; hepml.folds -> folds; xgboost.core -> xgboost."""
    parts = module.split(".")
    return parts[1] if parts[0] == "hepml" and len(parts) > 1 else parts[0]


def _imports() -> dict[str, set[str]]:
    """Module name -> every module it imports, at any depth of the code."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        modules = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
                if node.module == "hepml":
                    modules |= {f"hepml.{alias.name}" for alias in node.names}
        found[name] = modules
    return found


IMPORTS = _imports()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_their_stage_needs(package):
    forbidden, why = FORBIDDEN[package]
    violations = sorted(
        f"{module} imports {imported}"
        for module, imported_modules in IMPORTS.items()
        if _package(module) == package
        for imported in imported_modules
        if _package(imported) in forbidden and _package(imported) != package
    )
    assert not violations, f"{package}: {why}; but " + "; ".join(violations)


def test_no_cycles_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported_modules in IMPORTS.items():
        for imported in imported_modules:
            if imported.startswith("hepml.") and _package(imported) != _package(module):
                graph[_package(module)].add(_package(imported))
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, "import cycles between packages: " + "; ".join(sorted(set(cycles))[:5])


def test_rules_reach_hepml_only_through_its_command():
    rule_files = [ROOT / "Snakefile", *(ROOT / "workflow").rglob("*.smk")]
    pattern = re.compile(r"^\s*(from hepml|import hepml)", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in rule_files if pattern.search(p.read_text())]
    assert not offenders, f"rule files importing hepml: {offenders}"
    shells = "".join(p.read_text() for p in rule_files)
    assert "hepml plan" in shells and "shell:" in shells


def test_modules_stay_readable():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_package_names_its_entry_points():
    for init in SRC.glob("*/__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = [
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        ]
        assert "__all__" in names, f"{init.relative_to(SRC)} has no __all__"
