"""The typed analysis configuration: a :class:`Config` of sections, frozen dataclasses.

Every value comes from the validated YAML (:mod:`hepml.config.build`), whose schema holds
every default: the dataclasses have none of their own. Each stage receives the section it
reads: ``config.reading`` (ingest, apply), ``config.training`` (train, tune, baselines),
``config.evaluation`` (evaluate, importance, data/MC), ``config.plotting`` (the plots),
``config.apply``, ``config.resources`` (the workflow); the samples, features, selection,
luminosity, seed and event number are shared by all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepml.config.extensions import (
        CalibrationSettings,
        Category,
        CategorySettings,
        MulticlassSettings,
    )

__all__ = [
    "PB_PER_INVERSE_FB",
    "ApplySettings",
    "Baseline",
    "Config",
    "Cut",
    "DaskSettings",
    "Dimension",
    "EvaluationSettings",
    "Feature",
    "FitSettings",
    "PlottingSettings",
    "ProcessDisplay",
    "ReadingSettings",
    "Sample",
    "StageResources",
    "Systematic",
    "TrainingSettings",
    "Tuning",
    "Variation",
    "WeightSumSource",
    "WorkingPoint",
]

PB_PER_INVERSE_FB = 1000.0  # 1 fb^-1 = 1000 pb^-1: xsec [pb] * lumi [fb^-1] * 1000 = events


@dataclass(frozen=True)
class Sample:
    """One sample: a set of ROOT files of one process, with its normalisation."""

    name: str
    label: str  # "signal" | "background"
    files: tuple[str, ...]
    tree: str
    weight: str
    generator_weight: str
    cross_section: float | None = None  # pb
    sum_of_weights: float | None = None
    process: str = ""
    sum_of_weights_from: WeightSumSource | None = None  # read from the files instead
    aliases: dict[str, str] = field(default_factory=dict)  # common name -> branch/expression
    on_bad_file: str | None = None  # "error" | "skip"; None: reading.on_bad_file
    files_per_job: int | None = None  # None: reading.files_per_job
    mb_per_job: float | None = None  # None: reading.mb_per_job

    @property
    def is_signal(self) -> bool:
        return self.label == "signal"


@dataclass(frozen=True)
class WeightSumSource:
    """Where each file of a sample stores its sum of generator weights (summed over files).

    Either a histogram (``histogram``: path of a TH1 in the file; ``bin``: the ROOT bin number
    whose content is the sum, 0 = underflow, or None for the sum of all in-range bins), or a
    branch of another tree summed over all its entries (``tree`` = ``Runs``, ``branch`` =
    ``genEventSumw`` in CMS NanoAOD).
    """

    histogram: str | None = None
    bin: int | None = None
    tree: str | None = None
    branch: str | None = None

    def __str__(self) -> str:
        if self.histogram is not None:
            where = "all in-range bins" if self.bin is None else f"bin {self.bin}"
            return f"histogram '{self.histogram}' ({where})"
        return f"branch '{self.branch}' of tree '{self.tree}'"


@dataclass(frozen=True)
class Cut:
    """One named step of the selection."""

    name: str
    expr: str


@dataclass(frozen=True)
class Feature:
    """One training feature: a name, an expression, and the fill for missing objects; the
    rest is how its plots look (presentation, never in a training hash)."""

    name: str
    expr: str
    fill: float  # NaN: XGBoost's missing value
    label: str  # axis label of plots ("" for the name)
    bins: int | None  # input-variable histogram bins; None: evaluation.input_bins
    range: tuple[float, float] | None  # histogram range; None: from the robust quantiles
    log: bool | None  # log y of its input plot; None: auto (shapes over three decades)


@dataclass(frozen=True)
class ProcessDisplay:
    """How a process is shown on plots (``processes.<name>``): label, colour, stack order."""

    name: str
    label: str  # mathtext allowed; the name when not configured
    color: str | None  # a matplotlib colour; None: the colour cycle
    order: int | None  # lower first in stacks and legends; None: after those with one


@dataclass(frozen=True)
class WorkingPoint:
    """A working point given by exactly one of its three definitions."""

    kind: str  # "signal_efficiency" | "background_efficiency" | "score"
    value: float

    def as_dict(self) -> dict[str, float]:
        return {self.kind: self.value}


@dataclass(frozen=True)
class Baseline:
    """A classic classifier trained beside the BDT (``training.baselines``)."""

    name: str  # in tables, plots and paths
    method: str  # fisher | logistic | knn | decision_tree | random_forest | adaboost | hist_gbdt
    transforms: tuple[str, ...] | None = None  # None: the method's default
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dimension:
    """One searched XGBoost parameter: ``values`` to pick from, or a range [low, high]."""

    name: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    steps: int | None = None  # grid points of a range
    integer: bool = False  # an integer parameter (max_depth, n_estimators, ...)


@dataclass(frozen=True)
class Tuning:
    """The hyperparameter search (``training.tune``), when enabled."""

    method: str  # grid | random | tpe
    trials: int  # budget per fold model
    batch: int  # tpe: trials suggested together
    objective: str  # logloss | auc, on the validation fold
    space: tuple[Dimension, ...]


@dataclass(frozen=True)
class LearningCurveSettings:
    """What ``learning_curve.csv`` records (``training.learning_curve``)."""

    events: int  # training-set metrics on a fixed subsample of this many training events
    auc_every: int  # AUC every this many rounds and at the best one (0: the best only)


@dataclass(frozen=True)
class DaskSettings:
    """The Dask cluster of ``training.engine: dask`` (``training.dask``)."""

    address: str | None  # a running scheduler; None: start a LocalCluster
    timeout: float  # seconds to wait for the scheduler
    workers: int  # LocalCluster: worker processes
    threads_per_worker: int | None  # LocalCluster; None: the job's threads shared
    memory_limit: str | None  # LocalCluster, per worker ('4GB'); None: Dask's auto
    collective_timeout: int = 300  # seconds a training step waits for the other workers
    retries: int = 1  # trainings started again after a lost worker


@dataclass(frozen=True)
class ApplySettings:
    """The ``apply`` section: extra ntuples to score and how the scores are written."""

    samples: dict[str, Sample]  # label "data", weight "1"
    data_model: str  # extra samples: "fold" (the event's fold model) | "mean"
    fill: float  # score of events that fail the selection
    branch: str
    friend_tree: str
    root: bool  # one friend ROOT file per input file
    parquet: bool  # one Parquet table per sample


@dataclass(frozen=True)
class StageResources:
    """Batch resources of the jobs of one workflow stage (``resources.<stage>``).

    Memory in MB and runtime in minutes, before scaling by input size (``*_per_gb``: extra MB
    or minutes per GB of the job's input files); see :mod:`hepml.workflow.resources`.
    """

    threads: int
    mem_mb: int
    mem_mb_per_gb: float
    runtime: int  # minutes
    runtime_per_gb: float


@dataclass(frozen=True)
class ReadingSettings:
    """``reading``: how input files are read (ingest, apply)."""

    step_size: str | int  # chunk size: "100 MB" or a number of entries
    on_bad_file: str  # "error" | "skip" (a sample's own on_bad_file wins)
    files_per_job: int = 20  # ingest/apply jobs of at most this many files per sample
    mb_per_job: float | None = None  # ... and of at most this many MB of local files
    retries: int = 3  # remote files: attempts after a transient error
    retry_wait: float = 2.0  # seconds before the first retry, doubled each time


@dataclass(frozen=True)
class TrainingSettings:
    """``training``: the K-fold BDTs, their weights, baselines, tuning and engine."""

    folds: int  # K
    balance_classes: bool
    negative_weights: str  # abs | drop | zero | annihilate
    balance_backgrounds: bool  # equal weight sums for the background processes
    early_stopping_rounds: int
    min_rounds: int  # the fewest trees early stopping may keep
    learning_curve: LearningCurveSettings
    xgboost: dict[str, Any]  # booster parameters (schema defaults filled in)
    baselines: tuple[Baseline, ...]
    tune: Tuning | None  # None: no hyperparameter search
    engine: str  # "local" | "dask"
    dask: DaskSettings
    multiclass: MulticlassSettings | None = None  # None: the binary BDT


@dataclass(frozen=True)
class EvaluationSettings:
    """``evaluation``: working points, overtraining test, histograms, significance scan."""

    working_points: tuple[WorkingPoint, ...]
    ks_threshold: float  # KS p-value: significant train/test difference below it
    ks_distance: float  # effect sizes above which a significant difference is overtraining
    auc_gap: float
    bins: int  # score histogram bins
    significance_metric: str  # asimov | s_over_sqrt_b | s_over_sqrt_s_plus_b
    min_background: float  # expected background events the optimal cut must keep
    significance_cuts: int  # equidistant score cuts scanned
    shap_events: int  # test events per fold model explained with SHAP
    streaming_above: int | None  # events above which evaluate streams from histograms
    streaming_bins: int  # fine score bins of the streaming evaluation
    input_bins: int  # bins of the input-variable and data/MC histograms
    blind_above: float  # data hidden above this score unless unblind
    unblind: bool


@dataclass(frozen=True)
class PlottingSettings:
    """``plotting``: the experiment label of the plots (presentation only)."""

    experiment: str | None  # None: no experiment name
    label: str  # text after the experiment name
    energy: float | None  # centre-of-mass energy in TeV; None: not written
    data_label: str | None  # text after the experiment name on plots with collision data


@dataclass(frozen=True)
class Variation:
    """One direction (up or down) of a systematic variation, for the samples it affects.

    ``weight``: sample -> weight expression in place of the sample's weight (only the samples
    whose weight changes); ``branches``: name -> replacement (an alias put before the sample's
    own, so ``Jet_pt: Jet_pt_jesUp`` replaces the branch everywhere); ``files``: sample -> other
    input files (globs); ``tree``: another tree of the files. Empty/None: as the nominal.
    """

    weight: dict[str, str]
    branches: dict[str, str]
    files: dict[str, tuple[str, ...]]
    tree: str | None

    @property
    def reads_other_events(self) -> bool:
        """True when the varied events come from other files or another tree."""
        return bool(self.files) or self.tree is not None

    def applied_to(self, sample: Sample) -> Sample:
        """``sample`` as this variation reads it: its weight, files and tree replaced where
        given, the branch replacements put before the sample's own aliases."""
        return replace(
            sample,
            weight=self.weight.get(sample.name, sample.weight),
            aliases={**self.branches, **sample.aliases},
            files=self.files.get(sample.name, sample.files),
            tree=self.tree or sample.tree,
        )


