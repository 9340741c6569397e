rule make_demo:
    output:
        demo_outputs(),
    log:
        "logs/make_demo.log",
    benchmark:
        "benchmarks/make_demo.tsv"
    conda:
        "../../environment.yml"
    threads: stage_threads("demo")
    resources:
        **stage_resources("demo"),
    params:
        settings=SETTINGS["make_demo"],
        configs=config_args,
    shell:
        "hepml make-demo {params.configs} > {log} 2>&1"
