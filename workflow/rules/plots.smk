# The detailed evaluation: input variables, feature ranking and data/MC (hepml.evaluate.inputs,
# hepml.evaluate.importance, hepml.evaluate.data_mc) written as data under results/evaluation, then drawn from
# that data (hepml.plots.inputs, hepml.plots.training) under results/plots.

EXTS = ["pdf", "png"]
INPUT_PLOTS = expand(
    "results/plots/inputs/{feature}.{ext}", feature=FEATURES, ext=EXTS
) + expand(
    "results/plots/correlation_{cls}.{ext}", cls=["signal", "background"], ext=EXTS
)
TRAINING_PLOTS = expand(
    "results/plots/{plot}.{ext}",
    plot=["learning_curves", "importance", "shap_beeswarm"],
    ext=EXTS,
)
DATA_MC_PLOTS = (
    expand("results/plots/data_mc/{feature}.{ext}", feature=FEATURES, ext=EXTS)
    + expand("results/plots/data_mc_score.{ext}", ext=EXTS)
    if DATA_SAMPLES
    else []
)


# everything this file adds to `rule all` (data/MC only when the config has data samples)
EVALUATION_OUTPUTS = (
    expand("results/evaluation/{table}.{ext}", table=EVALUATION_TABLES, ext=TABLE_EXTS)
    + expand("results/evaluation/importance.{ext}", ext=TABLE_EXTS)
    + INPUT_PLOTS
    + TRAINING_PLOTS
    + DATA_MC_PLOTS
)


rule inputs:
    input:
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
    output:
        histograms="results/evaluation/input_variables.json",
        correlations="results/evaluation/correlations.json",
    log:
        "logs/inputs.log",
    benchmark:
        "benchmarks/inputs.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["inputs"],
        tables=table_args(SAMPLES),
        configs=config_args,
    shell:
        "hepml inputs {params.configs} --tables {params.tables}"
        " --output-dir results/evaluation > {log} 2>&1"


rule importance:
    input:
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
    output:
        in_report(expand("results/evaluation/importance.{ext}", ext=TABLE_EXTS)),
        shap="results/evaluation/shap.json",
    log:
        "logs/importance.log",
    benchmark:
        "benchmarks/importance.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["importance"],
        tables=table_args(SAMPLES),
        configs=config_args,
    shell:
        "hepml importance {params.configs} --models {input.models}"
        " --tables {params.tables} --output-dir results/evaluation > {log} 2>&1"


rule data_mc:
    input:
        models=expand("results/train/fold{k}/model.json", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
        data=expand("results/ingest/{sample}.parquet", sample=DATA_SAMPLES),
    output:
        "results/evaluation/data_mc.json",
    log:
        "logs/data_mc.log",
    benchmark:
        "benchmarks/data_mc.tsv"
    conda:
        "../../environment.yml"
    params:
        tables=table_args(SAMPLES),
        data=lambda wildcards, input: " ".join(
            f"{s}={p}" for s, p in zip(DATA_SAMPLES, input.data, strict=True)
        ),
        settings=SETTINGS["data_mc"],
        configs=config_args,
    shell:
        "hepml data-mc {params.configs} --models {input.models} --tables {params.tables}"
        " --data {params.data} --output-dir results/evaluation > {log} 2>&1"


rule plot_inputs:
    input:
        rules.inputs.output,
    output:
        in_report(INPUT_PLOTS),
    log:
        "logs/plot_inputs.log",
    benchmark:
        "benchmarks/plot_inputs.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["plot"],
        configs=config_args,
    shell:
        "hepml plot-inputs {params.configs} --evaluation-dir results/evaluation"
        " --output-dir results/plots > {log} 2>&1"


rule plot_training:
    input:
        rules.importance.output,
        curves=expand("results/train/fold{k}/learning_curve.csv", k=FOLDS),
        metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
    output:
        in_report(TRAINING_PLOTS),
    log:
        "logs/plot_training.log",
    benchmark:
        "benchmarks/plot_training.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["plot"],
        configs=config_args,
    shell:
        "hepml plot-training {params.configs} --curves {input.curves}"
        " --metadata {input.metadata} --evaluation-dir results/evaluation"
        " --output-dir results/plots > {log} 2>&1"


# only with data samples: a rule needs outputs
if DATA_SAMPLES:

    rule plot_data_mc:
        input:
            rules.data_mc.output,
        output:
            in_report(DATA_MC_PLOTS),
        log:
            "logs/plot_data_mc.log",
        benchmark:
            "benchmarks/plot_data_mc.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["plot"],
            configs=config_args,
        shell:
            "hepml plot-data-mc {params.configs} --evaluation-dir results/evaluation"
            " --output-dir results/plots > {log} 2>&1"
