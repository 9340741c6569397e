rule evaluate:
    input:
        expand("results/train/fold{k}/scores.parquet", k=FOLDS),
    output:
        expand(
            "results/evaluation/{table}.{ext}",
            table=["metrics", "working_points", "overtraining"],
            ext=["csv", "md"],
        ),
        curves="results/evaluation/curves.json",
        histograms="results/evaluation/histograms.json",
    log:
        "logs/evaluate.log",
    conda:
        "../../environment.yml"
    params:
        evaluation=config["evaluation"],
        configs=CONFIG_ARGS,
    shell:
        "hepml evaluate {params.configs} --scores {input} --output-dir results/evaluation"
        " > {log} 2>&1"


rule plot:
    input:
        rules.evaluate.output,
    output:
        expand("results/plots/{plot}.{ext}", plot=PLOTS, ext=["pdf", "png"]),
    log:
        "logs/plot.log",
    conda:
        "../../environment.yml"
    params:
        plotting=config["plotting"],
        configs=CONFIG_ARGS,
    shell:
        "hepml plot {params.configs} --evaluation-dir results/evaluation"
        " --output-dir results/plots > {log} 2>&1"
