# hepml: signal/background BDT analysis of ROOT ntuples.
#   snakemake --cores all                      # the built-in demo (config/config.yaml)
#   snakemake --cores all --configfile my.yaml # your analysis: my.yaml REPLACES the demo's
#   hepml init DIR                             # or an analysis directory of its own (README)
from snakemake.utils import min_version

min_version("9.0")


# The demo config only when no --configfile is given: Snakemake would otherwise merge the
# demo into the user's config (its samples, its demo block, its parameters). Used as a module
# (an analysis directory), the analysis's own config is passed in and this is skipped.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/parts.smk"
include: "workflow/rules/systematics.smk"
include: "workflow/rules/provenance.smk"
include: "workflow/rules/extensions.smk"
include: "workflow/rules/multiclass.smk"
include: "workflow/rules/categories.smk"
include: "workflow/rules/summaries.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
        "results/provenance.json",
        extension_outputs("results"),  # workflow/rules/multiclass.smk
        category_outputs(),  # workflow/rules/categories.smk
