# The statistics stage, only when the config has a `fit` section (hepml.systematics, hepml.stats):
# every MC sample's nominal and systematic variations scored by the same out-of-fold models
# (results/systematics/), the fit's score templates and the yield change of each variation,
# the fit inputs (ROOT shapes, Combine datacard, HistFactory XML, pyhf workspace), the expected
# significance and upper limits (results/fit/), and their figures (results/plots/).
FIT = PLAN["fit"]  # None without a fit section

if FIT:
    FIT_SAMPLES = FIT["samples"]
    FIT_INPUTS = [
        f"results/fit/{name}"
        for name in (
            "shapes.root",
            "datacard.txt",
            "combination.xml",
            f"channel_{FIT['channel']}.xml",
            "HistFactorySchema.dtd",
            "workspace.json",
        )
    ]
    FIT_PLOTS = expand(
        "results/plots/{plot}.{ext}", plot=["fit_templates", *FIT["plots"]], ext=EXTS
    )
    # everything this file adds to `rule all`
    FIT_OUTPUTS = [
        "results/fit/templates.json",
        *expand("results/fit/variation_yields.{ext}", ext=TABLE_EXTS),
        *FIT_INPUTS,
        *expand("results/fit/expected.{ext}", ext=["json", *TABLE_EXTS]),
        *FIT_PLOTS,
    ]

    rule variations:
        input:
            files=sample_files,
            variation_files=lambda wildcards: FIT["variation_inputs"][wildcards.sample],
            models=expand("results/train/fold{k}/model.json", k=FOLDS),
            metadata=expand("results/train/fold{k}/metadata.json", k=FOLDS),
            summary="results/ingest/{sample}.summary.json",
        output:
            table="results/systematics/{sample}.parquet",
            summary="results/systematics/{sample}.json",
        log:
            "logs/variations/{sample}.log",
        benchmark:
            "benchmarks/variations/{sample}.tsv"
        wildcard_constraints:
            sample="|".join(FIT_SAMPLES),
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            **stage_resources("ingest"),
        params:
            settings=sample_settings("variations"),
            files=files_arg,
            # `--variation-files NAME FILE ...` of each variation read from other files
            variation_files=lambda wildcards, input: " ".join(
                f"--variation-files {shlex.join([name, *files])}"
                for name, files in FIT["variation_files"][wildcards.sample].items()
            ),
            configs=config_args,
        shell:
            "hepml variations {params.configs} --sample {wildcards.sample} {params.files}"
            " {params.variation_files} --models {input.models}"
            " --ingest-summary {input.summary} --output {output.table}"
            " --summary {output.summary} --threads {threads} > {log} 2>&1"

    rule fit_templates:
        input:
            tables=expand("results/systematics/{sample}.parquet", sample=FIT_SAMPLES),
        output:
            templates="results/fit/templates.json",
            yields=in_report(
                expand("results/fit/variation_yields.{ext}", ext=TABLE_EXTS)
            ),
        log:
            "logs/fit_templates.log",
        benchmark:
            "benchmarks/fit_templates.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["fit_templates"],
            tables=lambda wildcards, input: " ".join(
                f"{s}={p}" for s, p in zip(FIT_SAMPLES, input.tables, strict=True)
            ),
            configs=config_args,
        shell:
            "hepml fit-templates {params.configs} --variations {params.tables}"
            " --output {output.templates} --yields-dir results/fit > {log} 2>&1"

    rule fit_inputs:
        input:
            templates=rules.fit_templates.output.templates,
        output:
            FIT_INPUTS,
        log:
            "logs/fit_inputs.log",
        benchmark:
            "benchmarks/fit_inputs.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["fit_inputs"],
            configs=config_args,
        shell:
            "hepml fit-inputs {params.configs} --templates {input.templates}"
            " --output-dir results/fit > {log} 2>&1"

    rule expected:
        input:
            workspace="results/fit/workspace.json",
        output:
            in_report(expand("results/fit/expected.{ext}", ext=["json", *TABLE_EXTS])),
            fitted="results/fit/fitted.json",
        log:
            "logs/expected.log",
        benchmark:
            "benchmarks/expected.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["expected"],
            configs=config_args,
        shell:
            "hepml expected {params.configs} --workspace {input.workspace}"
            " --output-dir results/fit > {log} 2>&1"

    rule plot_fit:
        input:
            templates=rules.fit_templates.output.templates,
            fitted=rules.expected.output.fitted,
        output:
            in_report(FIT_PLOTS),
        log:
            "logs/plot_fit.log",
        benchmark:
            "benchmarks/plot_fit.tsv"
        conda:
            "../../environment.yml"
        params:
            settings=SETTINGS["plot_fit"],
            configs=config_args,
        shell:
            "hepml plot-fit {params.configs} --templates {input.templates}"
            " --fitted {input.fitted} --output-dir results/plots > {log} 2>&1"

else:
    FIT_OUTPUTS = []
