"""All fit inputs of a :class:`~hepml.stats.model.FitModel` into one directory.

``shapes.root`` (templates), ``datacard.txt`` (CMS Combine), ``combination.xml`` +
``channel_<name>.xml`` + ``HistFactorySchema.dtd`` (HistFactory) and ``workspace.json``
(pyhf), every file written atomically. A file already there is replaced only if hepml wrote
it and it is unchanged since (:mod:`hepml.outputs`): a user's own datacard is never lost.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from hepml.outputs import check_outputs
from hepml.stats.datacard import write_datacard
from hepml.stats.histfactory import (
    COMBINATION_XML,
    DTD_NAME,
    channel_xml_name,
    write_histfactory,
)
from hepml.stats.model import FitModel
from hepml.stats.shapes import write_shapes
from hepml.stats.workspace import build_workspace, write_workspace

__all__ = ["DATACARD", "SHAPES", "WORKSPACE", "FitInputs", "write_fit_inputs"]

log = logging.getLogger(__name__)

SHAPES = "shapes.root"
DATACARD = "datacard.txt"
WORKSPACE = "workspace.json"


@dataclasses.dataclass(frozen=True)
class FitInputs:
    """Paths of the files :func:`write_fit_inputs` wrote, and the workspace it built."""

    shapes: Path
    datacard: Path
    combination_xml: Path
    histfactory_files: tuple[Path, ...]
    workspace: Path
    workspace_spec: dict[str, Any]


def _targets(directory: Path, model: FitModel) -> list[Path]:
    names = [SHAPES, DATACARD, COMBINATION_XML, DTD_NAME, WORKSPACE]
    names += [channel_xml_name(t.channel) for t in model.channels]
    return [directory / name for name in names]


def write_fit_inputs(directory: str | os.PathLike[str], model: FitModel) -> FitInputs:
    """Write the ROOT shapes, datacard, HistFactory XML and pyhf workspace of ``model``.

    Refuses (:class:`~hepml.exceptions.OutputConflict`, before writing anything) when one of
    the files is there and hepml did not write it, or it was changed since.
    """
    directory = Path(directory)
    check_outputs(files=_targets(directory, model))
    spec = build_workspace(model)  # first: an invalid model writes nothing
    directory.mkdir(parents=True, exist_ok=True)
    write_shapes(directory / SHAPES, model)
    write_datacard(directory / DATACARD, model, SHAPES)
    xml_files = write_histfactory(directory, model, SHAPES)
    write_workspace(directory / WORKSPACE, spec)
    log.info("fit inputs of %d channel(s) written to %s", len(model.channels), directory)
    return FitInputs(
        shapes=directory / SHAPES,
        datacard=directory / DATACARD,
        combination_xml=directory / COMBINATION_XML,
        histfactory_files=tuple(xml_files),
        workspace=directory / WORKSPACE,
        workspace_spec=spec,
    )
