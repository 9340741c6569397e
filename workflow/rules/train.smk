rule train:
    input:
        expand("results/ingest/{sample}.parquet", sample=SAMPLES),
    output:
        model="results/train/fold{k}/model.json",
        metadata="results/train/fold{k}/metadata.json",
        curve="results/train/fold{k}/learning_curve.csv",
        scores="results/train/fold{k}/scores.parquet",
    log:
        "logs/train/fold{k}.log",
    wildcard_constraints:
        k=r"\d+",
    conda:
        "../../environment.yml"
    threads: 4
    params:
        training=config["training"],
        features=config["features"],
        seed=config["seed"],
        tables=lambda wildcards, input: " ".join(
            f"{s}={p}" for s, p in zip(SAMPLES, input, strict=True)
        ),
        configs=CONFIG_ARGS,
    shell:
        "hepml train {params.configs} --fold {wildcards.k} --tables {params.tables}"
        " --output-dir results/train/fold{wildcards.k} --threads {threads} > {log} 2>&1"
