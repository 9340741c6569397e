rule make_demo:
    output:
        demo_outputs(),
    params:
        demo=config.get("demo"),
        configs=CONFIG_ARGS,
    log:
        "logs/make_demo.log",
    conda:
        "../../environment.yml"
    shell:
        "hepml make-demo {params.configs} > {log} 2>&1"
