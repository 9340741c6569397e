# What the HTML report shows (`snakemake --report results/report.html`): each entry maps an
# output path to a caption in workflow/report/, a category, a subcategory and the labels of its
# row in the report. A key may hold {wildcards}: it matches the rule's own wildcard path, or
# the concrete paths an expand() made, whose values then fill the labels. Rules wrap their
# outputs in in_report(...); an output without an entry here passes through unchanged.
import re as _re

REPORT_ITEMS = {
    "results/cutflow/{sample}.csv": (
        "cutflow.rst",
        "inputs",
        "cutflows",
        {"sample": "{sample}"},
    ),
    "results/plots/inputs/{feature}.png": (
        "input_variable.rst",
        "inputs",
        "input variables",
        {"feature": "{feature}"},
    ),
    "results/plots/correlation_{cls}.png": (
        "correlation.rst",
        "inputs",
        "correlations",
        {"class": "{cls}"},
    ),
    "results/config.yaml": (
        "config.rst",
        "inputs",
        "provenance",
        {"record": "configuration, merged with its defaults"},
    ),
    "results/provenance.json": (
        "provenance.rst",
        "inputs",
        "provenance",
        {"record": "versions, config, input hashes, git, folds"},
    ),
    "results/train/fold{k}/learning_curve.csv": (
        "learning_curve.rst",
        "training",
        "learning curves",
        {"model": "{k}"},
    ),
    "results/plots/learning_curves.png": (
        "learning_curves.rst",
        "training",
        "learning curves",
        {"model": "all folds (plot)"},
    ),
    "results/plots/importance.png": (
        "importance_plot.rst",
        "training",
        "feature ranking",
        {"item": "importance bars"},
    ),
    "results/plots/shap_beeswarm.png": (
        "shap_beeswarm.rst",
        "training",
        "feature ranking",
        {"item": "SHAP summary"},
    ),
    "results/evaluation/importance.csv": (
        "importance.rst",
        "training",
        "feature ranking",
        {"item": "ranking table"},
    ),
    "results/plots/tune_trials.png": (
        "tune_trials.rst",
        "training",
        "hyperparameter search",
        {"item": "trials plot"},
    ),
    "results/tune/trials.csv": (
        "tune_trials_table.rst",
        "training",
        "hyperparameter search",
        {"item": "trials table"},
    ),
    "results/plots/roc.png": (
        "roc.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "ROC: background rejection vs signal efficiency (plot)"},
    ),
    "results/plots/roc_tpr_fpr.png": (
        "roc_tpr_fpr.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "ROC: true vs false positive rate (plot)"},
    ),
    "results/evaluation/metrics.csv": (
        "metrics.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "AUC, merged and per fold (table)"},
    ),
    "results/evaluation/working_points.csv": (
        "working_points.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "working points (table)"},
    ),
    "results/evaluation/confusion.csv": (
        "confusion.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "confusion matrices (table)"},
    ),
    "results/evaluation/per_process.csv": (
        "per_process.rst",
        "performance",
        "ROC, AUC and working points",
        {"item": "per process (table)"},
    ),
    "results/plots/overtraining.png": (
        "overtraining.rst",
        "overtraining",
        "per fold model",
        {"classifier": "xgboost (plot)"},
    ),
    "results/plots/overtraining_{name}.png": (
        "overtraining_baseline.rst",
        "overtraining",
        "per fold model",
        {"classifier": "{name} (plot)"},
    ),
    "results/evaluation/overtraining.csv": (
        "overtraining_table.rst",
        "overtraining",
        "per fold model",
        {"classifier": "every classifier (table)"},
    ),
    "results/plots/score.png": (
        "score.rst",
        "significance",
        "score distributions",
        {"figure": "stacked by process, linear"},
    ),
    "results/plots/score_log.png": (
        "score_log.rst",
        "significance",
        "score distributions",
        {"figure": "stacked by process, log"},
    ),
    "results/evaluation/significance.csv": (
        "significance_table.rst",
        "significance",
        "scan",
        {"item": "optimal cut and yields"},
    ),
    "results/plots/significance.png": (
        "significance.rst",
        "significance",
        "scan",
        {"item": "significance vs cut"},
    ),
    "results/plots/cut_efficiencies.png": (
        "cut_efficiencies.rst",
        "significance",
        "scan",
        {"item": "cut efficiencies"},
    ),
    "results/summaries/ingest.csv": (
        "summary_ingest.rst",
        "inputs",
        "run records",
        {"record": "ingest summary per sample (table)"},
    ),
    "results/summaries/apply.csv": (
        "summary_apply.rst",
        "inputs",
        "run records",
        {"record": "scored samples (table)"},
    ),
    "results/summaries/export.csv": (
        "summary_export.rst",
        "inputs",
        "run records",
        {"record": "exported models and closure test (table)"},
    ),
    "results/fit/expected.csv": (
        "expected.rst",
        "significance",
        "scan",  # beside the scan of a cut: the fit of the whole score distribution
        {"item": "expected significance and limits (fit)"},
    ),
    "results/plots/fit_templates.png": (
        "fit_templates.rst",
        "significance",
        "fit",
        {"item": "templates as fitted"},
    ),
    "results/fit/variation_yields.csv": (
        "variation_yields.rst",
        "significance",
        "systematics",
        {"item": "yield change of each variation"},
    ),
    "results/plots/systematics/{stem}.png": (
        "variation.rst",
        "significance",
        "systematics",
        {"item": "{stem}"},
    ),
    "results/plots/data_mc/{feature}.png": (
        "data_mc.rst",
        "data vs simulation",
        "input variables",
        {"feature": "{feature}"},
    ),
    "results/plots/data_mc_score.png": (
        "data_mc_score.rst",
        "data vs simulation",
        "score",
        {"feature": "BDT score"},
    ),
}
_REPORT_PATTERNS = [
    (
        _re.compile(
            "".join(
                _re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)"
                for i, part in enumerate(_re.split(r"\{(\w+)\}", key))
            )
            + "$"
        ),
        key,
    )
    for key in REPORT_ITEMS
    if "{" in key
]


def in_report(paths):
    """`paths` (one path or a list) with those listed in REPORT_ITEMS flagged for the report."""
    if isinstance(paths, str):
        return _in_report(paths)
    return [_in_report(p) for p in paths]


def _in_report(path):
    key, values = path, {}
    if path not in REPORT_ITEMS:
        matches = [(k, m) for regex, k in _REPORT_PATTERNS if (m := regex.match(path))]
        if not matches:
            return path
        key, values = matches[0][0], matches[0][1].groupdict()
    caption, category, subcategory, labels = REPORT_ITEMS[key]
    if values:  # a concrete path: fill the labels here (its rule has no such wildcards)
        labels = {name: value.format(**values) for name, value in labels.items()}
    return report(
        path,
        caption=f"../report/{caption}",
        category=category,
        subcategory=subcategory,
        labels=labels,
    )
