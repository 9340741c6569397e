"""What to read and compute for one sample: parsed expressions, aliases and branches.

:func:`plan_sample` parses every feature, cut and weight expression and the sample's
``aliases`` (a common name -> this sample's branch or expression), resolves each name to a
branch of the input (a TTree branch, or a flat name of an RNTuple or Parquet file, see
:mod:`hepml.ingest.sources`), an earlier feature or an alias, and checks the branches against the
first file before anything is read. :func:`evaluate_chunk` then computes the features, the
cumulative selection masks and the weights of one chunk of events. The apply stage uses both,
so a model always sees features computed exactly as in training. :func:`sample_problems` and
:func:`chunk_problems` do the same checks but collect every problem rather than stopping at
the first, for ``hepml validate --check-files``.

Name resolution, innermost first: an earlier feature, then an alias, then a branch. An alias
may use branches and the aliases listed before it, so ``Jet_pt: Jet_pt * 1.02`` rescales the
branch of the same name, and no alias cycle can exist. An alias that names one branch also
renames an event-number branch (``event: evt``), so folds hash the same numbers everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import awkward as ak
import numpy as np

from hepml.config import Config, Sample
from hepml.exceptions import (
    DataError,
    ExpressionError,
    HepmlError,
    InputFileError,
    UnknownBranch,
    did_you_mean,
)
from hepml.ingest.expressions.functions import CONSTANTS
from hepml.ingest.expressions.language import (
    Expression,
    as_flat,
    as_mask,
    parse_expression,
    required_branches,
)
from hepml.ingest.reading import (
    BadFiles,
    InputFile,
    check_branch_types,
    check_branches,
    check_entries,
    guarded,
    located,
    open_source,
)
from hepml.ingest.remote import configure_from
from hepml.ingest.sources import Source

__all__ = [
    "SamplePlan",
    "check_files",
    "chunk_problems",
    "evaluate_chunk",
    "namespace_of",
    "plan_sample",
    "sample_problems",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplePlan:
    """Parsed expressions and the branches to read for one sample.

    ``branches`` are read in the main pass (features, cuts, weight, event numbers, and the
    aliases in ``aliases``, in the order they are evaluated); ``generator_branches`` and
    ``generator_aliases`` serve the generator-weight sum over all entries.
    """

    features: list[tuple[str, Expression, float]]
    cuts: list[tuple[str, Expression]]
    weight: Expression
    generator_weight: Expression
    id_branches: tuple[str, ...]
    branches: frozenset[str]
    aliases: tuple[tuple[str, Expression], ...] = ()
    generator_branches: frozenset[str] = frozenset()
    generator_aliases: tuple[tuple[str, Expression], ...] = ()


class _Resolver:
    """Resolves the names of expressions to branches, through the sample's aliases."""

    def __init__(
        self,
        sample: Sample,
        available: set[str],
        others: dict[str, Sample],
        problems: list[HepmlError],
        location: str,
    ) -> None:
        """Parse and check every alias, used or not; their errors (ending with ``location``,
        the tree and file) go to ``problems`` and their names to ``broken``."""
        self.sample, self.available = sample, available
        self.elsewhere = {  # alias name -> the other samples that define it
            alias: sorted(n for n, s in others.items() if alias in s.aliases and n != sample.name)
            for other in others.values()
            for alias in other.aliases
        }
        self.aliases: dict[str, Expression] = {}
        self.broken: set[str] = set()
        for name, text in sample.aliases.items():
            where = f"alias '{name}' of sample '{sample.name}'"
            try:
                if name in CONSTANTS:
                    msg = (
                        f"{where}: '{name}' is a constant of the expression language; pick another"
                    )
                    raise ExpressionError(msg)
                self.aliases[name] = parse_expression(text, where=where)
            except ExpressionError as err:
                problems.append(err)
                self.broken.add(name)
        for name, expr in self.aliases.items():
            if expr.names & self.broken:
                self.broken.add(name)
                continue
            try:
                self.resolve(expr, (), self._before(name))
            except UnknownBranch as err:
                problems.append(located(err, location))
                self.broken.add(name)

    def _before(self, alias: str) -> dict[str, Expression]:
        names = list(self.aliases)
        return {n: self.aliases[n] for n in names[: names.index(alias)]}

    def resolve(
        self, expr: Expression, defined: Iterable[str], aliases: Mapping[str, Expression]
    ) -> tuple[dict[str, str], set[str]]:
        """``({branch: who needs it}, {aliases used})`` for ``expr``, recursively."""
        for name in sorted(expr.names - set(defined) - self.available - set(aliases)):
            if self.elsewhere.get(name):
                msg = (
                    f"{expr.where}: {name!r} is neither a branch nor an alias of sample "
                    f"'{self.sample.name}'; sample(s) {', '.join(self.elsewhere[name])} define "
                    f"it as an alias: add it to the aliases of '{self.sample.name}' too"
                )
                raise UnknownBranch(msg)
        branches: dict[str, str] = {}
        used: set[str] = set()
        for name in required_branches(expr, self.available | set(aliases), defined):
            if name not in aliases:
                branches.setdefault(name, expr.where)
                continue
            used.add(name)
            more, more_used = self.resolve(aliases[name], (), self._before(name))
            for branch, who in more.items():
                branches.setdefault(branch, who)
            used |= more_used
        return branches, used

    def ordered(self, used: set[str]) -> tuple[tuple[str, Expression], ...]:
        return tuple((n, e) for n, e in self.aliases.items() if n in used)


