# The evaluation and plots of training.multiclass (hepml.evaluate.multiclass) and of the
# calibration section (hepml.evaluate.calibration). The models themselves come from the train
# rule (hepml train trains them and fits the calibration on each fold's validation fold).
# {base} is results, or results/categories/<name> for an analysis category
# (workflow/rules/categories.smk): the same rules serve both.

if MULTICLASS:

    rule evaluate_multiclass:
        input:
            scores=expand("{{base}}/train/fold{k}/scores.parquet", k=FOLDS),
            baselines=_baselines_of,
        output:
            expand(
                "{{base}}/evaluation/{table}.{ext}",
                table=MULTICLASS_TABLES,
                ext=TABLE_EXTS,
            ),
            data="{base}/evaluation/multiclass.json",
        log:
            "logs/evaluate_multiclass/{base}.log",
        benchmark:
            "benchmarks/evaluate_multiclass/{base}.tsv"
        wildcard_constraints:
            base=_BASE,
        conda:
            "../../environment.yml"
        threads: stage_threads("evaluate")
        resources:
            **stage_resources("evaluate"),
        params:
            settings=base_settings("evaluate_multiclass"),
            baselines=_baseline_args,
            configs=config_args,
        shell:
            "hepml evaluate-multiclass {params.configs} --scores {input.scores}"
            " {params.baselines} --output-dir {wildcards.base}/evaluation > {log} 2>&1"

    rule plot_multiclass:
        input:
            "{base}/evaluation/multiclass.json",
        output:
            expand("{{base}}/plots/{plot}.{ext}", plot=MULTICLASS_PLOTS, ext=EXTS),
        log:
            "logs/plot_multiclass/{base}.log",
        benchmark:
            "benchmarks/plot_multiclass/{base}.tsv"
        wildcard_constraints:
            base=_BASE,
        conda:
            "../../environment.yml"
        params:
            settings=base_settings("plot_multiclass"),
            configs=config_args,
        shell:
            "hepml plot-multiclass {params.configs} --evaluation-dir {wildcards.base}/evaluation"
            " --output-dir {wildcards.base}/plots > {log} 2>&1"


if CALIBRATION:

    rule evaluate_calibration:
        input:
            scores=expand("{{base}}/train/fold{k}/scores.parquet", k=FOLDS),
        output:
            expand("{{base}}/evaluation/calibration.{ext}", ext=TABLE_EXTS),
            data="{base}/evaluation/calibration.json",
        log:
            "logs/evaluate_calibration/{base}.log",
        benchmark:
            "benchmarks/evaluate_calibration/{base}.tsv"
        wildcard_constraints:
            base=_BASE,
        conda:
            "../../environment.yml"
        threads: stage_threads("evaluate")
        resources:
            **stage_resources("evaluate"),
        params:
            settings=base_settings("evaluate_calibration"),
            configs=config_args,
        shell:
            "hepml evaluate-calibration {params.configs} --scores {input.scores}"
            " --output-dir {wildcards.base}/evaluation > {log} 2>&1"

    rule plot_calibration:
        input:
            "{base}/evaluation/calibration.json",
        output:
            expand("{{base}}/plots/{plot}.{ext}", plot=CALIBRATION_PLOTS, ext=EXTS),
        log:
            "logs/plot_calibration/{base}.log",
        benchmark:
            "benchmarks/plot_calibration/{base}.tsv"
        wildcard_constraints:
            base=_BASE,
        conda:
            "../../environment.yml"
        params:
            settings=base_settings("plot_calibration"),
            configs=config_args,
        shell:
            "hepml plot-calibration {params.configs} --evaluation-dir {wildcards.base}/evaluation"
            " --output-dir {wildcards.base}/plots > {log} 2>&1"
