rule ingest:
    input:
        sample_files,
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
        sample=one_of(s for s in SAMPLES + DATA_SAMPLES if s not in SPLIT_SAMPLES),
    conda:
        "../../environment.yml"
    threads: stage_threads("ingest")
    resources:
        **stage_resources("ingest"),
    params:
        settings=sample_settings("ingest"),
        files=files_arg,
        configs=config_args,
    shell:
        "hepml ingest {params.configs} --sample {wildcards.sample} {params.files}"
        " --output {output.table} --summary {output.summary} --cutflow {output.cutflow}"
        " --threads {threads} > {log} 2>&1"
