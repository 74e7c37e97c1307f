"""Anti-stub integrity checks (reference/anchors.md §2c): was this result produced by a real run?

Each check returns a :class:`Check`; any failure makes the verdict ``invalid`` before any
statistics are read. The checks rely only on what the harness (not the experiment) recorded:
run.json provenance, weight hashes taken by the harness, table hashes, metric source hashes,
the input-dependence diagnostics computed by trusted metrics code, and the hashed training curve
(which tells a trained model that collapsed to a constant output from a stub).
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repro.codekeys import closure_modules, label, module_closure, module_path
from repro.files import sha256_file, sha256_json
from repro.runspec import RunSpec, arm_key

REQUIRED_RECORD_FIELDS = (
    "schema_version",
    "experiment",
    "scale",
    "arm_key",
    "seed",
    "params",
    "code_version",
    "git",
    "environment",
    "started_at",
    "finished_at",
    "wall_s",
    "status",
    "artifacts",
    "curve_steps",
)
MIN_SECONDS_PER_LOGGED_STEP = 1e-5
"""A logged training step faster than 10 µs is not a real optimiser step (catches "trained" in 0 s)."""
JUDGES = ("repro.verdict", "repro.metrics.scoring")
"""The entry points of scoring and judging: the verdict and the metrics harness."""


@functools.cache
def judging_modules() -> frozenset[str]:
    """Modules an experiment may not import: everything the verdict and the metrics harness are built from, less
    what the runner itself needs (its closure is the code experiments legitimately share: files, tables, run
    specs, the registry). Derived from the imports, so a new judging module is covered the day it is written."""
    judging = frozenset().union(*(closure_modules(name) for name in JUDGES))
    return judging - closure_modules("repro.runner")


def _forbidden(name: str) -> str | None:
    """The judging module ``name`` is (or belongs to), or None. Any ``repro.metrics`` module and any family's
    ``metrics`` count as judging: experiments measure, they do not score themselves."""
    if name in judging_modules() or name == "repro.metrics" or name.startswith("repro.metrics."):
        return name
    if name.startswith("repro.families.") and name.endswith(".metrics"):
        return name
    parent = name.rpartition(".")[0]  # `from repro.stats import summarize` names repro.stats.summarize
    return parent if parent and parent in judging_modules() else None


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunEvidence:
    """What the verdict knows about one run: its spec, run.json and metrics status (None if missing)."""

    arm: str
    spec: RunSpec
    record: dict[str, Any] | None
    metrics: dict[str, float] | None
    metrics_status: dict[str, Any] | None


def _provenance(run: RunEvidence) -> list[str]:
    rec = run.record
    problems = [f"run.json lacks {field!r}" for field in REQUIRED_RECORD_FIELDS if field not in rec]
    if problems:
        return problems
    for field, expected in (
        ("experiment", run.spec.experiment),
        ("scale", run.spec.scale),
        ("arm_key", run.spec.arm_key),
        ("seed", run.spec.seed),
    ):
        if rec[field] != expected:
            problems.append(f"run.json {field} = {rec[field]!r}, expected {expected!r}")
    if arm_key(rec["experiment"], rec["scale"], rec["params"]) != run.spec.arm_key:
        problems.append("the recorded parameters do not hash to the run's key")
    if not rec["environment"].get("deterministic_algorithms"):
        problems.append("deterministic algorithms were not enabled")
    if not rec["code_version"]:
        problems.append("no code version recorded")
    status = run.metrics_status or {}
    table_hashes = {name: entry["sha256"] for name, entry in rec["artifacts"]["tables"].items()}
    if status.get("source_sha256") != sha256_json(table_hashes):
        problems.append("the metrics were not computed from this run's prediction tables")
    return problems


def check_provenance(runs: list[RunEvidence]) -> Check:
    problems = [f"{r.spec.dir}: {p}" for r in runs for p in _provenance(r)]
    if problems:
        return Check("provenance", False, "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))
    commits = {r.record["git"]["commit"] for r in runs}
    return Check(
        "provenance",
        True,
        f"{len(runs)} run records complete and consistent; commits: {', '.join(sorted(str(c)[:10] for c in commits))}",
    )


LOOSE_TENSORS = "weights were snapshotted from loose tensors, not from the trained model or its optimiser"


def _snapshot_problem(weights: dict[str, Any]) -> str | None:
    """Why a run's two weight snapshots do not show what it trained, or None when they do: both must be of the
    model or optimiser it trains (``source`` "module" or "optimizer", not "tensors") and 'final' must be of the
    object and parameter tensors 'init' was (repro.runner.Recorder.snapshot_weights)."""
    if "tensors" in (weights["init"]["source"], weights["final"]["source"]):
        return LOOSE_TENSORS
    if not weights["final"]["same_as_init"]:
        return "the 'final' weight snapshot is not of the object and parameter tensors snapshotted at 'init'"
    return None


def _weights_moved(weights: dict[str, Any]) -> bool:
    return weights["init"]["sha256"] != weights["final"]["sha256"] and weights["final"]["l2_delta_from_init"] > 0


def check_weights_changed(runs: list[RunEvidence], untrained_arms: frozenset[str] = frozenset()) -> Check:
    """Every run snapshotted the parameters it trains (the model or its optimiser, the same object at 'init'
    and 'final'), and training changed them, except in arms that by design do not train (negative controls such
    as "warm start without RL"): those too must snapshot their model, but need not change it."""
    unsound = [(r, problem) for r in runs if (problem := _snapshot_problem(r.record["artifacts"]["weights"]))]
    if unsound:
        r, problem = unsound[0]
        more = f" (and {len(unsound) - 1} more run(s))" if len(unsound) > 1 else ""
        return Check("weights_changed", False, f"{r.spec.dir}: {problem}{more}")
    bad = [
        str(r.spec.dir)
        for r in runs
        if r.arm not in untrained_arms and not _weights_moved(r.record["artifacts"]["weights"])
    ]
    if bad:
        return Check("weights_changed", False, f"weights unchanged by training in {len(bad)} run(s): {bad[0]}")
    deltas = [
        r.record["artifacts"]["weights"]["final"]["l2_delta_from_init"] for r in runs if r.arm not in untrained_arms
    ]
    exempt = f" (not required of negative controls: {', '.join(sorted(untrained_arms))})" if untrained_arms else ""
    return Check("weights_changed", True, f"‖θ_final − θ_init‖ from {min(deltas):.3g} to {max(deltas):.3g}{exempt}")


def check_seeds_differ(runs: list[RunEvidence]) -> Check:
    by_arm: dict[str, dict[int, str]] = {}
    for r in runs:
        by_arm.setdefault(r.arm, {})[r.spec.seed] = sha256_json(
            {k: v["sha256"] for k, v in r.record["artifacts"]["tables"].items()}
        )
    for arm, hashes in by_arm.items():
        if len(hashes) >= 2 and len(set(hashes.values())) < len(hashes):
            return Check(
                "seeds_differ",
                False,
                f"arm {arm!r}: different seeds produced identical predictions ({len(set(hashes.values()))} "
                f"distinct of {len(hashes)})",
            )
    return Check("seeds_differ", True, "every seed produced different predictions")


def _input_blind_tables(run: RunEvidence) -> list[tuple[str, int]]:
    """(table, number of inputs) of each of ``run``'s tables that gives the same output for every input (of
    more than one), from the input-dependence diagnostics the metrics step computed."""
    diag = run.metrics_status["input_dependence"]
    blind = []
    for key, n_inputs in diag.items():
        if not key.endswith(".inputs"):
            continue
        table = key.removesuffix(".inputs")
        if n_inputs > 1 and diag[f"{table}.distinct_output_profiles"] <= 1:
            blind.append((table, n_inputs))
    return blind


def _not_a_collapse(run: RunEvidence) -> str | None:
    """Why ``run`` is not a trained model that collapsed, or None when it is one: its weight snapshots are sound
    and training changed them, and its training curve moved (some numeric column other than ``step`` takes more
    than one value). The curve is read from the run's folder (relative to the working directory, the
    workflow's folder, as run records name their files) after checking the sha256 its run.json records."""
    weights = run.record["artifacts"]["weights"]
    problem = _snapshot_problem(weights)
    if problem:
        return problem
    if not _weights_moved(weights):
        return "its weights did not change"
    entry = run.record["artifacts"]["curve"]
    path = Path(run.spec.dir) / entry["file"]
    if sha256_file(path) != entry["sha256"]:
        return f"{path} changed after the run wrote it (sha256 mismatch)"
    values = pd.read_parquet(path).drop(columns="step").select_dtypes("number")
    if not (values.nunique() > 1).any():  # nunique skips NaN: columns a family leaves empty do not count
        return "its training curve did not move"
    return None