@dataclass(frozen=True)
class Systematic:
    """An up/down pair ``name`` (fit parameter; templates ``<name>Up``/``<name>Down``) on the
    MC ``samples`` it affects, each sample's variation scored by the nominal's fold model."""

    name: str
    samples: tuple[str, ...]
    up: Variation
    down: Variation

    def directions(self) -> dict[str, Variation]:
        """``{'<name>Up': up, '<name>Down': down}``."""
        return {f"{self.name}Up": self.up, f"{self.name}Down": self.down}


@dataclass(frozen=True)
class FitSettings:
    """``fit`` and ``systematics``: the statistics stage (None in a config without ``fit``).

    ``binning`` holds the keys of :class:`hepml.stats.FitBinning`; ``normalisation`` maps a
    systematic to ``{process: (down, up)}`` factors; ``lumi_uncertainty`` is relative.
    """

    channel: str
    binning: dict[str, Any]
    lumi_uncertainty: float | None
    poi_bounds: tuple[float, float]
    expected: tuple[str, ...]  # variants of the expected results
    cl: float
    systematics: tuple[Systematic, ...]
    normalisation: dict[str, dict[str, tuple[float, float]]]

    def of_sample(self, sample: str) -> tuple[Systematic, ...]:
        """The variations that affect ``sample``."""
        return tuple(s for s in self.systematics if sample in s.samples)