def plan_sample(config: Config, sample: Sample, source: Source) -> SamplePlan:
    """Parse every expression and work out which branches must be read.

    ``source`` is the sample's first file, whose branches (and their types) are checked here.
    Errors name the feature, cut, weight or alias, the branch and the file; the first problem
    :func:`sample_problems` finds is raised.
    """
    plan, problems = sample_problems(config, sample, source)
    if problems:
        raise problems[0]
    return plan


def sample_problems(
    config: Config, sample: Sample, source: Source
) -> tuple[SamplePlan, list[HepmlError]]:
    """Check every alias, feature, cut and weight of ``sample`` against ``source``.

    Returns every problem found, one per expression (an expression that uses a broken alias
    or feature is passed over), and the plan of the expressions without problems: with
    problems it lacks the broken ones (``weight`` or ``generator_weight`` None if theirs is
    broken), so it is fit only for :func:`chunk_problems`; :func:`plan_sample` raises then.
    """
    problems: list[HepmlError] = []
    resolver = _Resolver(sample, set(source.names), config.samples, problems, source.where)
    checked = _Checked(resolver, source, problems)
    features, cuts, defined = [], [], []
    needed: dict[str, str] = {}
    used: set[str] = set()
    for f in config.features:
        expr = checked(f.expr, f"feature '{f.name}'", defined)
        if expr is None:
            resolver.broken.add(f.name)
            continue
        features.append((f.name, expr, f.fill))
        defined.append(f.name)
    for c in config.selection:
        if (expr := checked(c.expr, f"selection cut '{c.name}'", defined)) is not None:
            cuts.append((c.name, expr))
    weight = checked(sample.weight, f"weight of sample '{sample.name}'", defined)
    for expr in [e for _, e, _ in features] + [e for _, e in cuts] + [weight]:
        if expr is not None:
            needed = checked.branches[expr.where] | needed  # the first to need a branch names it
            used |= checked.aliases[expr.where]
    before = len(problems)
    gen = checked(sample.generator_weight, f"generator_weight of sample '{sample.name}'", ())
    if gen is None and weight is None and sample.generator_weight == sample.weight:
        del problems[before:]  # the default generator_weight is the weight: reported once
    try:
        ids = _event_number_branches(config, sample, set(source.names), source.file)
        _check_event_number_types(source, ids)
    except HepmlError as err:
        problems.append(err)
        ids = ()
    plan = SamplePlan(
        features,
        cuts,
        weight,
        gen,
        ids,
        frozenset(needed) | frozenset(ids),
        resolver.ordered(used),
        frozenset(checked.branches.get(getattr(gen, "where", None), ())),
        resolver.ordered(checked.aliases.get(getattr(gen, "where", None), set())),
    )
    return plan, problems


