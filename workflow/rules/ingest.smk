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
    conda:
        "../../environment.yml"
    threads: stage_threads("ingest")
    resources:
        **stage_resources("ingest"),
    params:
        spec=ingest_params,
        configs=CONFIG_ARGS,
    shell:
        "hepml ingest {params.configs} --sample {wildcards.sample} --output {output.table}"
        " --summary {output.summary} --cutflow {output.cutflow} --threads {threads}"
        " > {log} 2>&1"
