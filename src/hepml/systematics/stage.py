"""The fit stage's steps from files to files, as the ``hepml`` commands run them.

- :func:`make_templates`: the scored variants of every sample -> ``templates.json`` and the
  table of each variation's yield change (``variation_yields.csv/.md/.tex``);
- :func:`make_fit_inputs`: templates -> ROOT shapes, Combine datacard, HistFactory XML, pyhf
  workspace (:func:`hepml.stats.write_fit_inputs`);
- :func:`make_expected`: workspace -> the expected significance and upper limits
  (``expected.json/.csv/.md/.tex``) and the yields of a fit to the Asimov data of mu = 1
  (``fitted.json``, which the template plot draws).

Every output is checked before anything is computed (:func:`hepml.outputs.check_outputs`) and
written atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from hepml.atomic import write_json
from hepml.config import Config
from hepml.exceptions import DataError
from hepml.outputs import check_outputs
from hepml.stats import (
    expected_results,
    fitted_yields,
    read_templates,
    read_workspace,
    write_fit_inputs,
    write_results,
    write_templates,
)
from hepml.stats.jsonfile import check_format, read_json_file
from hepml.systematics.templates import (
    fit_model,
    fit_templates,
    read_variations,
    variation_yields,
)
from hepml.tables.text import write_table

__all__ = [
    "FITTED_FORMAT",
    "RESULT_FILES",
    "make_expected",
    "make_fit_inputs",
    "make_templates",
    "read_fitted",
]

log = logging.getLogger(__name__)

FITTED_FORMAT = "hepml-fitted-yields-1"
RESULT_FILES = ("expected.json", "expected.csv", "expected.md", "expected.tex", "fitted.json")
_YIELD_NOTE = (
    "Expected events per process for the nominal and each variation (all score bins); "
    "normalisation uncertainties by their factors."
)


def make_templates(
    config: Config,
    variations: Mapping[str, str | os.PathLike[str]],
    templates_path: str | os.PathLike[str],
    yields_dir: str | os.PathLike[str],
) -> None:
    """``templates.json`` and ``variation_yields.*`` from the samples' variation tables."""
    yields = {ext: Path(yields_dir) / f"variation_yields.{ext}" for ext in ("csv", "md", "tex")}
    check_outputs(files=[templates_path, *yields.values()], inputs=list(variations.values()))
    templates = fit_templates(config, read_variations(variations))
    write_templates(templates_path, templates)
    write_table(
        variation_yields(config, templates),
        yields["csv"],
        yields["md"],
        title="Yield change of each variation",
        note=_YIELD_NOTE,
        latex_path=yields["tex"],
    )


def make_fit_inputs(
    config: Config, templates_path: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> None:
    """The ROOT shapes, datacard, HistFactory XML and pyhf workspace of the templates."""
    check_outputs(inputs=[templates_path])
    write_fit_inputs(output_dir, fit_model(config, read_templates(templates_path)))


def make_expected(
    config: Config, workspace_path: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> None:
    """Expected results (``expected.*``) and the Asimov fit's yields (``fitted.json``)."""
    out = Path(output_dir)
    check_outputs(files=[out / name for name in RESULT_FILES], inputs=[workspace_path])
    spec = read_workspace(workspace_path)
    # one BLAS thread: the fits' last digits would otherwise depend on the machine's cores
    with threadpool_limits(limits=1):
        results = expected_results(spec, variants=config.fit.expected, cl=config.fit.cl)
        fit = fitted_yields(spec)
    write_results(
        results,
        json_path=out / "expected.json",
        csv_path=out / "expected.csv",
        markdown_path=out / "expected.md",
        latex_path=out / "expected.tex",
        metadata={"workspace": str(workspace_path), "channel": config.fit.channel},
    )
    write_json(
        out / "fitted.json",
        {
            "format": FITTED_FORMAT,
            "mu_asimov": 1.0,
            "parameters": fit.parameters,
            "yields": {
                channel: {sample: values.tolist() for sample, values in samples.items()}
                for channel, samples in fit.yields.items()
            },
        },
    )


def read_fitted(path: str | os.PathLike[str], channel: str) -> dict[str, Any]:
    """The fitted yields of ``channel`` (process -> per-bin yields) from ``fitted.json``."""

    def parse(data: Any) -> dict[str, Any]:
        check_format(data, FITTED_FORMAT, "hepml fitted yields")
        yields = data.get("yields", {})
        if channel not in yields:
            msg = f"no fitted yields of channel '{channel}' (channels: {sorted(yields)})"
            raise DataError(msg)
        return yields[channel]

    return read_json_file(path, "fitted yields", parse)
