# Shared by every rule: the plan of the run and the config files handed to each job. The rules
# reach hepml only through the `hepml` command: `hepml plan` (once, here) validates the config
# and resolves everything the DAG needs (samples and their explicit file lists, folds,
# features, the hash of the settings each stage reads, resources); every job is a `hepml`
# subcommand. No rule logic lives here.
import json as _json
import re
import shlex
import subprocess as _subprocess

from snakemake.logging import logger as _logger
from snakemake_interface_executor_plugins.settings import ExecMode as _ExecMode
from snakemake.utils import validate

if workflow.config_settings.config:
    raise WorkflowError(
        "hepml reads its configuration from files: put the overrides given with "
        f"--config ({', '.join(workflow.config_settings.config)}) into a YAML file and "
        "pass it with --configfile instead."
    )

# The files the jobs merge, in Snakemake's order (the workflow's configfile first, then
# --configfile). Handed to each job as a parameter derived from its input files (a function
# of `input`), which Snakemake never treats as a rerun trigger: the same config under another
# name reruns nothing. The settings themselves are the trigger (`settings` below).
_overrides = [str(f) for f in workflow.overwrite_configfiles]
CONFIGFILES = [
    str(f) for f in workflow.configfiles if str(f) not in _overrides
] + _overrides
_CONFIG_ARGS = " ".join(f"--config {shlex.quote(f)}" for f in CONFIGFILES)


def config_args(wildcards, input):
    """The `--config FILE ...` arguments of a job (not a rerun trigger: see above)."""
    return _CONFIG_ARGS


def _plan():
    """`hepml plan` of the config files, read once (its errors name the key at fault)."""
    command = ["hepml", "plan"] + [a for f in CONFIGFILES for a in ("--config", f)]
    if workflow.exec_mode == _ExecMode.DEFAULT:  # once, not again in every cluster job
        # skipped when they passed for the same configs and files (a few seconds per start)
        command += ["--checks", "--checks-cache", ".snakemake/hepml/plan-checks.json"]
    try:
        done = _subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise WorkflowError(
            "the hepml command is not on PATH: install hepml (pip install -e . in its "
            "checkout) in the environment that runs snakemake"
        ) from err
    if done.returncode != 0:
        raise WorkflowError(done.stderr.strip() or f"{shlex.join(command)} failed")
    return _json.loads(done.stdout)


PLAN = _plan()
for _warning in PLAN["warnings"]:
    _logger.warning(f"hepml: {_warning}")


def _canonical(data):
    return _json.dumps(data, sort_keys=True, default=str)


if _canonical(config) != _canonical(PLAN["config"]):
    raise WorkflowError(
        "the configuration Snakemake holds differs from what hepml reads from "
        f"{', '.join(CONFIGFILES)}: hepml's jobs read the config files, so the config must "
        "come from them alone (not from Python code in a Snakefile, nor a module's config:)"
    )
validate(config, "../schemas/config.schema.yaml")

SAMPLES = PLAN["samples"]["training"]  # MC: trained on
# label data: never trained on, only drawn against the MC (workflow/rules/plots.smk)
DATA_SAMPLES = PLAN["samples"]["data"]
# scored by the apply rule
APPLY_SAMPLES = SAMPLES + DATA_SAMPLES + PLAN["samples"]["extra"]
FOLDS = list(range(PLAN["folds"]))
FEATURES = PLAN["features"]
SETTINGS = PLAN["settings"]  # rule -> hash of the settings its stage reads
PLOTS = ["roc", "roc_tpr_fpr", "overtraining", "score", "score_log"]
PLOTS += ["significance", "cut_efficiencies"]
PLOTS += [f"overtraining_{name}" for name in PLAN["baselines"]]  # each baseline's too
# tables of the evaluate rule (hepml.evaluate.tables), each as .csv, .md and .tex
EVALUATION_TABLES = ["metrics", "working_points", "confusion", "overtraining"]
EVALUATION_TABLES += ["per_process", "significance"]
TABLE_EXTS = ["csv", "md", "tex"]


def demo_outputs():
    """Every ROOT file the demo rule writes (empty without a demo section)."""
    return PLAN["demo_outputs"]


