# Apply: every training sample and every apply.samples entry scored with the fold models
# (hepml.apply.samples: friend trees + Parquet); export: the models out to C++ (hepml.export.models).


rule apply:
    input:
        files=sample_files,
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
    output:
        **apply_outputs(),
        summary="results/apply/{sample}.json",
    log:
        "logs/apply/{sample}.log",
    benchmark:
        "benchmarks/apply/{sample}.tsv"
    wildcard_constraints:
        sample=one_of(s for s in APPLY_SAMPLES if s not in SPLIT_SAMPLES),
    conda:
        "../../environment.yml"
    threads: 1
    params:
        settings=sample_settings("apply"),
        files=files_arg,
        configs=config_args,
    shell:
        "hepml apply {params.configs} --sample {wildcards.sample} {params.files}"
        " --models {input.models} --output-dir results/apply --threads {threads}"
        " > {log} 2>&1"


rule export:
    input:
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
        scores=expand("results/train/fold{k}/scores.parquet", k=FOLDS),
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
        summaries=expand("results/ingest/{sample}.summary.json", sample=SAMPLES),
    output:
        directory("results/export"),
    log:
        "logs/export.log",
    benchmark:
        "benchmarks/export.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["export"],
        tables=table_args(SAMPLES),
        summaries=lambda wildcards, input: " ".join(
            f"{s}={p}" for s, p in zip(SAMPLES, input.summaries, strict=True)
        ),
        configs=config_args,
    shell:
        "hepml export {params.configs} --models {input.models} --scores {input.scores}"
        " --tables {params.tables} --summaries {params.summaries} --output-dir {output}"
        " > {log} 2>&1"
