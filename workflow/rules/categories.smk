# Analysis categories (the config's categories section, hepml.config.extensions): in each
# category, the analysis with its cut appended to the selection, under
# results/categories/<category>/: ingest, K-fold training, evaluation and plots, apply and
# export, each the usual hepml command with --category. Then the categories' significances
# combined beside the inclusive BDT's (hepml.evaluate.categories). The multiclass and
# calibration rules (workflow/rules/multiclass.smk) serve the categories too.

if CATEGORIES:

    wildcard_constraints:
        category="|".join(CATEGORIES),

    rule category_ingest:
        input:
            sample_files,
        output:
            table=f"{CATEGORY_DIR}/ingest/{{sample}}.parquet",
            summary=f"{CATEGORY_DIR}/ingest/{{sample}}.summary.json",
            cutflow=f"{CATEGORY_DIR}/cutflow/{{sample}}.csv",
            cutflow_md=f"{CATEGORY_DIR}/cutflow/{{sample}}.md",
        log:
            "logs/categories/{category}/ingest/{sample}.log",
        benchmark:
            "benchmarks/categories/{category}/ingest/{sample}.tsv"
        wildcard_constraints:
            sample="|".join(SAMPLES),
        conda:
            "../../environment.yml"
        threads: stage_threads("ingest")
        resources:
            **stage_resources("ingest"),
        params:
            settings=category_settings("ingest", per_sample=True),
            files=files_arg,
            configs=config_args,
        shell:
            "hepml ingest {params.configs} --category {wildcards.category}"
            " --sample {wildcards.sample} {params.files} --output {output.table}"
            " --summary {output.summary} --cutflow {output.cutflow} --threads {threads}"
            " > {log} 2>&1"

    rule category_train:
        input:
            tables=category_tables,
        output:
            model=f"{CATEGORY_DIR}/train/fold{{k}}/model.json",
            metadata=f"{CATEGORY_DIR}/train/fold{{k}}/metadata.json",
            curve=f"{CATEGORY_DIR}/train/fold{{k}}/learning_curve.csv",
            scores=f"{CATEGORY_DIR}/train/fold{{k}}/scores.parquet",
        log:
            "logs/categories/{category}/train/fold{k}.log",
        benchmark:
            "benchmarks/categories/{category}/train/fold{k}.tsv"
        wildcard_constraints:
            k=r"\d+",
        conda:
            "../../environment.yml"
        threads: stage_threads("train")
        resources:
            **stage_resources("train"),
        params:
            settings=category_settings("train"),
            tables=table_args(SAMPLES),
            configs=config_args,
        shell:
            "hepml train {params.configs} --category {wildcards.category}"
            " --fold {wildcards.k} --tables {params.tables}"
            " --output-dir results/categories/{wildcards.category}/train/fold{wildcards.k}"
            " --threads {threads} > {log} 2>&1"

    rule category_evaluate:
        input:
            scores=category_files("train/fold{k}/scores.parquet", k=FOLDS),
        output:
            expand(
                f"{CATEGORY_DIR}/evaluation/{{table}}.{{ext}}",
                table=EVALUATION_TABLES,
                ext=TABLE_EXTS,
                allow_missing=True,
            ),
            significance=f"{CATEGORY_DIR}/evaluation/significance.json",
            curves=f"{CATEGORY_DIR}/evaluation/curves.json",
            histograms=f"{CATEGORY_DIR}/evaluation/histograms.json",
        log:
            "logs/categories/{category}/evaluate.log",
        benchmark:
            "benchmarks/categories/{category}/evaluate.tsv"
        conda:
            "../../environment.yml"
        threads: stage_threads("evaluate")
        resources:
            **stage_resources("evaluate"),
        params:
            settings=category_settings("evaluate"),
            configs=config_args,
        shell:
            "hepml evaluate {params.configs} --scores {input.scores}"
            " --output-dir results/categories/{wildcards.category}/evaluation > {log} 2>&1"

    rule category_plot:
        input:
            rules.category_evaluate.output,
        output:
            expand(
                f"{CATEGORY_DIR}/plots/{{plot}}.{{ext}}",
                plot=PLOTS,
                ext=EXTS,
                allow_missing=True,
            ),
        log:
            "logs/categories/{category}/plot.log",
        benchmark:
            "benchmarks/categories/{category}/plot.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=category_settings("plot"),
            configs=config_args,
        shell:
            "hepml plot {params.configs}"
            " --evaluation-dir results/categories/{wildcards.category}/evaluation"
            " --output-dir results/categories/{wildcards.category}/plots > {log} 2>&1"

    rule category_apply:
        input:
            files=sample_files,
            models=category_models,
            metadata=category_files("train/fold{k}/metadata.json", k=FOLDS),
        output:
            **category_apply_outputs(),
            summary=f"{CATEGORY_DIR}/apply/{{sample}}.json",
        log:
            "logs/categories/{category}/apply/{sample}.log",
        benchmark:
            "benchmarks/categories/{category}/apply/{sample}.tsv"
        wildcard_constraints:
            sample="|".join(APPLY_SAMPLES),
        conda:
            "../../environment.yml"
        threads: 1
        params:
            settings=category_settings("apply", per_sample=True),
            files=files_arg,
            configs=config_args,
        shell:
            "hepml apply {params.configs} --category {wildcards.category}"
            " --sample {wildcards.sample} {params.files} --models {input.models}"
            " --output-dir results/categories/{wildcards.category}/apply --threads {threads}"
            " > {log} 2>&1"

    rule category_export:
        input:
            models=category_models,
            scores=category_files("train/fold{k}/scores.parquet", k=FOLDS),
            tables=category_tables,
            summaries=category_files("ingest/{sample}.summary.json", sample=SAMPLES),
        output:
            directory(f"{CATEGORY_DIR}/export"),
        log:
            "logs/categories/{category}/export.log",
        benchmark:
            "benchmarks/categories/{category}/export.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=category_settings("export"),
            tables=table_args(SAMPLES),
            summaries=lambda wildcards, input: " ".join(
                f"{s}={p}" for s, p in zip(SAMPLES, input.summaries, strict=True)
            ),
            configs=config_args,
        shell:
            "hepml export {params.configs} --category {wildcards.category}"
            " --models {input.models} --scores {input.scores} --tables {params.tables}"
            " --summaries {params.summaries} --output-dir {output} > {log} 2>&1"

    rule combine_categories:
        input:
            inclusive="results/evaluation/significance.json",
            categories=expand(
                "results/categories/{category}/evaluation/significance.json",
                category=CATEGORIES,
            ),
            tables=expand(
                "results/categories/{category}/ingest/{sample}.parquet",
                category=CATEGORIES,
                sample=SAMPLES,
            ),
        output:
            expand("results/categories/combined.{ext}", ext=TABLE_EXTS),
            data="results/categories/combined.json",
        log:
            "logs/combine_categories.log",
        benchmark:
            "benchmarks/combine_categories.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["combine_categories"],
            configs=config_args,
        shell:
            "hepml combine-categories {params.configs} --inclusive {input.inclusive}"
            " --categories-dir results/categories --output-dir results/categories > {log} 2>&1"

    rule plot_categories:
        input:
            "results/categories/combined.json",
        output:
            expand("results/plots/categories_significance.{ext}", ext=EXTS),
        log:
            "logs/plot_categories.log",
        benchmark:
            "benchmarks/plot_categories.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["combine_categories"],
            configs=config_args,
        shell:
            "hepml plot-categories {params.configs} --combined {input}"
            " --output-dir results/plots > {log} 2>&1"
