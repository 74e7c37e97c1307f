# Claim loading (validated at parse time: a bad claim fails `snakemake -n`) and input functions.
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.resources import Resource
from snakemake.exceptions import WorkflowError

import inspect
import os
import shlex
import sys

from repro.claims import ARXIV_VERSIONED, ClaimError
from repro.files import read_json, write_text
from repro.ledger import LedgerError, ledger_path, read_ledger, register_missing, rule_of, rule_status
from repro.ledger import record_evidence as record_ledger_evidence
from repro.paper_cache import cache_files
from repro.jobclient import WORKFLOW_PID
from repro.jobserver import JobServer
from repro.codekeys import decision_key, metrics_key, property_key, run_key, verdict_key
from repro.plan import GPUS_FROM_SCHEDULER, build_plan, holm_families
from repro.registry import FAMILIES
import repro.console
from repro.tracking import tracking_uri
from repro.scheduler_timers import coalesce_reevaluations

# Snakemake 9's scheduler starts a timer thread on every pass while jobs wait, and each timer makes another pass: by
# the end of the ci workflow hundreds of passes and threads a second, on the cores the runs need. One pending timer
# does the same job (repro/scheduler_timers.py; benchmarks/scheduler_cpu.py measures both).
if (_coalesced := coalesce_reevaluations()) not in ("installed", "already installed"):
    print(f"repro: Snakemake's scheduler timers: {_coalesced}", file=sys.stderr)

SCALE = config["scale"]
if SCALE not in ("ci", "reduced", "full"):
    raise WorkflowError(f"config/config.yaml: scale: must be ci, reduced or full (got {SCALE!r})")
# Where runs get a GPU (profiles/slurm sets `gpus: scheduler`): from a cluster's scheduler, a claim that needs one is
# planned and its runs' jobs ask for one (resource gpu, rules/runs.smk), though the machine running Snakemake has none.
# Set in the environment, where the rule verbs that plan a claim again (decide) find it, here and on the nodes.
if config.get("gpus") not in ("local", "scheduler"):
    raise WorkflowError(f"config: gpus: must be local or scheduler (got {config.get('gpus')!r})")
if config["gpus"] == "scheduler":
    os.environ[GPUS_FROM_SCHEDULER] = "scheduler"
else:
    os.environ.pop(GPUS_FROM_SCHEDULER, None)
try:
    PLAN = build_plan(Path(config["claims"]), SCALE)
except ClaimError as exc:
    # The problems are in the claim files: name them, not this line of workflow code (as a WorkflowError would).
    sys.exit(f"{exc}\n(`repro claims check --claims {config['claims']}` lists the same; nothing was run)")
CLAIM_FILES = {claim_id: str(p.loaded.path) for claim_id, p in PLAN.claims.items()}
# One summary line before Snakemake's own output (a dry run lists every job after it).
print(
    f"repro: {len(PLAN.claims)} claims at scale {SCALE}, {len(PLAN.runs)} training runs planned "
    "(`repro claims show <id>` names an arm's runs and logs)",
    file=sys.stderr,
)
PAPERS = config["papers"]
RUN_RESOURCES = config["run_resources"].get(SCALE) if isinstance(config.get("run_resources"), dict) else None
if not isinstance(RUN_RESOURCES, dict) or sorted(RUN_RESOURCES) != ["mem_mb", "runtime", "threads"]:
    raise WorkflowError(
        f"config/config.yaml: run_resources: {SCALE}: must map threads, mem_mb and runtime (got {RUN_RESOURCES!r})"
    )


