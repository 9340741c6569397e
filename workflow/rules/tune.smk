# The optional hyperparameter search (training.tune): every trial of every fold model is a
# job, so a cluster runs them in parallel; TPE trials wait for the earlier batches only.
rule tune_trial:
    input:
        tables=expand("results/ingest/{sample}.parquet", sample=SAMPLES),
        history=tune_history,
    output:
        "results/tune/fold{k}/trial{i}.json",
    log:
        "logs/tune/fold{k}/trial{i}.log",
    benchmark:
        "benchmarks/tune/fold{k}/trial{i}.tsv"
    wildcard_constraints:
        k=r"\d+",
        i=r"\d+",
    conda:
        "../../environment.yml"
    threads: stage_threads("train")
    resources:
        **stage_resources("train"),
    params:
        settings=SETTINGS["tune_trial"],
        tables=table_args(SAMPLES),
        configs=config_args,
    shell:
        "hepml tune-trial {params.configs} --fold {wildcards.k} --trial {wildcards.i}"
        " --tables {params.tables} --history {input.history} --output {output}"
        " --threads {threads} > {log} 2>&1"


rule tune_select:
    input:
        expand("results/tune/fold{k}/trial{i}.json", k=FOLDS, i=TRIALS),
    output:
        params="results/tune/best_params.json",
        table=in_report("results/tune/trials.csv"),
        table_md="results/tune/trials.md",
        trials="results/tune/trials.json",
    log:
        "logs/tune/select.log",
    benchmark:
        "benchmarks/tune/select.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["tune_select"],
        configs=config_args,
    shell:
        "hepml tune-select {params.configs} --trials {input} --output-dir results/tune"
        " > {log} 2>&1"


# The trials drawn from their plot data (hepml.plots.tuning): restyling redraws only this.
rule plot_tune:
    input:
        rules.tune_select.output.trials,
    output:
        in_report(expand("results/plots/tune_trials.{ext}", ext=["pdf", "png"])),
    log:
        "logs/tune/plot.log",
    benchmark:
        "benchmarks/tune/plot.tsv"
    conda:
        "../../environment.yml"
    params:
        settings=SETTINGS["plot"],
        configs=config_args,
    shell:
        "hepml plot-tune {params.configs} --trials {input} --output-dir results/plots"
        " > {log} 2>&1"
