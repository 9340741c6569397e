# Shared helpers: config validation, the config files handed to the hepml CLI, and the
# input functions of the rules. No rule logic lives here.
import glob as _glob
import shlex
from fnmatch import fnmatch as _fnmatch

from snakemake.utils import validate

from hepml.config import SCHEMA_PATH, config_from_dict
from hepml.demo import demo_files

# hepml's own check first: its messages name the key and suggest the near match. Then
# Snakemake's, against the same schema (workflow/schemas/config.schema.yaml links to it).
CFG = config_from_dict(config, source="config")
validate(config, str(SCHEMA_PATH))
if workflow.config_settings.config:
    raise WorkflowError(
        "hepml reads its configuration from files: put the overrides given with "
        f"--config ({', '.join(workflow.config_settings.config)}) into a YAML file and "
        "pass it with --configfile instead."
    )

# The files the CLI merges, in Snakemake's order (workflow default first, then --configfile).
_overrides = [str(f) for f in workflow.overwrite_configfiles]
CONFIGFILES = [
    str(f) for f in workflow.configfiles if str(f) not in _overrides
] + _overrides
CONFIG_ARGS = " ".join(f"--config {shlex.quote(f)}" for f in CONFIGFILES)

SAMPLES = [s for s in CFG.samples if s not in CFG.data_samples]  # MC: trained on
# label data: never trained on, only drawn against the MC (workflow/rules/plots.smk)
DATA_SAMPLES = CFG.data_samples
# scored by the apply rule
APPLY_SAMPLES = SAMPLES + DATA_SAMPLES + list(CFG.apply.samples)
FOLDS = list(range(CFG.folds))
PLOTS = ["roc", "roc_tpr_fpr", "overtraining", "score", "score_log"]
PLOTS += ["significance", "cut_efficiencies"]
# tables of the evaluate rule (hepml.evaluation_tables), each as .csv, .md and .tex
EVALUATION_TABLES = ["metrics", "working_points", "confusion", "overtraining"]
EVALUATION_TABLES += ["per_process", "significance"]
TABLE_EXTS = ["csv", "md", "tex"]


def demo_outputs():
    """Every ROOT file the demo rule writes (empty without a demo section)."""
    if CFG.demo is None:
        return []
    files = demo_files(CFG.demo["directory"], CFG.demo["files_per_process"])
    return sorted(str(p) for paths in files.values() for p in paths)


def sample_files(wildcards):
    """The input files of a sample: demo outputs it matches, else what its globs match now."""
    patterns = [
        p.rsplit(".root:", 1)[0] + ".root" if ".root:" in p else p
        for p in (
            CFG.samples.get(wildcards.sample) or CFG.apply.samples[wildcards.sample]
        ).files
    ]
    demo = demo_outputs()
    files = []
    for pattern in patterns:
        matched = [f for f in demo if _fnmatch(f, pattern)] or sorted(
            _glob.glob(pattern)
        )
        files.extend(matched)
    return files


def ingest_params(wildcards):
    """Everything ingest depends on, so that a change reruns exactly the affected samples."""
    keys = ("selection", "features", "event_number", "luminosity", "seed", "reading")
    return {
        "sample": config["samples"][wildcards.sample],
        "folds": config["training"]["folds"],
        **{k: config.get(k) for k in keys},
    }


def table_args(samples):
    """A params function: SAMPLE=PATH for the `tables` input of the samples, in order."""

    def tables(wildcards, input):
        return " ".join(f"{s}={p}" for s, p in zip(samples, input.tables, strict=True))

    return tables


def all_outputs():
    """The targets of `rule all`."""
    return (
        expand("results/cutflow/{sample}.csv", sample=SAMPLES)
        + expand("results/train/fold{k}/model.json", k=FOLDS)
        + expand(
            "results/evaluation/{table}.{ext}",
            table=["metrics", "working_points", "overtraining"],
            ext=["csv", "md"],
        )
        + expand("results/plots/{plot}.{ext}", plot=PLOTS, ext=["pdf", "png"])
        + tune_outputs()
        + expand("results/apply/{sample}.json", sample=APPLY_SAMPLES)
        + ["results/export"]
        + EVALUATION_OUTPUTS  # workflow/rules/plots.smk
    )


# --- training: baselines and the hyperparameter search (hepml.baselines, hepml.tune) ---
BASELINES = [b.name for b in CFG.baselines]
TRIALS = []  # trial indices per fold model
if CFG.tune is not None:
    from hepml.tune import history_needed as _history_needed, n_trials as _n_trials

    TRIALS = list(range(_n_trials(CFG.tune)))
TUNED_PARAMS = ["results/tune/best_params.json"] if CFG.tune is not None else []


def training_params():
    """The training settings the BDTs depend on (the tuned ones arrive as a file; the Dask
    scheduler's address is not one of them)."""
    return {k: v for k, v in CFG.model_settings().items() if k != "tune"}


def baseline_spec(wildcards):
    """The config entry of one baseline (so that a change reruns exactly its jobs)."""
    for spec in config["training"]["baselines"]:
        name = spec if isinstance(spec, str) else spec.get("name", spec["method"])
        if name == wildcards.baseline:
            return spec
    return None


def baseline_scores(name):
    """The scores.parquet of every fold model of baseline `name`."""
    return expand("results/baselines/{name}/fold{k}/scores.parquet", name=name, k=FOLDS)


def tune_history(wildcards):
    """The earlier trials of the same fold model that a TPE trial learns from."""
    return [
        f"results/tune/fold{wildcards.k}/trial{j}.json"
        for j in _history_needed(CFG.tune, int(wildcards.i))
    ]


def tune_outputs():
    """The search's table and plot (empty when tuning is off)."""
    if CFG.tune is None:
        return []
    return ["results/tune/trials.csv"] + expand(
        "results/plots/tune_trials.{ext}", ext=["pdf", "png"]
    )


# --- apply: scores into the ntuples (hepml.apply) ---
def apply_outputs():
    """The friend-tree directory and the Parquet table, as the apply section asks."""
    outputs = {}
    if CFG.apply.root:
        outputs["friends"] = directory("results/apply/{sample}")
    if CFG.apply.parquet:
        outputs["table"] = "results/apply/{sample}.parquet"
    return outputs


def apply_params(wildcards):
    """Everything the scores depend on besides the models, so a change reruns the sample."""
    keys = ("selection", "features", "event_number", "seed", "reading", "apply")
    spec = config["samples"].get(wildcards.sample) or config["apply"]["samples"].get(
        wildcards.sample
    )
    return {"sample": spec, **{k: config.get(k) for k in keys}}
