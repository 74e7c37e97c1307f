# repro: claims/*.yaml -> runs -> metrics -> verdicts -> summary, report, MLflow.
# Stages live in rules/*.smk; helpers (claim loading, input functions) in rules/common.smk.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"
include: "rules/runs.smk"
include: "rules/metrics.smk"
include: "rules/verdicts.smk"
include: "rules/report.smk"
include: "rules/tracking.smk"


# On a cluster (profiles/slurm) only training runs are submitted as jobs. Scoring, deciding, summarizing and the MLflow
# sync take seconds each: they run where Snakemake runs, which also reaches the tracking server.
localrules:
    all,
    compute_metrics,
    arm_scores,
    check_property,
    decide_claim,
    family_pvalues,
    holm_family,
    decide_verdict,
    summarize_verdicts,
    track_mlflow,
    mlflow_receipt,


rule all:
    input:
        f"results/verdicts-{SCALE}.tsv",
        f"results/report-{SCALE}.html",
        f"results/mlflow-{SCALE}.json",
        # Every run's record and scores are targets too: one removed (corrupt, or deleted by hand) is made again,
        # and what was decided from it follows, where Snakemake would otherwise keep the verdicts built on it.
        [str(path) for run in PLAN.runs.values() for path in (run.run_json, run.metrics, run.dir / "metrics.json")],
    default_target: True


# Last, once every rule and its resources exist (rules/common.smk).
record_planning_parameters(workflow.rules)
