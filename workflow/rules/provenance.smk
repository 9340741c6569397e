# The provenance record of the run (hepml.review.provenance): versions, the merged config and its
# hash, SHA-256 of every input file and model, git state, K-fold definition, training threads
# and device. A local rule: it records the git state of the checkout on the host that runs
# Snakemake, which a batch node without a shared file system would not see.
# The repositories whose git state it records: the workflow's (the analysis directory when
# hepml is used as a module) and hepml's own rules (a checkout, for an editable install).
_REPOSITORIES = " ".join(
    f"--repository {shlex.quote(str(d))}"
    for d in dict.fromkeys([workflow.basedir, workflow.current_basedir])
)


localrules:
    provenance,


rule provenance:
    input:
        # every input file of every sample: a changed or added file reruns the provenance
        data=sorted({f for s in APPLY_SAMPLES for f in PLAN["inputs"][s]}),
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
        settings=SETTINGS["provenance"],  # the whole config: it records all of it
        configs=config_args,
        # Functions of `input`, so recorded but never rerun triggers (a dry run has 1 core).
        train_threads=lambda wildcards, input: effective_threads("train", "train"),
        repositories=lambda wildcards, input: _REPOSITORIES,
    shell:
        "hepml provenance {params.configs} --models {input.models}"
        " --train-threads {params.train_threads} {params.repositories}"
        " --output {output.record} --merged-config {output.config} > {log} 2>&1"
