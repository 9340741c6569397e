"""Compare the evaluation tables of two runs: what changed, by how much.

For a reviewer checking a rerun (every difference should be zero) or judging a change (new
features, other hyperparameters): every CSV table of ``results/evaluation/`` present in both
runs is matched row by row on its identifying columns (classifier, working point, fold, class,
...) and every other column is compared. Numbers give the difference B - A and the relative
difference (B - A) / |A|; other values (flags) are compared as text. Rows, columns or tables
present in one run only are reported as such, never silently dropped.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hepml.exceptions import DataError
from hepml.tables.text import format_value, markdown_table, write_table

__all__ = [
    "KEY_COLUMNS",
    "Comparison",
    "Difference",
    "compare_runs",
    "compare_tables",
    "comparison_markdown",
    "evaluation_dir",
    "write_comparison_csv",
]

# Columns that identify a row rather than measure something, in the order they are shown
# (numbers among them, like the fold; columns of names are found by _keys).
KEY_COLUMNS = (
    "classifier",
    "sample",
    "process",
    "background",
    "feature",
    "working_point",
    "fold",
    "class",
    "set",
    "trial",
)


@dataclass(frozen=True)
class Difference:
    """One quantity of one row of one table in runs A and B (None: absent from that run)."""

    table: str
    row: str  # "classifier=xgboost, fold=0"
    quantity: str
    a: str | None
    b: str | None

    @property
    def difference(self) -> float:
        """B - A for numbers (NaN when either is absent or not a number)."""
        a, b = _number(self.a), _number(self.b)
        if a is None or b is None:
            return math.nan
        if a == b:  # also inf == inf, which would give NaN
            return 0.0
        return b - a

    @property
    def relative_difference(self) -> float:
        """(B - A) / |A| (NaN when A is zero, absent or not a number)."""
        a = _number(self.a)
        if a is None or a == 0:
            return 0.0 if self.difference == 0 else math.nan
        return self.difference / abs(a)

    def changed(self, tolerance: float = 0.0) -> bool:
        """True when B differs from A by more than ``tolerance`` (absolute), or as text."""
        if self.a is None or self.b is None:
            return True
        delta = self.difference
        if math.isnan(delta):
            return self.a != self.b and not (_is_nan(self.a) and _is_nan(self.b))
        return abs(delta) > tolerance


@dataclass
class Comparison:
    """Every compared quantity, plus the tables found in one run only."""

    run_a: Path
    run_b: Path
    differences: list[Difference] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)  # table names
    only_in_b: list[str] = field(default_factory=list)

    def changed(self, tolerance: float = 0.0) -> list[Difference]:
        """The quantities that differ by more than ``tolerance``."""
        return [d for d in self.differences if d.changed(tolerance)]


def _number(value: str | None) -> float | None:
    if value is None or value.strip().lower() in ("true", "false"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _is_nan(value: str) -> bool:
    number = _number(value)
    return number is not None and math.isnan(number)


def evaluation_dir(run: str | os.PathLike[str]) -> Path:
    """The evaluation directory of a run: ``RUN/evaluation`` (a results dir) or ``RUN`` itself."""
    run = Path(run)
    if not run.is_dir():
        msg = f"'{run}' is not a directory: give a results directory (or its evaluation/)"
        raise DataError(msg)
    for candidate in (run / "evaluation", run / "results" / "evaluation", run):
        if any(candidate.glob("*.csv")):
            return candidate
    msg = f"'{run}' holds no evaluation tables: neither {run}/evaluation/*.csv nor {run}/*.csv"
    raise DataError(msg)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _keys(rows_a: Sequence[Mapping[str, str]], rows_b: Sequence[Mapping[str, str]]) -> list[str]:
    """The known identifying columns, then any other column that holds only names (text that
    is neither a number nor a flag, e.g. what a significance scan was optimised for)."""
    rows = [*rows_a, *rows_b]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    names = [
        c
        for c in columns
        if c not in KEY_COLUMNS
        and all(
            _number(row.get(c)) is None and str(row.get(c)).lower() not in ("true", "false")
            for row in rows
        )
    ]
    return [c for c in KEY_COLUMNS if c in columns] + names


def _index(table: str, rows: Sequence[Mapping[str, str]], keys: list[str], run: Path):
    indexed: dict[str, Mapping[str, str]] = {}
    for row in rows:
        label = ", ".join(f"{k}={row.get(k, '')}" for k in keys) or "(single row)"
        if label in indexed:
            msg = (
                f"{run}: table '{table}' has two rows with {label}; the rows cannot be matched"
                " between runs"
            )
            raise DataError(msg)
        indexed[label] = row
    return indexed


def compare_tables(
    table: str,
    rows_a: Sequence[Mapping[str, str]],
    rows_b: Sequence[Mapping[str, str]],
    *,
    run_a: Path = Path("A"),
    run_b: Path = Path("B"),
) -> list[Difference]:
    """Every (row, column) of one table in both runs, matched on the identifying columns."""
    keys = _keys(rows_a, rows_b)
    a = _index(table, rows_a, keys, run_a)
    b = _index(table, rows_b, keys, run_b)
    differences = []
    for label in list(a) + [k for k in b if k not in a]:
        row_a, row_b = a.get(label, {}), b.get(label, {})
        columns = list(row_a) + [c for c in row_b if c not in row_a]
        for column in columns:
            if column in keys:
                continue
            differences.append(
                Difference(table, label, column, row_a.get(column), row_b.get(column))
            )
    return differences


def compare_runs(run_a: str | os.PathLike[str], run_b: str | os.PathLike[str]) -> Comparison:
    """Compare every evaluation CSV table of run A with the same table of run B."""
    dir_a, dir_b = evaluation_dir(run_a), evaluation_dir(run_b)
    tables_a = {p.stem: p for p in sorted(dir_a.glob("*.csv"))}
    tables_b = {p.stem: p for p in sorted(dir_b.glob("*.csv"))}
    comparison = Comparison(
        Path(run_a),
        Path(run_b),
        only_in_a=sorted(set(tables_a) - set(tables_b)),
        only_in_b=sorted(set(tables_b) - set(tables_a)),
    )
    for name in sorted(set(tables_a) & set(tables_b)):
        comparison.differences += compare_tables(
            name,
            _read_csv(tables_a[name]),
            _read_csv(tables_b[name]),
            run_a=tables_a[name],
            run_b=tables_b[name],
        )
    return comparison


def _shown(value: str | None) -> str:
    if value is None:
        return "(absent)"
    number = _number(value)
    return format_value(number, 6) if number is not None else value


def _rows(differences: Sequence[Difference]) -> list[dict[str, object]]:
    return [
        {
            "row": d.row,
            "quantity": d.quantity,
            "A": _shown(d.a),
            "B": _shown(d.b),
            "B - A": format_value(d.difference, 3) if not math.isnan(d.difference) else "",
            "relative": (
                format_value(d.relative_difference, 3)
                if not math.isnan(d.relative_difference)
                else ""
            ),
        }
        for d in differences
    ]


def comparison_markdown(
    comparison: Comparison, *, tolerance: float = 0.0, only_changed: bool = False
) -> str:
    """A reviewer's Markdown report: a summary line, then one table per evaluation table."""
    changed = comparison.changed(tolerance)
    lines = [
        f"# Comparison of {comparison.run_a} (A) and {comparison.run_b} (B)",
        "",
        f"{len(comparison.differences)} quantities compared, {len(changed)} differ"
        + (f" by more than {tolerance:g}" if tolerance else "")
        + ".",
    ]
    for label, names in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if names:
            lines.append(f"Tables only in {label}: {', '.join(names)}.")
    shown = changed if only_changed else comparison.differences
    for table in dict.fromkeys(d.table for d in comparison.differences):
        rows = [d for d in shown if d.table == table]
        n_changed = sum(d.table == table for d in changed)
        lines += ["", f"## {table} ({n_changed} differ)", ""]
        lines.append(markdown_table(_rows(rows)).rstrip() if rows else "(no differences)")
    return "\n".join(lines) + "\n"


def write_comparison_csv(
    comparison: Comparison | Sequence[Comparison], path: str | os.PathLike[str]
) -> None:
    """Every compared quantity as CSV (full precision), written atomically. Several
    comparisons (run A against each other run) add a first column ``run_b``."""
    several = not isinstance(comparison, Comparison)
    comparisons = list(comparison) if several else [comparison]
    rows = [
        {
            **({"run_b": str(c.run_b)} if several else {}),
            "table": d.table,
            "row": d.row,
            "quantity": d.quantity,
            "a": "" if d.a is None else d.a,
            "b": "" if d.b is None else d.b,
            "difference": d.difference,
            "relative_difference": d.relative_difference,
            "changed": d.changed(),
        }
        for c in comparisons
        for d in c.differences
    ]
    write_table(rows, path)
