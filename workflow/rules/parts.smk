# Jobs per group of files: a sample of more than reading.files_per_job files (or mb_per_job MB)
# is ingested and applied by one job per part (the plan's `parts`: each one's files and its
# first file's index in the sample), then merged into the outputs one job would have written,
# byte for byte (hepml.ingest.partial, hepml.apply.merge). A failed or corrupt part reruns
# alone: Snakemake reruns only the part whose job failed, then the merge. Remote files (root://,
# https://) are given to the jobs by URL but are not Snakemake inputs.


rule ingest_part:
    input:
        part_input,
    output:
        table="results/parts/ingest/{sample}/part{part}.parquet",
        summary="results/parts/ingest/{sample}/part{part}.json",
    log:
        "logs/ingest/{sample}/part{part}.log",
    benchmark:
        "benchmarks/ingest/{sample}/part{part}.tsv"
    wildcard_constraints:
        sample=one_of(SPLIT_SAMPLES),
        part="[0-9]+",
    conda:
        "../../environment.yml"
    threads: stage_threads("ingest")
    resources:
        **stage_resources("ingest"),
    params:
        settings=sample_settings("ingest"),
        files=part_args,
        configs=config_args,
    shell:
        "hepml ingest {params.configs} --sample {wildcards.sample} --part {params.files}"
        " --output {output.table} --threads {threads} > {log} 2>&1"


rule ingest_merge:
    input:
        tables=sample_parts("results/parts/ingest/{sample}/part{part}.parquet"),
        summaries=sample_parts("results/parts/ingest/{sample}/part{part}.json"),
    output:
        table="results/ingest/{sample}.parquet",
        summary="results/ingest/{sample}.summary.json",
        cutflow=in_report("results/cutflow/{sample}.csv"),
        cutflow_md="results/cutflow/{sample}.md",
    log:
        "logs/ingest/{sample}.log",
    benchmark:
        "benchmarks/ingest/{sample}.tsv"
    wildcard_constraints:
        sample=one_of(SPLIT_SAMPLES),
    conda:
        "../../environment.yml"
    resources:
        **stage_resources("default"),
    params:
        settings=sample_settings("ingest"),
        configs=config_args,
    shell:
        "hepml ingest-merge {params.configs} --sample {wildcards.sample}"
        " --parts {input.tables} --output {output.table} --summary {output.summary}"
        " --cutflow {output.cutflow} > {log} 2>&1"


rule apply_part:
    input:
        files=part_input,
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
    output:
        **apply_part_outputs(),
        summary="results/parts/apply/{sample}/part{part}.json",
    log:
        "logs/apply/{sample}/part{part}.log",
    benchmark:
        "benchmarks/apply/{sample}/part{part}.tsv"
    wildcard_constraints:
        sample=one_of(SPLIT_SAMPLES),
        part="[0-9]+",
    conda:
        "../../environment.yml"
    threads: 1
    params:
        settings=sample_settings("apply"),
        files=part_args,
        indexed=indexed_names,
        configs=config_args,
    shell:
        "hepml apply {params.configs} --sample {wildcards.sample} --part {params.files}"
        " --part-index {wildcards.part} {params.indexed} --models {input.models}"
        " --output-dir results/parts/apply/{wildcards.sample} --threads {threads} > {log} 2>&1"


rule apply_merge:
    input:
        summaries=sample_parts("results/parts/apply/{sample}/part{part}.json"),
    output:
        **apply_outputs(),
        summary="results/apply/{sample}.json",
    log:
        "logs/apply/{sample}.log",
    benchmark:
        "benchmarks/apply/{sample}.tsv"
    wildcard_constraints:
        sample=one_of(SPLIT_SAMPLES),
    conda:
        "../../environment.yml"
    params:
        settings=sample_settings("apply"),
        configs=config_args,
    shell:
        "hepml apply-merge {params.configs} --sample {wildcards.sample}"
        " --parts {input.summaries} --output-dir results/apply > {log} 2>&1"
