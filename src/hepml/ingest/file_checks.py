"""Check a config's input files in seconds, before any job runs (``hepml validate --check-files``).

For every sample, and every sample of ``apply.samples``, the files are resolved (a glob that
matches nothing is an error, as in ingest) and the FIRST file only is opened: its tree,
RNTuple or Parquet schema is checked for every branch that the features, the selection, the
weights, the event number and the aliases need, with their types, and then every expression
is evaluated on its first chunk of at most :data:`FIRST_ENTRIES` entries, so that type errors
(a jagged feature not reduced, a cut that is not a comparison) show too. Every problem is
reported, one per expression, not only the first; the checks are those of ingest and apply
(:func:`hepml.ingest.sample_plan.sample_problems`, :func:`hepml.ingest.sample_plan.chunk_problems`).

The other files are not opened (ingest checks each before reading), except for the 4 bytes that
tell ROOT from Parquet, so a sample mixing the two is caught here too. Samples whose files the
config's ``demo:`` block writes are passed over with an info line: the demo job writes them
(again, when its settings change) before anything reads them.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import awkward as ak

from hepml.config import Config, Sample
from hepml.exceptions import BadFile, ConfigError, HepmlError, InputFileError, did_you_mean
from hepml.ingest.reading import InputFile, check_entries, iterate_file, open_source, resolve_files
from hepml.ingest.sample_plan import chunk_problems, sample_problems
from hepml.ingest.sources import Source, file_format, is_remote

__all__ = ["FIRST_ENTRIES", "FileProblem", "check_config_files", "check_sample_files"]

log = logging.getLogger(__name__)

FIRST_ENTRIES = 1000  # entries of the first file on which every expression is evaluated


@dataclass(frozen=True)
class FileProblem:
    """One problem with a sample's input files: the sample, the file (if one), the message."""

    sample: str
    file: str | None
    message: str
    variation: str | None = None  # a systematic variation of the sample (``jesUp``)

    def __str__(self) -> str:
        where = f"sample '{self.sample}'"
        where += f" (variation '{self.variation}')" if self.variation else ""
        where += f", file '{self.file}'" if self.file else ""
        message = self.message.removeprefix(f"sample '{self.sample}': ")
        return f"{where}: {message}"


def check_config_files(config: Config) -> list[FileProblem]:
    """Every problem found in the first file of every sample (training and ``apply.samples``),
    and of every systematic variation of the samples (``systematics.variations``)."""
    from hepml.ingest.remote import configure_from

    configure_from(config)  # the retries of remote files
    problems: list[FileProblem] = []
    for sample in [*config.samples.values(), *config.apply.samples.values()]:
        problems.extend(check_sample_files(config, sample))
    return problems + _variation_problems(config, {str(p) for p in problems})


def _variation_problems(config: Config, known: set[str]) -> list[FileProblem]:
    """The problems of each variation direction of each sample it affects (its replaced
    branches, weight, files or tree), less those its nominal has already reported."""
    problems: list[FileProblem] = []
    for systematic in config.fit.systematics if config.fit else ():
        for name, variation in systematic.directions().items():
            for sample in systematic.samples:
                varied = variation.applied_to(config.samples[sample])
                for problem in check_sample_files(config, varied, variation.branches):
                    if str(problem) not in known:  # once, not again for the nominal's
                        known.add(str(problem))
                        problems.append(FileProblem(sample, problem.file, problem.message, name))
    return problems


