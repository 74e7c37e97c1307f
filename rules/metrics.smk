# Trusted scoring: metrics are computed from each run's predictions and curve, never by the experiment.


rule compute_metrics:
    input:
        run="results/runs/{experiment}/{scale}/{arm}/seed{seed}/run.json",
    output:
        metrics="results/runs/{experiment}/{scale}/{arm}/seed{seed}/metrics.parquet",
        status="results/runs/{experiment}/{scale}/{arm}/seed{seed}/metrics.json",
    params:
        code=metrics_code_version,
    priority: SCORING_PRIORITY
    log:
        "logs/compute_metrics/{experiment}/{scale}/{arm}/seed{seed}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro compute-metrics --run {input.run:q} --out {output.metrics:q} \
            --status {output.status:q} > {log:q} 2>&1
        """


# One manifest per arm and seed count: what a claim's decision depends on (one input per arm, however many runs).
rule arm_scores:
    input:
        scores=arm_score_files,
    output:
        manifest="results/evidence/{experiment}/{scale}/{arm}/seeds{n_seeds}.json",
    priority: SCORING_PRIORITY
    log:
        "logs/arm_scores/{experiment}/{scale}/{arm}/seeds{n_seeds}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro arm-scores --out {output.manifest:q} {input.scores:q} > {log:q} 2>&1
        """
