"""HistFactory XML of a :class:`~hepml.stats.model.FitModel`, reading the shapes ROOT file.

A top-level ``combination.xml`` (the measurement: POI, luminosity) and one
``channel_<name>.xml`` per channel, in one directory beside the shapes file and pyhf's copy of
``HistFactorySchema.dtd``. ``pyhf.readxml.parse("combination.xml", rootdir=<directory>)``
gives the same model as :func:`hepml.stats.workspace.build_workspace`; ROOT's
``hist2workspace combination.xml`` run in that directory builds the RooFit workspace.

Per sample: ``NormFactor`` mu on signals, ``OverallSys`` for normalisation uncertainties,
``OverallSys`` + ``HistoSys`` (shape-only templates) for up/down pairs, ``StatError`` (the
TH1's sumw2, ``RelErrorThreshold="0"`` so every bin gets its parameter, as in pyhf), and
``NormalizeByTheory`` when a luminosity uncertainty is given.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pyhf.schema

from hepml.atomic import write_text
from hepml.stats.model import DATA_OBS, FitModel, shape_only_key
from hepml.stats.templates import Templates

__all__ = [
    "COMBINATION_XML",
    "DTD_NAME",
    "channel_xml_name",
    "histfactory_xml",
    "write_histfactory",
]

COMBINATION_XML = "combination.xml"
DTD_NAME = "HistFactorySchema.dtd"


def channel_xml_name(channel: str) -> str:
    """File name of a channel's XML."""
    return f"channel_{channel}.xml"


def _text(root: ET.Element, doctype: str) -> str:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE {doctype} SYSTEM '{DTD_NAME}'>\n\n{body}\n"


def _sample(model: FitModel, templates: Templates, process: str) -> ET.Element:
    channel = templates.channel
    by_theory = str(model.lumi_uncertainty is not None)
    sample = ET.Element(
        "Sample", Name=process, HistoName=process, HistoPath=channel, NormalizeByTheory=by_theory
    )
    ET.SubElement(sample, "StatError", Activate="True")
    if templates.roles[process] == "signal":
        low, high = model.poi_bounds
        ET.SubElement(sample, "NormFactor", Name=model.poi, Val="1", Low=repr(low), High=repr(high))
    for name, down, up in model.norm_factors(process):
        ET.SubElement(sample, "OverallSys", Name=name, Low=repr(down), High=repr(up))
    for syst, split in model.shape_splits(templates, process).items():
        ET.SubElement(
            sample, "OverallSys", Name=syst, Low=repr(split.kappa_down), High=repr(split.kappa_up)
        )
        low_path, low_name = shape_only_key(channel, process, f"{syst}Down").rsplit("/", 1)
        high_path, high_name = shape_only_key(channel, process, f"{syst}Up").rsplit("/", 1)
        ET.SubElement(
            sample,
            "HistoSys",
            Name=syst,
            HistoNameLow=low_name,
            HistoPathLow=low_path,
            HistoNameHigh=high_name,
            HistoPathHigh=high_path,
        )
    return sample


def _channel(model: FitModel, templates: Templates, shapes_file: str) -> ET.Element:
    channel = ET.Element("Channel", Name=templates.channel, InputFile=shapes_file)
    ET.SubElement(channel, "Data", HistoName=DATA_OBS, HistoPath=templates.channel)
    ET.SubElement(channel, "StatErrorConfig", RelErrorThreshold="0.0", ConstraintType="Gaussian")
    for process in templates.simulated_names:
        channel.append(_sample(model, templates, process))
    return channel


def _combination(model: FitModel) -> ET.Element:
    combination = ET.Element("Combination", OutputFilePrefix=f"./results/{model.measurement}")
    for templates in model.channels:
        ET.SubElement(combination, "Input").text = channel_xml_name(templates.channel)
    lumi_error = 0.0 if model.lumi_uncertainty is None else model.lumi_uncertainty
    measurement = ET.SubElement(
        combination,
        "Measurement",
        Name=model.measurement,
        Lumi="1.0",
        LumiRelErr=repr(lumi_error),
        ExportOnly="True",
    )
    ET.SubElement(measurement, "POI").text = model.poi
    if model.lumi_uncertainty is None:
        ET.SubElement(measurement, "ParamSetting", Const="True").text = "Lumi"
    return combination


def histfactory_xml(model: FitModel, shapes_file: str) -> dict[str, str]:
    """File name -> text of the combination and channel XML files; ``shapes_file`` is the
    ROOT file's path relative to the directory the XML is parsed from."""
    files = {COMBINATION_XML: _text(_combination(model), "Combination")}
    for templates in model.channels:
        element = _channel(model, templates, shapes_file)
        files[channel_xml_name(templates.channel)] = _text(element, "Channel")
    return files


def write_histfactory(
    directory: str | os.PathLike[str], model: FitModel, shapes_file: str
) -> list[Path]:
    """Write the XML files and the DTD into ``directory`` atomically; return their paths."""
    directory = Path(directory)
    files = histfactory_xml(model, shapes_file)
    files[DTD_NAME] = pyhf.schema.path.joinpath(DTD_NAME).read_text(encoding="utf-8")
    paths = []
    for name, text in files.items():
        write_text(directory / name, text)
        paths.append(directory / name)
    return paths