def read_run_seconds():
    """config/config.yaml: run_seconds: <scale>: a typical run's seconds per family, which orders the queue
    (run_priority). A bad entry is a WorkflowError naming the setting, the family and the reason."""
    where = f"config/config.yaml: run_seconds: {SCALE}"
    scales = config.get("run_seconds", {})
    if not isinstance(scales, dict):
        raise WorkflowError(
            f"config/config.yaml: run_seconds: must map scales (ci, reduced, full) to each family's seconds "
            f"(got {scales!r})"
        )
    table = scales.get(SCALE, {})
    if not isinstance(table, dict):
        raise WorkflowError(f"{where}: must map family names ({', '.join(FAMILIES)}) to seconds (got {table!r})")
    for name, seconds in table.items():
        if name not in FAMILIES:
            raise WorkflowError(f"{where}: {name}: not a family (the families: {', '.join(FAMILIES)})")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise WorkflowError(f"{where}: {name}: must be a number of seconds >= 0 (got {seconds!r})")
    return table


RUN_SECONDS = read_run_seconds()
RUN_CHAINS = PLAN.run_chains(RUN_SECONDS)
# The preregistration ledger beside the claims (repro/ledger.py): rules are registered when the workflow starts,
# before any job runs; the verdicts decided are recorded as evidence when it ends.
LEDGER = ledger_path(Path(config["claims"]))
try:
    LEDGER_EVENTS = read_ledger(LEDGER)
except LedgerError as exc:
    raise WorkflowError(str(exc)) from None
# A second numeric environment's workflow directory (e.g. results-numerics/default, run with
# ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE): verdicts that differ there are reported fragile. Empty: none.
NUMERICS_REFERENCE = config.get("numerics_reference") or ""

