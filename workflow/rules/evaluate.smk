rule evaluate:
    input:
        scores=expand("results/train/fold{k}/scores.parquet", k=FOLDS),
        baselines=expand(
            "results/baselines/{name}/fold{k}/scores.parquet", name=BASELINES, k=FOLDS
        ),
    output:
        in_report(
            expand(
                "results/evaluation/{table}.{ext}",
                table=EVALUATION_TABLES,
                ext=TABLE_EXTS,
            )
        ),
        significance="results/evaluation/significance.json",
        curves="results/evaluation/curves.json",
        histograms="results/evaluation/histograms.json",
    log:
        "logs/evaluate.log",
    benchmark:
        "benchmarks/evaluate.tsv"
    group:
        "summary"
    conda:
        "../../environment.yml"
    threads: stage_threads("evaluate")
    resources:
        **stage_resources("evaluate"),
    params:
        settings=SETTINGS["evaluate"],
        baselines=" ".join(
            f"--baseline {name} {' '.join(baseline_scores(name))}"
            for name in BASELINES
        ),
        configs=config_args,
    shell:
        "hepml evaluate {params.configs} --scores {input.scores} {params.baselines}"
        " --output-dir results/evaluation > {log} 2>&1"


rule plot:
    input:
        rules.evaluate.output,
    output:
        in_report(expand("results/plots/{plot}.{ext}", plot=PLOTS, ext=["pdf", "png"])),
    log:
        "logs/plot.log",
    benchmark:
        "benchmarks/plot.tsv"
    group:
        "summary"
    conda:
        "../../environment.yml"
    threads: stage_threads("evaluate")
    resources:
        **stage_resources("evaluate"),
    params:
        settings=SETTINGS["plot"],
        configs=config_args,
    shell:
        "hepml plot {params.configs} --evaluation-dir results/evaluation"
        " --output-dir results/plots > {log} 2>&1"