def check_sample_files(
    config: Config, sample: Sample, replaced: Iterable[str] = ()
) -> list[FileProblem]:
    """Every problem of one sample: its file list, then its first file and expressions.

    ``replaced``: the branches a systematic variation replaces, each of which must be a branch
    of the file (a misspelt one would replace nothing, and the variation equal the nominal).
    """
    if _written_by_demo(config, sample):
        log.info("sample '%s': its files are written by the demo; not checked", sample.name)
        return []
    try:
        files = resolve_files(sample.name, sample.files, sample.tree)
    except InputFileError as err:
        return [FileProblem(sample.name, None, str(err))]
    problems = [FileProblem(sample.name, None, m) for m in _mixed_formats(sample, files)]
    first = files[0]
    try:
        with open_source(first) as source:
            found = _source_problems(config, sample, source)
            found += _replaced_problems(sample, source, replaced)
    except HepmlError as err:
        found = [err]
    return problems + [FileProblem(sample.name, first.path, str(err)) for err in found]


def _replaced_problems(sample: Sample, source: Source, replaced: Iterable[str]) -> list[HepmlError]:
    """A problem for each replaced branch that is not a branch of ``source``."""
    problems: list[HepmlError] = []
    for name in replaced:
        if name not in source.names:
            hint = did_you_mean(name, sorted(source.names))
            msg = (
                f"sample '{sample.name}': the variation replaces '{name}', which is not a "
                f"{source.item} of the {source.where}: it would replace nothing.{hint}"
            )
            problems.append(ConfigError(msg))
    return problems


def _source_problems(config: Config, sample: Sample, source: Source) -> list[HepmlError]:
    problems: list[HepmlError] = []
    try:
        check_entries(source)
    except BadFile as err:
        problems.append(err)
    plan, found = sample_problems(config, sample, source)
    problems.extend(found)
    if source.num_entries <= 0:
        return problems
    chunk = _first_chunk(source, plan.branches | plan.generator_branches)
    problems.extend(chunk_problems(plan, chunk))
    if not problems:
        log.info(
            "sample '%s': %s (%d entries): every branch and expression checked on its first "
            "%d entries",
            sample.name,
            source.where,
            source.num_entries,
            min(FIRST_ENTRIES, source.num_entries),
        )
    return problems


def _first_chunk(source: Source, names: frozenset[str]) -> ak.Array:
    """The first (at most) :data:`FIRST_ENTRIES` entries of ``names``; BadFile if unreadable."""
    if not names:  # constant expressions only: nothing to read
        n = min(FIRST_ENTRIES, source.num_entries)
        return ak.Array(ak.contents.RecordArray([], None, length=n))
    chunks = iterate_file(source.file, names, FIRST_ENTRIES)
    try:
        chunk, _, _ = next(chunks)
    finally:
        chunks.close()
    return chunk


def _mixed_formats(sample: Sample, files: list[InputFile]) -> list[str]:
    """A problem if the local files are not all ROOT or all Parquet (from 4 bytes of each)."""
    first_of: dict[str, str] = {}
    for file in files:
        if is_remote(file.path):
            continue
        try:
            first_of.setdefault(file_format(file.path), file.path)
        except InputFileError:
            continue  # unreadable: the file's own check says so when it is read
        if len(first_of) > 1:
            (a, path_a), (b, path_b) = first_of.items()
            return [
                f"mixes kinds of input file: '{path_a}' is a {a} file, '{path_b}' a {b} file; "
                "a sample's files must be of one kind: split it into one sample per kind"
            ]
    return []


def _written_by_demo(config: Config, sample: Sample) -> bool:
    """True if the config's demo writes the sample's files: the make_demo job writes them
    (again, when its settings or the generator's format change) before any job reads them, so
    files left by an older demo are not what will be read."""
    if not config.demo:
        return False
    from hepml.demo.files import demo_files

    demo = dict(config.demo)
    written = [
        os.path.normpath(path)
        for paths in demo_files(
            demo.get("directory", "resources/demo"), demo.get("files_per_process", 3)
        ).values()
        for path in paths
    ]
    patterns = [os.path.normpath(p.rsplit(".root:", 1)[0] + ".root" if ".root:" in p else p)
                for p in sample.files]  # fmt: skip
    by_demo = all(any(fnmatch.fnmatchcase(w, p) for w in written) for p in patterns)
    return by_demo
