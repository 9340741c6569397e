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

SAMPLES = list(CFG.samples)
FOLDS = list(range(CFG.folds))
PLOTS = ["roc", "roc_tpr_fpr", "overtraining", "score", "score_log"]


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
        for p in CFG.samples[wildcards.sample].files
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
    )