@dataclass(frozen=True)
class Config:
    """The validated analysis configuration, in sections."""

    samples: dict[str, Sample]
    features: tuple[Feature, ...]
    selection: tuple[Cut, ...]
    luminosity: float  # fb^-1
    seed: int
    event_number: tuple[str, ...]  # () for event_number: none
    reading: ReadingSettings
    training: TrainingSettings
    evaluation: EvaluationSettings
    plotting: PlottingSettings
    processes: dict[str, ProcessDisplay]  # every process of the samples, configured or not
    apply: ApplySettings
    resources: dict[str, StageResources]  # per workflow stage
    demo: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)  # validated, defaults filled
    calibration: CalibrationSettings | None = None  # None: no calibrated outputs
    categories: CategorySettings | None = None  # None: no analysis categories
    category: Category | None = None  # the category this config is of (category_config)
    fit: FitSettings | None = None  # the statistics stage (``fit`` + ``systematics``)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def signal_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if s.is_signal]

    @property
    def background_samples(self) -> list[str]:
        return [n for n, s in self.samples.items() if s.label == "background"]

    @property
    def data_samples(self) -> list[str]:
        """Collision data (label ``data``): never trained on, compared with the MC only."""
        return [n for n, s in self.samples.items() if s.label == "data"]

    def training_hash(self) -> str:
        """Fingerprint of what the models depend on (:func:`hepml.config.settings.training_hash`):
        the ingest settings of every training sample and the training settings, never a plot
        label, a path or a resource. Models record it; apply and export refuse a mismatch.
        """
        from hepml.config.settings import training_hash

        return training_hash(self)

    @property
    def folds_from_entries(self) -> bool:
        """True when ``event_number: none``: folds come from (file index, entry number)."""
        return not self.event_number