# Rules call `python -S -m repro`; with --use-conda the env has the dependencies, the package comes from here. -S:
# a job's own process only hands its job to the server (repro/jobclient.py), and skips the environment's site
# (14 ms of a 22 ms start); a job no server takes restarts itself with site.
shell.prefix(f"set -euo pipefail; export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

# Jobs run on this machine in this interpreter: their verbs run in forks of one server that imported torch,
# transformers, pandas & co. once (repro/jobserver.py). Cluster jobs and conda/apptainer jobs run as they are.
if not isinstance(config["job_server"], bool):
    raise WorkflowError(
        f"config: job_server: must be true or false (--config job_server=False), got {config['job_server']!r}"
    )
# Started in onstart, and only where jobs execute on this machine: Snakemake picks the executor after it parsed this
# file (workflow.local_exec is True for every executor here), and a cluster job given this server's socket would train
# in a fork on the machine running Snakemake, not on the node the scheduler gave it.
JOB_SERVER = (
    JobServer("logs/job_server.log", workflow.basedir)
    if config["job_server"] and not workflow.deployment_settings.deployment_method
    else None
)
# Jobs end with the Snakemake process that runs them (repro.jobclient.end_with_workflow): a killed workflow leaves no
# run finishing behind its back. On a cluster node that process is the job's own Snakemake (it parses this file too,
# and sets its own pid here for the job's commands).
os.environ[WORKFLOW_PID] = str(os.getpid())


def record_evidence():
    decided = []
    for claim_id in PLAN.claims:
        path = Path(f"results/verdicts/{SCALE}/{claim_id}.json")
        if path.is_file():
            verdict = read_json(path)
            if verdict["verdict"] != "not_run" and verdict.get("rule"):
                decided.append((claim_id, SCALE, verdict["rule"]["fingerprint"]))
    record_ledger_evidence(LEDGER, decided)


def job_serves(rule, wildcards):
    """What a job is for, on the console (repro.console): a run's claims and arms, or the claim it decides."""
    if "claim" in wildcards:
        return [wildcards["claim"]]
    if {"experiment", "scale", "arm", "seed"} <= wildcards.keys():
        run_dir = Path("results/runs", wildcards["experiment"], wildcards["scale"], wildcards["arm"])
        return PLAN.run_users.get(run_dir / f"seed{wildcards['seed']}", [])
    return []


def write_log_index():
    """logs/index-<scale>.tsv: each run's log beside the claims and arms that use it (log paths carry the arm's
    content key, which no one can read)."""
    users = PLAN.run_users
    lines = ["log\texperiment\tseed\tused_by"]
    for run_dir, run in sorted(PLAN.runs.items()):
        log = f"logs/run_arm/{run.experiment}/{run.scale}/{run.arm_key}/seed{run.seed}.log"
        lines.append(f"{log}\t{run.experiment}\t{run.seed}\t{', '.join(users.get(run_dir, []))}")
    write_text(Path(f"logs/index-{SCALE}.tsv"), "\n".join(lines) + "\n")


repro.console.install(job_serves)


onstart:
    # The server first: it imports for seconds in a process of its own while the ledger and log index are written
    # (a server whose workflow ends early ends with it).
    if JOB_SERVER is not None and workflow.local_exec:
        JOB_SERVER.start()
    register_missing(LEDGER, [p.loaded.claim for p in PLAN.claims.values()], (SCALE,), by="workflow start")
    write_log_index()


onsuccess:
    if JOB_SERVER is not None:
        JOB_SERVER.stop()
    record_evidence()


onerror:
    if JOB_SERVER is not None:
        JOB_SERVER.stop()
    record_evidence()


wildcard_constraints:
    experiment="[a-z][a-z0-9_]*",
    scale="ci|reduced|full",
    arm="[0-9a-f]{12}",
    seed=r"\d+",
    n_seeds=r"[1-9]\d*",
    claim="[a-z0-9][a-z0-9-]*",
    paper=r"\d{4}\.\d{4,5}",


def _run(wildcards):
    return PLAN.run_for_dir(wildcards.experiment, wildcards.scale, wildcards.arm, int(wildcards.seed))


def run_spec(wildcards):
    return _run(wildcards).to_json()


def run_gpus(wildcards):
    """1 for a run of a claim that needs a GPU at this scale (on a cluster the job asks the scheduler for one), else 0."""
    return int(_run(wildcards).dir in PLAN.gpu_runs)


SCORING_PRIORITY = 1
"""The priority of every job but a run's (track_mlflow's is higher): scoring and deciding jobs take a fraction of a
second each and turn finished runs into verdicts, so they start before the next run (run_priority: below 1)."""


def run_priority(wildcards):
    """A run's place in the queue: the longest chain of work first (config run_seconds, Plan.run_chains), as a
    priority in [0, 1), below every other job's (SCORING_PRIORITY)."""
    chain = RUN_CHAINS[_run(wildcards).dir]
    return round(chain / (chain + 1), 6)


def run_requirements(wildcards):
    """run.json of the run's prerequisite runs (e.g. a warm start shared by every arm)."""
    return [str(req.run_json) for req in _run(wildcards).requires.values()]


_CODE_KEYS = {}


def code_key(key_function, *args):
    """A code key (repro.codekeys), computed once per workflow: every job's params are built when the DAG is, and
    a job per claim would otherwise hash the same modules again."""
    if (key_function, args) not in _CODE_KEYS:
        _CODE_KEYS[key_function, args] = key_function(*args)
    return _CODE_KEYS[key_function, args]


def run_code_version(wildcards):
    return code_key(run_key, wildcards.experiment)


def metrics_code_version(wildcards):
    return code_key(metrics_key, wildcards.experiment)


def claim_file(wildcards):
    return CLAIM_FILES[wildcards.claim]


def paper_file(wildcards):
    return str(PLAN.claims[wildcards.claim].loaded.paper_path)


def decision_inputs(wildcards):
    """decide_claim's inputs: the claim, its paper, its evidence and the paper text it quotes."""
    return {
        "claim": claim_file(wildcards),
        "paper": paper_file(wildcards),
        "evidence": claim_evidence(wildcards),
        "text": claim_text(wildcards),
    }


def verdict_inputs(wildcards):
    """decide_verdict's inputs: the claim, its decision, its Holm family and a second environment's decision."""
    return {
        "claim": claim_file(wildcards),
        "decision": f"results/decisions/{wildcards.scale}/{wildcards.claim}.json",
        "family": family_file(wildcards),
        "reference": numerics_reference(wildcards),
    }


def verdict_params(wildcards):
    """decide_verdict's params, one mapping (the shell command reads {params.verdict[family]}): code key and ledger
    status rerun the verdict when they change; family and reference are command-line arguments."""
    return {
        "code": verdict_code_version(wildcards),
        "rule": rule_flag(wildcards),
        "reference": numerics_reference_args(wildcards),
        "family": family_args(wildcards),
    }


def claim_evidence(wildcards):
    """The scores of every arm a claim needs (one manifest per arm and seed count, made by rule arm_scores), and its
    property table if it is a property."""
    plan = PLAN.claims[wildcards.claim]
    files = sorted({_arm_evidence(runs) for runs in plan.arms.values()})
    if plan.needs_property_check:
        files.append(str(plan.property_table))
    return files


def _arm_evidence(runs):
    """The arm's score manifest: its runs are seeds 0 … n − 1 of one experiment and arm key (the workflow's
    decisive seeds, plan.plan_claim). A run's record (run.json) is its scores' input, so a changed record rescores
    the run, remakes the manifest and re-decides the claim: each of those edges is in the DAG once per run and once
    per arm, not once per claim."""
    first = runs[0]
    if [run.seed for run in runs] != list(range(len(runs))) or {(r.experiment, r.arm_key) for r in runs} != {
        (first.experiment, first.arm_key)
    }:
        raise WorkflowError(f"an arm's runs must be seeds 0 … n − 1 of one arm: {[str(r.dir) for r in runs]}")
    return f"results/evidence/{first.experiment}/{first.scale}/{first.arm_key}/seeds{len(runs)}.json"


def arm_score_files(wildcards):
    """metrics.parquet and metrics.json of seeds 0 … n − 1 of the arm (each a planned run)."""
    files = []
    for seed in range(int(wildcards.n_seeds)):
        run = PLAN.run_for_dir(wildcards.experiment, wildcards.scale, wildcards.arm, seed)
        files += [str(run.metrics), str(run.dir / "metrics.json")]
    return files


def claim_text(wildcards):
    """The cached paper text a testable textual claim is grounded in: editing it re-decides the claim."""
    claim = PLAN.claims[wildcards.claim].loaded.claim
    if claim.kind != "textual" or not claim.testable:
        return []
    arxiv_id, version = ARXIV_VERSIONED.match(claim.paper.arxiv).groups()
    return [str(path) for path in cache_files(arxiv_id, version, Path(PAPERS))]


def property_runs(wildcards):
    return [str(run.dir / "run.json") for run in PLAN.claims[wildcards.claim].runs]


def property_code_version(wildcards):
    check = PLAN.claims[wildcards.claim].loaded.claim.check
    return code_key(property_key, check)


def decision_code_version(wildcards):
    return code_key(decision_key)


def verdict_code_version(wildcards):
    return code_key(verdict_key)


def family_file(wildcards):
    """The Holm family of a reproduction claim that runs at the scale: one file per paper (rule holm_family) with the
    p-values of its reproduction claims. Other claims are decided alone (none)."""
    plan = PLAN.claims[wildcards.claim]
    if not plan.in_holm_family:
        return []
    return [f"results/families/{wildcards.scale}/{plan.paper_id}.json"]


def family_args(wildcards):
    files = family_file(wildcards)
    return f"--family {shlex.quote(files[0])}" if files else ""


def family_members(wildcards):
    """Decisions of the paper's reproduction claims that run at the scale, sorted by claim id."""
    return [f"results/decisions/{wildcards.scale}/{claim_id}.json" for claim_id in HOLM_FAMILIES[wildcards.paper]]


PAPER_CLAIMS = {}
"""Paper (arXiv id without version) -> all its claims, sorted: one MLflow experiment, written by one job."""
for _id in sorted(PLAN.claims):
    PAPER_CLAIMS.setdefault(PLAN.claims[_id].paper_id, []).append(_id)


HOLM_FAMILIES = holm_families(PLAN.claims.values())
"""Paper -> its reproduction claims that run at this scale, sorted: one Holm family, built once."""


def rule_flag(wildcards):
    """What of the ledger status changes the verdict (repro.ledger.RuleStatus.flag): reruns it when it changes."""
    claim = PLAN.claims[wildcards.claim].loaded.claim
    return rule_status(LEDGER_EVENTS, claim.id, wildcards.scale, rule_of(claim, wildcards.scale)).flag()


def numerics_reference(wildcards):
    """This claim's verdict (its decision and its verdict after multiplicity) from the workflow run under a second
    numeric environment (config numerics_reference)."""
    if not NUMERICS_REFERENCE:
        return []
    return [str(Path(NUMERICS_REFERENCE) / f"results/verdicts/{wildcards.scale}/{wildcards.claim}.json")]


def numerics_reference_args(wildcards):
    files = numerics_reference(wildcards)
    if not files:
        return ""
    label = Path(NUMERICS_REFERENCE).name
    return f"--reference {shlex.quote(files[0])} --reference-label {shlex.quote(label)}"


def _verdicts(scale, claim_ids):
    return [f"results/verdicts/{scale}/{claim_id}.json" for claim_id in claim_ids]


def verdict_files(wildcards):
    return _verdicts(wildcards.scale, sorted(PLAN.claims))


def paper_verdict_files(wildcards):
    """The verdicts of one paper's claims: what its MLflow experiment is written from (rule track_mlflow)."""
    return _verdicts(wildcards.scale, PAPER_CLAIMS[wildcards.paper])


def mlflow_receipts(wildcards):
    """Every paper's MLflow receipt (rule mlflow_receipt joins them)."""
    return [f"results/mlflow/{wildcards.scale}/{paper}.json" for paper in sorted(PAPER_CLAIMS)]


def mlflow_uri(wildcards):
    return tracking_uri(config["mlflow_tracking_uri"] or None)


# Snakemake reads an input or params function's signature (inspect.signature) on every call, to learn which of
# wildcards, input, threads … it takes: twice per call, some 160 000 calls to plan 3000 claims (10 % of the dry run).
# Read once here: Snakemake honours a function's recorded parameters (snakemake.common.overwrite_function_params,
# what its own ioutils wrappers use; tests/test_envs.py checks every function below is so marked).
PLANNING_FUNCTIONS = (
    run_spec, run_gpus, run_requirements, run_code_version, metrics_code_version, claim_file, paper_file,
    decision_inputs, verdict_inputs, verdict_params, arm_score_files, property_runs, property_code_version,
    decision_code_version, verdict_code_version, family_members, verdict_files, paper_verdict_files, mlflow_receipts,
    mlflow_uri, run_priority,
)


def record_planning_parameters(rules):
    """Record the parameters of every function Snakemake calls per job, once, where it would read their signatures
    on each call: the planning functions above, and, called by the Snakefile once every rule exists, Snakemake's own
    Resource.evaluate (each resource of each job, even a constant: two reads each) and the evaluators of ``rules``'
    resources (the default tmpdir's: one more). 52 000 signature reads to plan 3000 claims become a few hundred
    (tests/test_envs.py counts them). Each is recorded from the live signature, so a Snakemake whose signatures
    differ records its own."""
    for function in PLANNING_FUNCTIONS:
        overwrite_function_params(function, inspect.signature(function).parameters)
    overwrite_function_params(Resource.evaluate, inspect.signature(Resource("tmpdir", "").evaluate).parameters)
    for defined in rules:
        for name in defined.resources:
            evaluator = getattr(defined.resources[name], "_evaluator", None)
            if inspect.isfunction(evaluator):
                overwrite_function_params(evaluator, inspect.signature(evaluator).parameters)
