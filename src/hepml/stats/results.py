"""The expected results as a table (CSV, Markdown, LaTeX) and as JSON, and their writers.

One row per model variant (stat only, all systematics, ...): the expected discovery
significance Z, its p-value, and the expected upper limit on mu with its +-1 and +-2 sigma
bands. The JSON keeps full precision and is read back by :func:`read_results`.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from hepml.atomic import write_json, write_text
from hepml.exceptions import DataError
from hepml.stats.expected import ExpectedResult
from hepml.stats.jsonfile import check_format, read_json_file

__all__ = [
    "RESULTS_FORMAT",
    "read_results",
    "results_csv",
    "results_json",
    "results_latex",
    "results_markdown",
    "write_results",
]

RESULTS_FORMAT = "hepml-expected-results-1"
_CSV_COLUMNS = (
    "variant",
    "significance",
    "p_value",
    "cl",
    "limit_minus_2sigma",
    "limit_minus_1sigma",
    "limit_median",
    "limit_plus_1sigma",
    "limit_plus_2sigma",
)


def results_csv(results: Sequence[ExpectedResult]) -> str:
    """One row per variant, full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for r in results:
        writer.writerow(
            [r.variant, repr(r.significance), repr(r.p_value), repr(r.cl)]
            + [repr(v) for v in r.limit_band]
        )
    return buffer.getvalue()


def _interval(low: float, high: float) -> str:
    return f"[{low:.3g}, {high:.3g}]"


def results_markdown(results: Sequence[ExpectedResult]) -> str:
    """A Markdown table: Z, p0, median limit and its 68 % / 95 % bands (3 significant digits)."""
    cl = f"{results[0].cl:.0%}" if results else "95%"
    lines = [
        f"| Model | Expected Z | Expected p0 | Expected {cl} CL limit on mu "
        "| 68% band | 95% band |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m2, m1, median, p1, p2 = r.limit_band
        lines.append(
            f"| {r.label} | {r.significance:.3f} | {r.p_value:.3g} | {median:.3g} | "
            f"{_interval(m1, p1)} | {_interval(m2, p2)} |"
        )
    return "\n".join(lines) + "\n"


def results_latex(results: Sequence[ExpectedResult]) -> str:
    """A LaTeX ``tabular`` (booktabs rules): limit as median with +- band offsets."""
    lines = [
        r"\begin{tabular}{lccc}",
        r"\toprule",
        r"Model & Expected $Z$ & Expected $p_0$ & Expected upper limit on $\mu$ \\",
        r"\midrule",
    ]
    for r in results:
        m2, m1, median, p1, p2 = r.limit_band
        limit = (
            f"${median:.3g}^{{+{p1 - median:.2g}}}_{{-{median - m1:.2g}}}$ "
            f"(95\\%: [{m2:.3g}, {p2:.3g}])"
        )
        label = r.label.replace("%", r"\%")
        lines.append(f"{label} & {r.significance:.3f} & {r.p_value:.3g} & {limit} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def results_json(
    results: Sequence[ExpectedResult], *, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """JSON-ready results with a ``format`` tag and optional ``metadata`` (e.g. the binning)."""
    return {
        "format": RESULTS_FORMAT,
        "results": [r.as_dict() for r in results],
        "metadata": dict(metadata or {}),
    }


def write_results(
    results: Sequence[ExpectedResult],
    *,
    json_path: str | os.PathLike[str] | None = None,
    csv_path: str | os.PathLike[str] | None = None,
    markdown_path: str | os.PathLike[str] | None = None,
    latex_path: str | os.PathLike[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write each requested form of ``results`` atomically (None: not written)."""
    if json_path is not None:
        write_json(json_path, results_json(results, metadata=metadata))
    for path, render in (
        (csv_path, results_csv),
        (markdown_path, results_markdown),
        (latex_path, results_latex),
    ):
        if path is not None:
            write_text(path, render(results))


def _results_from_dict(data: Any) -> list[ExpectedResult]:
    check_format(data, RESULTS_FORMAT, "hepml expected results")
    try:
        return [ExpectedResult.from_dict(entry) for entry in data["results"]]
    except (KeyError, TypeError) as err:
        msg = f"expected results lack the entry {err}"
        raise DataError(msg) from err


def read_results(path: str | os.PathLike[str]) -> list[ExpectedResult]:
    """Read the JSON of :func:`write_results`; errors name the file."""
    return read_json_file(path, "expected results", _results_from_dict)
