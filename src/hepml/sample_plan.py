"""What to read and compute for one sample: parsed expressions, aliases and branches.

:func:`plan_sample` parses every feature, cut and weight expression and the sample's
``aliases`` (a common name -> this sample's branch or expression), resolves each name to a
branch of the tree, an earlier feature or an alias, and checks the branches against the first
file before anything is read. :func:`evaluate_chunk` then computes the features, the
cumulative selection masks and the weights of one chunk of events. The apply stage uses both,
so a model always sees features computed exactly as in training.

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
import uproot

from hepml.config import Config, Sample
from hepml.exceptions import DataError, ExpressionError, UnknownBranch, did_you_mean
from hepml.expression_functions import CONSTANTS
from hepml.expressions import Expression, as_flat, as_mask, parse_expression, required_branches
from hepml.inputs import (
    BadFiles,
    InputFile,
    check_branch_types,
    check_branches,
    check_entries,
    guarded,
    located,
    open_tree,
    opened_tree,
)

__all__ = ["SamplePlan", "check_files", "evaluate_chunk", "namespace_of", "plan_sample"]

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

    def __init__(self, sample: Sample, available: set[str], others: dict[str, Sample]) -> None:
        self.sample, self.available = sample, available
        self.elsewhere = {  # alias name -> the other samples that define it
            alias: sorted(n for n, s in others.items() if alias in s.aliases and n != sample.name)
            for other in others.values()
            for alias in other.aliases
        }
        self.aliases: dict[str, Expression] = {}
        for name, text in sample.aliases.items():
            where = f"alias '{name}' of sample '{sample.name}'"
            if name in CONSTANTS:
                msg = f"{where}: '{name}' is a constant of the expression language; pick another"
                raise ExpressionError(msg)
            self.aliases[name] = parse_expression(text, where=where)
        for name in self.aliases:  # every alias is checked, used or not
            self.resolve(self.aliases[name], (), self._before(name))

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


def plan_sample(config: Config, sample: Sample, available: set[str], file: InputFile) -> SamplePlan:
    """Parse every expression and work out which branches must be read.

    ``available`` are the branches of ``file``'s tree, which is checked for them (and their
    types) here. Errors name the feature, cut, weight or alias, the branch and the file.
    """
    features = [
        (f.name, parse_expression(f.expr, where=f"feature '{f.name}'"), f.fill)
        for f in config.features
    ]
    cuts = [
        (c.name, parse_expression(c.expr, where=f"selection cut '{c.name}'"))
        for c in config.selection
    ]
    weight = parse_expression(sample.weight, where=f"weight of sample '{sample.name}'")
    gen = parse_expression(
        sample.generator_weight, where=f"generator_weight of sample '{sample.name}'"
    )
    try:
        resolver = _Resolver(sample, set(available), config.samples)
        needed: dict[str, str] = {}
        used: set[str] = set()
        defined: list[str] = []
        expressions = [(e, n) for n, e, _ in features] + [(e, None) for _, e in cuts]
        for expr, feature in [*expressions, (weight, None)]:
            branches, aliases = resolver.resolve(expr, defined, resolver.aliases)
            needed = branches | needed
            used |= aliases
            if feature is not None:
                defined.append(feature)
        gen_needed, gen_used = resolver.resolve(gen, (), resolver.aliases)
    except UnknownBranch as err:
        raise located(err, f"tree '{file.tree}' in '{file.path}'") from err
    ids = _event_number_branches(config, sample, available, file)
    branches = frozenset(needed) | frozenset(ids)
    with_ids = needed | dict.fromkeys(ids, "the fold assignment (event_number)")
    tree = open_tree(file)
    try:
        check_branches(tree, file, with_ids | gen_needed)
        check_branch_types(tree, file, with_ids | gen_needed)
        _check_event_number_types(tree, file, ids)
    finally:
        tree.file.close()
    return SamplePlan(
        features,
        cuts,
        weight,
        gen,
        ids,
        branches,
        resolver.ordered(used),
        frozenset(gen_needed),
        resolver.ordered(gen_used),
    )


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


def _check_event_number_types(tree: uproot.TTree, file: InputFile, ids: tuple[str, ...]) -> None:
    for branch in ids:
        interpretation = tree[branch].interpretation
        dtype = getattr(interpretation, "to_dtype", None)
        if dtype is None or dtype.kind not in "iuf" or dtype.shape:
            msg = (
                f"event_number: branch '{branch}' of tree '{file.tree}' in '{file.path}' holds "
                f"{tree[branch].typename} values; the fold hash needs one integer per event"
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
    plan = None
    entries: dict[str, int] = {}
    for file in files:
        with guarded(bad, file), opened_tree(file) as tree:
            n = check_entries(tree, file)
            if plan is None:
                plan = plan_sample(config, sample, set(tree.keys(recursive=True)), file)
            branches = plan.branches | plan.generator_branches if generator else plan.branches
            needed = dict.fromkeys(branches, f"sample '{sample.name}'")
            check_branches(tree, file, needed)
            check_branch_types(tree, file, needed)
            entries[file.path] = n
    if bad is not None:
        bad.good(files)  # raises if every file is bad
    return plan, entries