class _Checked:
    """Parses one expression and checks its branches, recording problems rather than raising.

    ``branches[where]`` and ``aliases[where]`` keep what each good expression needs.
    """

    def __init__(self, resolver: _Resolver, source: Source, problems: list[HepmlError]) -> None:
        self.resolver, self.source, self.problems = resolver, source, problems
        self.branches: dict[str, dict[str, str]] = {}
        self.aliases: dict[str, set[str]] = {}

    def __call__(self, text: str, where: str, defined) -> Expression | None:
        try:
            expr = parse_expression(text, where=where)
            if (expr.names | expr.collections) & self.resolver.broken:
                return None  # the broken alias or feature is reported already
            try:
                branches, aliases = self.resolver.resolve(expr, defined, self.resolver.aliases)
            except UnknownBranch as err:
                raise located(err, self.source.where) from err
            check_branches(self.source, branches)
            check_branch_types(self.source, branches)
        except HepmlError as err:
            self.problems.append(err)
            return None
        self.branches[where], self.aliases[where] = branches, aliases
        return expr


def _event_number_branches(
    config: Config, sample: Sample, available: set[str], file: InputFile
) -> tuple[str, ...]:
    """The branches the folds hash, after the sample's aliases; () for ``event_number: none``.

    A configured branch the file lacks is an error: quietly folding on (file, entry) instead
    would give this sample other folds than the config says.
    """
    # an alias naming one branch (event: evt) renames an event number; nothing else can
    wanted = tuple(
        sample.aliases.get(b, b) if sample.aliases.get(b, b) in available else b
        for b in config.event_number
    )
    missing = [b for b in wanted if b not in available]
    if missing:
        branch = missing[0]
        msg = (
            f"event_number needs branch '{branch}', which tree '{file.tree}' in "
            f"'{file.path}' lacks.{did_you_mean(branch, available)} If the ntuples have no "
            "event number, set event_number: none (folds then come from (file, entry)); if "
            f"this sample names it differently, add an alias (aliases: {{{branch}: NAME}})."
        )
        raise UnknownBranch(msg)
    return wanted


def _check_event_number_types(source: Source, ids: tuple[str, ...]) -> None:
    for branch in ids:
        column = source.column(branch)
        if column.dtype is None or column.dtype.kind not in "iuf" or column.depth:
            msg = (
                f"event_number: {source.item} '{branch}' of {source.where} holds "
                f"{column.typename} values; the fold hash needs one integer per event"
            )
            raise DataError(msg)


def namespace_of(chunk: ak.Array, aliases: Iterable[tuple[str, Expression]]) -> dict:
    """The names an expression can use in ``chunk``: its branches, then the aliases in order."""
    namespace = {name: chunk[name] for name in chunk.fields}
    for name, expr in aliases:
        namespace[name] = expr.evaluate(namespace)
    return namespace


def evaluate_chunk(
    plan: SamplePlan, chunk: ak.Array, norm: float
) -> tuple[dict[str, np.ndarray], list[np.ndarray], np.ndarray]:
    """Features (float32, all events), cumulative cut masks, and ``norm`` x weights (float64).

    ``chunk`` holds at least ``plan.branches``. Booleans become 0/1 features; a weight must be
    a number per event.
    """
    ns = namespace_of(chunk, plan.aliases)
    features: dict[str, np.ndarray] = {}
    for name, expr, fill in plan.features:
        values = as_flat(expr.evaluate(ns, fill=fill), where=expr.where)
        features[name] = np.asarray(values, dtype=np.float32)
        ns[name] = features[name]
    n = len(chunk)
    mask = np.ones(n, dtype=bool)
    masks = [mask]
    for _, expr in plan.cuts:
        mask = mask & _broadcast(as_mask(expr.evaluate(ns), where=expr.where), n)
        masks.append(mask)
    weight = as_flat(plan.weight.evaluate(ns), where=plan.weight.where, numbers_only=True)
    return features, masks, norm * np.asarray(_broadcast(weight, n), dtype=np.float64)