def sample_files(wildcards):
    """The local input files of a sample, as the plan resolved them (Snakemake's inputs)."""
    return PLAN["inputs"][wildcards.sample]


def files_arg(wildcards, input):
    """`--files ...`: the sample's file list, in order, exactly as the plan resolved it.

    Derived from `input` (not a trigger): the files are the inputs, and their patterns are
    part of the sample's settings.
    """
    return "--files " + " ".join(
        shlex.quote(f) for f in PLAN["files"][wildcards.sample]
    )


# --- jobs per group of files (hepml.workflow.parts; rules in workflow/rules/parts.smk) ---
# A sample of more than files_per_job files is ingested and applied by one job per part, then
# merged into the same outputs; the others keep one job (rules ingest and apply).
PARTS = PLAN["parts"]  # sample -> [{"first", "files", "inputs"}], in file order
SPLIT_SAMPLES = [s for s in PARTS if len(PARTS[s]) > 1]


# The parts of a sample ingested and applied by several jobs (workflow/rules/parts.smk)
def part_input(wildcards):
    """The local input files of one part (Snakemake's inputs)."""
    return PARTS[wildcards.sample][int(wildcards.part)]["inputs"]


def part_args(wildcards, input):
    """`--files ... --first-file N`: the part's files, exactly as the plan lists them."""
    part = PARTS[wildcards.sample][int(wildcards.part)]
    files = " ".join(shlex.quote(f) for f in part["files"])
    return f"--files {files} --first-file {part['first']}"


def sample_parts(pattern):
    """An input function: `pattern` for every part of the job's sample, in file order."""

    def parts(wildcards):
        count = len(PARTS[wildcards.sample])
        return expand(pattern, sample=wildcards.sample, part=range(count))

    return parts


def apply_part_outputs():
    """A part's friend directory and Parquet table, as the apply section asks."""
    outputs = {}
    if PLAN["apply"]["root"]:
        outputs["friends"] = directory("results/parts/apply/{sample}/part{part}")
    if PLAN["apply"]["parquet"]:
        outputs["table"] = "results/parts/apply/{sample}/part{part}.parquet"
    return outputs


def indexed_names(wildcards):
    """`--indexed-names` when two files of the sample share a name (decided for the sample)."""
    return "--indexed-names" if PLAN["indexed_friends"][wildcards.sample] else ""


def one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def sample_settings(stage):
    """A params function: the settings hash of `stage` for the job's sample."""

    def settings(wildcards):
        return SETTINGS[stage][wildcards.sample]

    return settings


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
        + SUMMARY_OUTPUTS  # workflow/rules/summaries.smk
        + FIT_OUTPUTS  # workflow/rules/systematics.smk
    )


# --- training: baselines and the hyperparameter search (hepml.train.baselines, hepml.train.tune) ---
BASELINES = PLAN["baselines"]
TUNE = PLAN["tune"]  # None when tuning is off
TRIALS = TUNE["trials"] if TUNE else []  # trial indices per fold model
TUNED_PARAMS = ["results/tune/best_params.json"] if TUNE else []


def baseline_scores(name):
    """The scores.parquet of every fold model of baseline `name`."""
    return expand("results/baselines/{name}/fold{k}/scores.parquet", name=name, k=FOLDS)


def tune_history(wildcards):
    """The earlier trials of the same fold model that a TPE trial learns from."""
    return [
        f"results/tune/fold{wildcards.k}/trial{j}.json"
        for j in TUNE["history"][wildcards.i]
    ]


def tune_outputs():
    """The search's table and plot (empty when tuning is off)."""
    if not TUNE:
        return []
    return ["results/tune/trials.csv", "results/tune/trials.json"] + expand(
        "results/plots/tune_trials.{ext}", ext=["pdf", "png"]
    )


# --- apply: scores into the ntuples (hepml.apply.samples) ---
def apply_outputs():
    """The friend-tree directory and the Parquet table, as the apply section asks."""
    outputs = {}
    if PLAN["apply"]["root"]:
        outputs["friends"] = directory("results/apply/{sample}")
    if PLAN["apply"]["parquet"]:
        outputs["table"] = "results/apply/{sample}.parquet"
    return outputs
