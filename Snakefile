# hepml: signal/background BDT analysis of ROOT ntuples.
#   snakemake --cores all                      # the built-in demo (config/config.yaml)
#   snakemake --cores all --configfile my.yaml # your analysis
from snakemake.utils import min_version

min_version("9.0")


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
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
        "results/provenance.json",