def chunk_problems(plan: SamplePlan, chunk: ak.Array) -> list[HepmlError]:
    """Every error of evaluating ``plan`` on ``chunk``: what :func:`evaluate_chunk` and the
    generator-weight sum compute, expression by expression, so all problems show at once.

    An expression that uses an alias or feature whose own evaluation failed is passed over.
    """
    problems: list[HepmlError] = []
    failed: set[str] = set()

    def attempt(name: str, expr: Expression, compute) -> None:
        if (expr.names | expr.collections) & failed:
            failed.add(name)
            return
        try:
            compute()
        except HepmlError as err:
            if str(err) not in map(str, problems):  # an alias evaluated twice fails twice
                problems.append(err)
            failed.add(name)

    def namespace(aliases: tuple[tuple[str, Expression], ...]) -> dict:
        ns = {name: chunk[name] for name in chunk.fields}
        for name, expr in aliases:
            attempt(name, expr, lambda e=expr, k=name: ns.__setitem__(k, e.evaluate(ns)))
        return ns

    ns, n = namespace(plan.aliases), len(chunk)
    for name, expr, fill in plan.features:

        def feature(e=expr, f=fill, k=name) -> None:
            ns[k] = np.asarray(as_flat(e.evaluate(ns, fill=f), where=e.where), dtype=np.float32)

        attempt(name, expr, feature)
    for name, expr in plan.cuts:
        attempt(name, expr, lambda e=expr: _broadcast(as_mask(e.evaluate(ns), where=e.where), n))
    weight, gen = plan.weight, plan.generator_weight
    if weight is not None:
        attempt(
            "<weight>",
            weight,
            lambda: as_flat(weight.evaluate(ns), where=weight.where, numbers_only=True),
        )
    same = weight is not None and gen is not None and gen.text == weight.text
    if gen is not None and not (same and "<weight>" in failed):  # the default: reported once
        gen_ns = namespace(plan.generator_aliases)
        attempt("", gen, lambda: as_flat(gen.evaluate(gen_ns), where=gen.where))
    return problems


def _broadcast(values, n: int) -> np.ndarray:
    arr = np.asarray(values)
    return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr


def check_files(
    config: Config,
    sample: Sample,
    files: list[InputFile],
    bad: BadFiles | None,
    *,
    generator: bool = False,
) -> tuple[SamplePlan, dict[str, int]]:
    """Check every file of ``sample`` before anything is read; return the plan and entries.

    The plan comes from the first good file and every other file must have its branches (with
    ``generator``, also those of the generator-weight sum), so ingest and apply read every
    file alike. With ``bad``, each file's checks run under its ``on_bad_file`` policy: a
    skipped file is recorded in ``bad.skipped`` and :class:`~hepml.exceptions.InputFileError`
    is raised when no file is good; without it any :class:`~hepml.exceptions.BadFile` stops
    the run. Returns the entries of each good file by path.
    """
    configure_from(config)  # the retries of remote files
    plan = None
    entries: dict[str, int] = {}
    kinds: dict[str, str] = {}  # kind -> the first file of that kind
    for file in files:
        with guarded(bad, file), open_source(file) as source:
            kinds.setdefault(source.kind, file.path)
            _check_one_kind(sample, kinds)
            n = check_entries(source)
            if plan is None:
                plan = plan_sample(config, sample, source)
            branches = plan.branches | plan.generator_branches if generator else plan.branches
            needed = dict.fromkeys(branches, f"sample '{sample.name}'")
            check_branches(source, needed)
            check_branch_types(source, needed)
            entries[file.path] = n
    if bad is not None:
        bad.good(files)  # raises if every file is bad
    return plan, entries


_KIND_WORDS = {"TTree": "a TTree", "RNTuple": "an RNTuple", "Parquet": "Parquet data"}


def _check_one_kind(sample: Sample, kinds: dict[str, str]) -> None:
    """A sample's files must all be TTrees, all RNTuples or all Parquet files."""
    if len(kinds) > 1:
        (kind_a, file_a), (kind_b, file_b) = list(kinds.items())[:2]
        msg = (
            f"sample '{sample.name}' mixes kinds of input file: '{file_a}' holds "
            f"{_KIND_WORDS[kind_a]}, '{file_b}' {_KIND_WORDS[kind_b]}; a sample's files must be "
            "of one kind (TTree, RNTuple or Parquet): split it into one sample per kind"
        )
        raise InputFileError(msg)
