rule train:
    input:
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
        tuned=TUNED_PARAMS,
    output:
        model="results/train/fold{k}/model.json",
        metadata="results/train/fold{k}/metadata.json",
        curve=in_report("results/train/fold{k}/learning_curve.csv"),
        scores="results/train/fold{k}/scores.parquet",
    log:
        "logs/train/fold{k}.log",
    benchmark:
        "benchmarks/train/fold{k}.tsv"
    wildcard_constraints:
        k=r"\d+",
    conda:
        "../../environment.yml"
    threads: stage_threads("train")
    resources:
        **stage_resources("train"),
    params:
        settings=SETTINGS["train"],
        tables=table_args(SAMPLES),
        tuned=lambda wildcards, input: " ".join(f"--params {p}" for p in input.tuned),
        configs=config_args,
    shell:
        "hepml train {params.configs} --fold {wildcards.k} --tables {params.tables}"
        " {params.tuned} --output-dir results/train/fold{wildcards.k} --threads {threads}"
        " > {log} 2>&1"


# The baselines of training.baselines, on the BDT's folds and training weights.
rule train_baseline:
    input:
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
    output:
        model="results/baselines/{baseline}/fold{k}/model.joblib",
        metadata="results/baselines/{baseline}/fold{k}/metadata.json",
        scores="results/baselines/{baseline}/fold{k}/scores.parquet",
    log:
        "logs/baselines/{baseline}/fold{k}.log",
    benchmark:
        "benchmarks/baselines/{baseline}/fold{k}.tsv"
    wildcard_constraints:
        k=r"\d+",
        baseline=r"[A-Za-z][A-Za-z0-9_]*",
    conda:
        "../../environment.yml"
    threads: 2
    resources:
        **stage_resources("train"),
    params:
        settings=lambda wildcards: SETTINGS["train_baseline"][wildcards.baseline],
        tables=table_args(SAMPLES),
        configs=config_args,
    shell:
        "hepml train {params.configs} --classifier {wildcards.baseline}"
        " --fold {wildcards.k} --tables {params.tables}"
        " --output-dir results/baselines/{wildcards.baseline}/fold{wildcards.k}"
        " --threads {threads} > {log} 2>&1"