def collapsed_runs(runs: list[RunEvidence]) -> list[dict[str, Any]]:
    """The runs whose outputs ignore their inputs because training collapsed them, not because they are stubs.

    A table of a run is collapsed when it gives one output for all its inputs while the run trained for real:
    its weight snapshots are of the model or optimiser it trains, training changed them (sha256 differs,
    ‖θ_final − θ_init‖ > 0), and its training curve moved (a numeric column other than ``step`` of
    ``curve.parquet`` takes more than one value). A collapse is a real outcome, to be judged by the decision,
    not an integrity failure.

    Returns one dict per collapsed table, in run order: ``{"dir": run folder (str), "arm": arm name,
    "seed": int, "table": prediction table name}``; [] when no run collapsed. Reads ``curve.parquet`` from each
    input-blind run's folder, relative to the working directory (the workflow's folder).
    """
    return [
        {"dir": str(r.spec.dir), "arm": r.arm, "seed": r.spec.seed, "table": table}
        for r in runs
        for table, _ in _input_blind_tables(r)
        if _not_a_collapse(r) is None
    ]


def check_input_dependence(runs: list[RunEvidence]) -> Check:
    """Every table of every run gives outputs that vary with its inputs, unless the run collapsed (see
    :func:`collapsed_runs`): a stub writes the same output whatever the input, while a run that trained and
    ended at a constant policy is a real result."""
    collapsed = []
    for r in runs:
        blind = _input_blind_tables(r)
        reason = _not_a_collapse(r) if blind else None
        for table, n_inputs in blind:
            if reason is not None:
                return Check(
                    "predictions_depend_on_inputs",
                    False,
                    f"{r.spec.dir}: table {table!r} gives the same output for all {n_inputs} inputs, and the run "
                    f"is not a trained model that collapsed: {reason}",
                )
            collapsed.append(f"{r.spec.dir} ({table})")
    if collapsed:
        return Check(
            "predictions_depend_on_inputs",
            True,
            f"outputs vary with the inputs, except in {len(collapsed)} table(s) of runs that trained and collapsed "
            f"to a constant output (weights and training curve moved): {collapsed[0]}",
        )
    return Check("predictions_depend_on_inputs", True, "outputs vary with the inputs in every table of every run")


