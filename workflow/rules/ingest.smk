rule ingest:
    input:
        sample_files,
    output:
        table="results/ingest/{sample}.parquet",
        summary="results/ingest/{sample}.summary.json",
        cutflow="results/cutflow/{sample}.csv",
        cutflow_md="results/cutflow/{sample}.md",
    params:
        spec=ingest_params,
        configs=CONFIG_ARGS,
    log:
        "logs/ingest/{sample}.log",
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "hepml ingest {params.configs} --sample {wildcards.sample} --output {output.table}"
        " --summary {output.summary} --cutflow {output.cutflow} --threads {threads}"
        " > {log} 2>&1"
