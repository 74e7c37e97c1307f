# MLflow: one experiment per paper, written by one job per paper (track_mlflow, the only rule that writes MLflow),
# one job at a time (the mlflow_writer resource: SQLite allows one writer). A paper's job runs as soon as its verdicts
# are made, ahead of the runs still queued (priority), so that it overlaps the other papers' runs instead of the
# whole sync running alone at the end. mlflow_receipt joins their receipts and prints each paper's review link.


rule track_mlflow:
    input:
        verdicts=paper_verdict_files,
    output:
        receipt="results/mlflow/{scale}/{paper}.json",
    params:
        uri=mlflow_uri,
    resources:
        mlflow_writer=1,
    priority: 50
    log:
        "logs/track_mlflow/{scale}/{paper}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro track --scale {wildcards.scale} --uri {params.uri:q} --out {output.receipt:q} \
            {input.verdicts:q} > {log:q} 2>&1
        """


rule mlflow_receipt:
    input:
        receipts=mlflow_receipts,
    output:
        receipt="results/mlflow-{scale}.json",
    priority: SCORING_PRIORITY
    log:
        "logs/mlflow_receipt/{scale}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro track-receipt --out {output.receipt:q} {input.receipts:q} > {log:q} 2>&1
        """
