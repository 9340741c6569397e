# The provenance record of the run (hepml.provenance): versions, the merged config and its
# hash, SHA-256 of every input file and model, git state, K-fold definition, training threads
# and device. A local rule: it records the git state of the checkout on the host that runs
# Snakemake, which a batch node without a shared file system would not see.
from types import SimpleNamespace as _SimpleNamespace


localrules:
    provenance,


rule provenance:
    input:
        configs=CONFIGFILES,
        # every input file of every sample: a changed or added file reruns the provenance
        data=lambda wildcards: sorted(
            {
                f
                for s in APPLY_SAMPLES
                for f in sample_files(_SimpleNamespace(sample=s))
            }
        ),
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
    output:
        record=in_report("results/provenance.json"),
        config=in_report("results/config.yaml"),
    log:
        "logs/provenance.log",
    benchmark:
        "benchmarks/provenance.tsv"
    conda:
        "../../environment.yml"
    threads: stage_threads("default")
    resources:
        **stage_resources("default"),
    params:
        configs=CONFIG_ARGS,
        # A function of `input`, so recorded but never a rerun trigger (a dry run has 1 core).
        train_threads=lambda wildcards, input: effective_threads("train", "train"),
        repository=shlex.quote(workflow.basedir),
    shell:
        "hepml provenance {params.configs} --models {input.models}"
        " --train-threads {params.train_threads} --repository {params.repository}"
        " --output {output.record} --merged-config {output.config} > {log} 2>&1"
