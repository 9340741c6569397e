"""The documentation stays honest: every test RELIABILITY.md cites exists, and it lists at
least 40 failure modes."""

from __future__ import annotations

import re

from conftest import ROOT

CITATION = re.compile(r"`(tests/[\w/]+\.py)?(::[\w*]+)?[^`]*`")


def test_every_cited_test_exists():
    text = (ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    missing = []
    for line in text.splitlines():
        current = None  # `::test_x` after a `tests/...py::test_y` cites the same file
        for match in CITATION.finditer(line):
            path, test = match.groups()
            current = path or current
            if current is None:
                continue
            source = ROOT / current
            if not source.is_file():
                missing.append(current)
            elif test and f"def {test[2:].rstrip('*')}" not in source.read_text(encoding="utf-8"):
                missing.append(f"{current}{test}")
    assert not missing, f"RELIABILITY.md cites tests that do not exist: {missing}"


def test_reliability_lists_the_failure_modes():
    rows = [
        line
        for line in (ROOT / "RELIABILITY.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith(("| ---", "| failure", "| case"))
    ]
    assert len(rows) >= 40
    cited = ("tests/", "workflow/")
    assert all(line.count("|") >= 4 and any(c in line for c in cited) for line in rows)