def check_wall_time(runs: list[RunEvidence]) -> Check:
    for r in runs:
        rec = r.record
        wall, steps = rec["wall_s"], rec["curve_steps"]
        started = dt.datetime.fromisoformat(rec["started_at"])
        finished = dt.datetime.fromisoformat(rec["finished_at"])
        if wall <= 0 or wall < steps * MIN_SECONDS_PER_LOGGED_STEP:
            return Check("wall_time_plausible", False, f"{r.spec.dir}: {steps} logged steps in {wall:.2e} s")
        if (finished - started).total_seconds() + 0.5 < wall:
            return Check("wall_time_plausible", False, f"{r.spec.dir}: wall time exceeds the recorded start/end")
    walls = [r.record["wall_s"] for r in runs]
    return Check("wall_time_plausible", True, f"run wall times {min(walls):.2f}–{max(walls):.2f} s")


# The two scans below are cached per file, like the code keys' reads (repro.codekeys): a process reads the project's
# files as they are when it imports them, and the job server's forks drop every project module, these caches with
# them, when a file changed since the server started (repro.jobserver). The server fills them for every family
# (repro.jobwarm), so a decision does not parse its experiment's sources again (about 0.1 s of a 0.25 s decide).
@functools.cache
def _literals(path: Path) -> tuple[tuple[float, int], ...]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return tuple(
        (float(node.value), node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool)
    )


@functools.cache
def _imports(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _distinctive(value: float) -> bool:
    """Claimed numbers worth scanning for: not 0 and not a small integer (those are everywhere in code)."""
    return value != 0 and not (float(value).is_integer() and abs(value) <= 100)


def check_no_metric_literals(experiment_module: str, claimed: list[tuple[float, float]]) -> Check:
    """No numeric literal in the experiment's code equals a claimed number (within its rounding), and the
    experiment imports none of the scoring or judging modules.

    claimed: (value, precision) pairs of the claim's reported numbers.
    """
    files = module_closure(experiment_module)
    for module in sorted(closure_modules(experiment_module)):
        module_file = module_path(module)
        if module_file is None or _forbidden(module):  # a judging module is reported where it is imported
            continue
        for forbidden in filter(None, map(_forbidden, sorted(_imports(module_file)))):
            return Check(
                "no_metric_literals",
                False,
                f"{label(module_file)} imports {forbidden}: experiments may not score themselves",
            )
    for value, precision in claimed:
        if not _distinctive(value):
            continue
        tolerance = max(precision / 2, 1e-9 * abs(value))
        for path in files:
            for literal, line in _literals(path):
                if abs(literal - value) <= tolerance:
                    return Check(
                        "no_metric_literals",
                        False,
                        f"{label(path)}:{line} contains the literal {literal!r}, the claimed number {value!r}",
                    )
    scanned = ", ".join(sorted(label(p) for p in files))
    return Check("no_metric_literals", True, f"no claimed number appears as a literal in {scanned}")


def scan_sources(experiment_module: str) -> None:
    """Parse the sources :func:`check_no_metric_literals` reads for ``experiment_module`` (filling the caches)."""
    for module in closure_modules(experiment_module):
        if (path := module_path(module)) is not None:
            _imports(path)
            _literals(path)


def check_runs(
    runs: list[RunEvidence],
    experiment_module: str,
    claimed: list[tuple[float, float]],
    untrained_arms: frozenset[str] = frozenset(),
) -> list[Check]:
    """All run-level integrity checks, in a fixed order (the first failure is what the card leads with)."""
    return [
        check_provenance(runs),
        check_weights_changed(runs, untrained_arms),
        check_seeds_differ(runs),
        check_input_dependence(runs),
        check_wall_time(runs),
        check_no_metric_literals(experiment_module, claimed),
    ]
