# What the rules of training.multiclass, calibration and categories share (hepml.config.
# extensions): the plan's classes, calibration and categories, the outputs they add to
# `rule all`, and the input and params functions of workflow/rules/multiclass.smk and
# workflow/rules/categories.smk. No rules here.

MULTICLASS = PLAN["multiclass"]  # class names, or None for the binary BDT
CALIBRATION = PLAN["calibration"]  # None, or {"rarity": bool}
CATEGORIES = PLAN["categories"]["names"] if PLAN["categories"] else []
BASES = ["results"] + [f"results/categories/{c}" for c in CATEGORIES]
MULTICLASS_TABLES = [
    "multiclass_auc",
    "multiclass_confusion",
    "multiclass_overtraining",
]
MULTICLASS_PLOTS = (
    ["multiclass_roc", "multiclass_confusion"]
    + [f"multiclass_score_{c}" for c in MULTICLASS or []]
    + [f"multiclass_overtraining_{c}" for c in MULTICLASS or []]
)
CALIBRATION_PLOTS = ["reliability"] + (
    ["rarity"] if CALIBRATION and CALIBRATION["rarity"] else []
)


def base_settings(stage):
    """A params function: the settings hash of `stage` for the job's {base}."""

    def settings(wildcards):
        if wildcards.base == "results":
            return SETTINGS[stage]
        category = wildcards.base.rpartition("/")[2]
        return PLAN["categories"]["settings"][category][stage]

    return settings


def extension_outputs(base):
    """What the multiclass and calibration rules write under `base` (for rule all)."""
    outputs = []
    if MULTICLASS:
        outputs += expand(
            f"{base}/evaluation/{{table}}.{{ext}}",
            table=MULTICLASS_TABLES,
            ext=TABLE_EXTS,
        )
        outputs += expand(
            f"{base}/plots/{{plot}}.{{ext}}", plot=MULTICLASS_PLOTS, ext=EXTS
        )
    if CALIBRATION:
        outputs += expand(f"{base}/evaluation/calibration.{{ext}}", ext=TABLE_EXTS)
        outputs += expand(
            f"{base}/plots/{{plot}}.{{ext}}", plot=CALIBRATION_PLOTS, ext=EXTS
        )
    return outputs


def _baselines_of(wildcards):
    """The baselines' score tables (inclusive models only: categories have no baselines)."""
    return (
        expand(
            "results/baselines/{name}/fold{k}/scores.parquet", name=BASELINES, k=FOLDS
        )
        if wildcards.base == "results"
        else []
    )


def _baseline_args(wildcards, input):
    if wildcards.base != "results":
        return ""
    return " ".join(
        f"--baseline {name} {' '.join(baseline_scores(name))}" for name in BASELINES
    )


_BASE = r"results(/categories/[A-Za-z][A-Za-z0-9_]*)?"


CATEGORY_DIR = "results/categories/{category}"


def category_settings(stage, per_sample=False):
    """A params function: the settings hash of `stage` in the job's category."""

    def settings(wildcards):
        hashes = PLAN["categories"]["settings"][wildcards.category][stage]
        return hashes[wildcards.sample] if per_sample else hashes

    return settings


def category_outputs():
    """The targets the categories add to `rule all` (none without categories)."""
    if not CATEGORIES:
        return []
    outputs = ["results/categories/combined.csv"]
    outputs += expand("results/plots/categories_significance.{ext}", ext=EXTS)
    for c in CATEGORIES:
        base = f"results/categories/{c}"
        outputs += expand(f"{base}/cutflow/{{sample}}.csv", sample=SAMPLES)
        outputs += expand(
            f"{base}/evaluation/{{table}}.{{ext}}",
            table=EVALUATION_TABLES,
            ext=TABLE_EXTS,
        )
        outputs += expand(f"{base}/plots/{{plot}}.{{ext}}", plot=PLOTS, ext=EXTS)
        outputs += expand(f"{base}/apply/{{sample}}.json", sample=APPLY_SAMPLES)
        outputs += [f"{base}/export"] + extension_outputs(base)
    return outputs


def category_files(pattern, **values):
    """An input function: `pattern` under the job's category, expanded over `values`."""

    def files(wildcards):
        return expand(
            f"{CATEGORY_DIR}/{pattern}", category=wildcards.category, **values
        )

    return files


category_tables = category_files("ingest/{sample}.parquet", sample=SAMPLES)
category_models = category_files("train/fold{k}/model.json", k=FOLDS)


def category_apply_outputs():
    outputs = {}
    if PLAN["apply"]["root"]:
        outputs["friends"] = directory(f"{CATEGORY_DIR}/apply/{{sample}}")
    if PLAN["apply"]["parquet"]:
        outputs["table"] = f"{CATEGORY_DIR}/apply/{{sample}}.parquet"
    return outputs
