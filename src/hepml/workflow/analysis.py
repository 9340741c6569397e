"""Analysis directories: one directory per analysis, apart from the hepml installation.

``hepml init DIR`` creates, in the layout of the Snakemake workflow catalog's "deploy"
(``snakedeploy deploy-workflow``):

- ``config/config.yaml``: an annotated configuration to fill in (no demo);
- ``workflow/Snakefile``: a few lines that declare the installed hepml workflow as a Snakemake
  ``module`` and use all its rules, so ``cd DIR && snakemake --cores all`` runs it;
- ``profiles/{local,slurm,htcondor}/``: the cluster profiles, to edit (accounts, partitions);
- ``.gitignore``: results, logs and Snakemake's state stay out of version control.

Results, logs, benchmarks and the report are written inside ``DIR``: several analyses share one
hepml installation. This module imports nothing heavy: the analysis's Snakefile imports
:func:`workflow_snakefile` to find the installed workflow.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from hepml.exceptions import HepmlError

__all__ = ["init_analysis", "workflow_root", "workflow_snakefile"]

_HERE = Path(__file__).resolve().parent  # hepml/workflow


def workflow_root() -> Path:
    """The directory holding hepml's ``Snakefile``, ``workflow/``, ``config/``.

    In a wheel they are package data (``hepml/workflow/files/``); in a source checkout
    (editable install) they are the repository root.
    """
    for root in (_HERE / "files", _HERE.parents[2]):
        if (root / "Snakefile").is_file() and (root / "workflow" / "rules").is_dir():
            return root
    msg = (
        f"cannot find hepml's Snakemake workflow beside the package in {_HERE.parent}: "
        "reinstall hepml (pip install hepml, or pip install -e . in its checkout)"
    )
    raise HepmlError(msg)


def workflow_snakefile() -> str:
    """Path of the installed hepml workflow's Snakefile (for ``module: snakefile:``)."""
    return str(workflow_root() / "Snakefile")


def _template(name: str) -> str:
    return resources.files("hepml").joinpath("templates", name).read_text(encoding="utf-8")


def init_analysis(directory: str | os.PathLike[str]) -> Path:
    """Create the analysis directory ``directory`` (see the module docstring); return it.

    Refuses, touching nothing, when ``directory`` exists and is not empty: an analysis
    directory is only ever created, never overwritten.
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        msg = f"'{target}' exists and is not a directory"
        raise HepmlError(msg)
    if target.is_dir() and any(target.iterdir()):
        analysis = (target / "config" / "config.yaml").exists()
        what = "already an analysis directory" if analysis else "not empty"
        msg = (
            f"'{target}' is {what}: hepml init only creates new directories and never "
            "overwrites files. Choose another name, or edit the files that are there."
        )
        raise HepmlError(msg)
    root = workflow_root()
    target.mkdir(parents=True, exist_ok=True)
    (target / "config").mkdir()
    (target / "workflow").mkdir()
    (target / "config" / "config.yaml").write_text(_template("config.yaml"), encoding="utf-8")
    (target / "workflow" / "Snakefile").write_text(_template("Snakefile"), encoding="utf-8")
    (target / ".gitignore").write_text(_template("gitignore"), encoding="utf-8")
    for profile in sorted((root / "workflow" / "profiles").iterdir()):
        text = (profile / "config.yaml").read_text(encoding="utf-8")
        (target / "profiles" / profile.name).mkdir(parents=True)
        (target / "profiles" / profile.name / "config.yaml").write_text(
            text.replace("workflow/profiles/", "profiles/"), encoding="utf-8"
        )
    return target
