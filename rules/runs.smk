# One job per (experiment, scale, arm parameters, seed): runs are keyed by content, shared by claims.


rule run_arm:
    input:
        requires=run_requirements,
    output:
        run="results/runs/{experiment}/{scale}/{arm}/seed{seed}/run.json",
    params:
        spec=run_spec,
        code=run_code_version,
    log:
        "logs/run_arm/{experiment}/{scale}/{arm}/seed{seed}.log",
    # The job's wall time. With the job server (repro/jobserver.py) the CPU and memory columns describe the job
    # process that waits for its fork, not the fork that trains; the run's own time is run.json's wall_s.
    benchmark:
        "results/benchmarks/run_arm/{experiment}/{scale}/{arm}/seed{seed}.tsv"
    threads: RUN_RESOURCES["threads"]
    # Longest chain of work first, after every scoring and deciding job that is ready (run_priority).
    priority: run_priority
    # What a cluster job asks for (config/config.yaml: run_resources); a run of a claim that needs a GPU asks for one.
    resources:
        mem_mb=RUN_RESOURCES["mem_mb"],
        runtime=RUN_RESOURCES["runtime"],
        gpu=run_gpus,
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro run-arm --spec {params.spec:q} --out {output.run:q} --threads {threads} > {log:q} 2>&1
        """
