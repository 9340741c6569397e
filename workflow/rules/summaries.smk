# The run's records as tables for the report (hepml.review.summaries): per sample the ingest
# summary (files, entries, normalisation, negative weights, NaN counts) and the apply summary,
# and per fold model the export's files and closure test. Reformatting only, nothing computed.
SUMMARY_TABLES = ["ingest", "apply", "export"]
SUMMARY_OUTPUTS = expand(
    "results/summaries/{table}.{ext}", table=SUMMARY_TABLES, ext=["csv", "md"]
)


rule summaries:
    input:
        ingest=expand("results/ingest/{sample}.summary.json", sample=SAMPLES),
        apply=expand("results/apply/{sample}.json", sample=APPLY_SAMPLES),
        export="results/export",
    output:
        in_report(SUMMARY_OUTPUTS),
    log:
        "logs/summaries.log",
    benchmark:
        "benchmarks/summaries.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["summaries"],
        ingest=lambda wildcards, input: " ".join(
            f"{s}={p}" for s, p in zip(SAMPLES, input.ingest, strict=True)
        ),
        apply=lambda wildcards, input: " ".join(
            f"{s}={p}" for s, p in zip(APPLY_SAMPLES, input.apply, strict=True)
        ),
    shell:
        "hepml summarize --ingest {params.ingest} --apply {params.apply}"
        " --manifest {input.export}/manifest.json --output-dir results/summaries"
        " > {log} 2>&1"
