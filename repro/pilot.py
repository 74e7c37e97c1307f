"""Pilots: measure a reproduction claim's per-seed spread on seeds the decisive run never uses, before its rule is
fixed (issue "Experiment fidelity"; docs/design.md §5, preregistration).

A pilot runs the claim's arms at one scale on pilot seeds (by default 1000 and up) in a scratch folder of its own,
scores them with the workflow's own harness (:func:`repro.metrics.scoring.compute_run_metrics`) and reports, from
the per-seed effects as the claim's expectation defines them (paired difference or relative gain against the
baseline): their mean and sd, the minimum detectable effect at the claim's declared seeds (power 0.8, one-sided α)
and the seeds that would detect its margin; the treatment's and baseline's mechanism diagnostic; each negative
control's gap; and each run's wall time (the scale's compute budget). It writes nothing under ``results/`` and no
ledger event, and it refuses the decisive seeds ``0 … n − 1``: a pilot that read the decisive runs would be the
verdict read early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repro import registry, stats
from repro.claims import ReproductionClaim, scale_spec
from repro.files import read_json, working_directory, write_json
from repro.plan import holm_families, plan_claim
from repro.runspec import RunSpec

PILOT_SEED_START = 1000
"""Default first pilot seed: far above any claim's decisive seeds."""


class PilotError(ValueError):
    """A pilot that cannot be run as asked (not a reproduction claim, decisive seeds, a failed run)."""


@dataclass
class PilotResult:
    claim_id: str
    scale: str
    seeds: list[int]
    metric: str
    effect: str
    margin: float
    declared_seeds: int
    values: dict[str, list[float]]
    """Each arm's metric per pilot seed, in seed order."""
    wall_s: dict[str, list[float]]
    effects: list[float] = field(default_factory=list)
    mechanism: dict[str, Any] | None = None
    control_gaps: dict[str, dict[str, float]] = field(default_factory=dict)
    family_size: int = 1
    """The paper's reproduction claims that run at this scale: the Holm family its verdict is adjusted over."""

    def as_dict(self) -> dict[str, Any]:
        sd = self.effect_sd
        return {
            "claim_id": self.claim_id,
            "scale": self.scale,
            "seeds": self.seeds,
            "metric": self.metric,
            "effect": self.effect,
            "margin": self.margin,
            "declared_seeds": self.declared_seeds,
            "values": self.values,
            "wall_s": self.wall_s,
            "effects": self.effects,
            "effect_mean": float(np.mean(self.effects)) if self.effects else None,
            "effect_sd": sd,
            "mde_at_declared_seeds": self.mde(self.declared_seeds),
            "seeds_for_margin": self.seeds_for_margin,
            "family_size": self.family_size,
            "seeds_for_margin_at_family_alpha": self.seeds_for_margin_at_family_alpha,
            "mechanism": self.mechanism,
            "control_gaps": self.control_gaps,
            "core_seconds_at_declared_seeds": self.core_seconds(self.declared_seeds),
        }

    @property
    def effect_sd(self) -> float | None:
        return float(np.std(self.effects, ddof=1)) if len(self.effects) >= 2 else None

    def mde(self, n: int) -> float | None:
        sd = self.effect_sd
        return None if sd is None else stats.minimum_detectable_effect(sd, n)

    @property
    def seeds_for_margin(self) -> int | None:
        """Seeds at which a true effect of exactly the margin is detected with power 0.8 (None: no effect sd, or
        more than 10,000)."""
        sd = self.effect_sd
        return None if sd is None else stats.seeds_needed(sd, self.margin)

    @property
    def seeds_for_margin_at_family_alpha(self) -> int | None:
        """Seeds that detect the margin with power 0.8 at α/m, m the paper's Holm family at this scale: enough for
        the verdict to survive Holm's adjustment whatever the other claims do (Holm never asks more of one claim).
        None as for :attr:`seeds_for_margin`."""
        sd = self.effect_sd
        return None if sd is None else stats.seeds_needed(sd, self.margin, 0.05 / self.family_size)

    def core_seconds(self, n: int) -> float:
        """Training core-seconds of the claim's arms at ``n`` seeds, from the pilot's mean run time per arm
        (prerequisite runs not included)."""
        return float(sum(np.mean(w) * n for w in self.wall_s.values() if w))


def parse_seeds(text: str) -> list[int]:
    """``1000-1005`` or ``1000,1003,1010`` → seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if hi < lo:
                raise PilotError(f"--seeds {text!r}: range {part!r} runs backwards")
            seeds.extend(range(lo, hi + 1))
        elif part:
            seeds.append(int(part))
    if len(seeds) < 2:
        raise PilotError(f"--seeds {text!r}: a pilot needs at least two seeds to measure a spread")
    return seeds


def _ensure_run(spec: RunSpec, threads: int, log) -> dict[str, Any]:
    """Run ``spec`` (prerequisites first) unless a completed record of it is there already; return its record."""
    from repro.runner import run_arm

    for run in spec.closure():
        if run.run_json.is_file() and read_json(run.run_json).get("status") == "completed":
            continue
        log(f"running {run.experiment} {run.arm_key} seed {run.seed}")
        record = run_arm(run, run.run_json, threads=threads)
        if record["status"] != "completed":
            raise PilotError(f"{run.run_json}: run failed:\n{str(record.get('error'))[-1500:]}")
    return read_json(spec.run_json)


def _metrics(spec: RunSpec) -> dict[str, float]:
    from repro.metrics.scoring import compute_run_metrics

    table, _ = compute_run_metrics(spec.run_json)
    return dict(zip(table["metric"], table["value"].astype(float), strict=True))


def holm_family_size(claim_files: list[Path], scale: str, load, claim_id: str) -> int:
    """The size of ``claim_id``'s Holm family at ``scale`` among its paper's claim files (``load``: a path to its
    loaded claim; drafts are left out, as the workflow's plan leaves them): the family its verdict is adjusted
    over, by the workflow's own definition (:func:`repro.plan.holm_families`); 0 for a claim outside every family
    (one the pilot refuses: not a reproduction claim, or not run at ``scale``)."""
    plans = [plan_claim(item, scale) for item in map(load, claim_files) if item.claim.draft is None]
    return next((len(members) for members in holm_families(plans).values() if claim_id in members), 0)


def pilot_claim(
    loaded, scale: str, seeds: list[int], out: Path, threads: int = 1, log=print, family_size: int = 1
) -> PilotResult:
    """Run and score a reproduction claim's arms on pilot ``seeds`` under ``out`` (see the module docstring);
    ``family_size``: the paper's reproduction claims that run at ``scale`` (:func:`holm_family_size`)."""
    claim = loaded.claim
    if not isinstance(claim, ReproductionClaim):
        raise PilotError(f"{loaded.path}: {claim.id} is a {claim.kind} claim; pilots are for reproduction claims")
    spec = scale_spec(claim, scale)
    if spec.not_run is not None:
        raise PilotError(f"{loaded.path}: {claim.id} is not run at scale {scale}: {spec.not_run}")
    decisive = sorted(set(seeds) & set(range(spec.seeds)))
    if decisive:
        raise PilotError(
            f"{loaded.path}: seeds {decisive} are the decisive seeds of scales.{scale} (0 … {spec.seeds - 1}); "
            f"pilot on others (e.g. {PILOT_SEED_START}-{PILOT_SEED_START + 5})"
        )
    exp = spec.expectation
    metric = registry.get_metrics(claim.experiment).METRICS[claim.metric]
    planned = plan_claim(loaded, scale, seeds=seeds)
    if planned.not_run is not None:
        raise PilotError(f"{loaded.path}: {claim.id} is not run at scale {scale} here: {planned.not_run}")
    values: dict[str, list[float]] = {arm: [] for arm in claim.arms}
    walls: dict[str, list[float]] = {arm: [] for arm in claim.arms}
    diagnostics: dict[str, list[float]] = {arm: [] for arm in claim.arms}
    control_values: dict[str, list[float]] = {arm: [] for arm in claim.arms}
    out = Path(out).resolve()
    with working_directory(out):
        for arm, runs in planned.arms.items():
            for run in runs:
                record = _ensure_run(run, threads, log)
                scored = _metrics(run)
                if claim.metric not in scored:
                    raise PilotError(f"{run.dir}: metric {claim.metric!r} missing from the run's scores")
                values[arm].append(scored[claim.metric])
                if claim.control_metric is not None:
                    control_values[arm].append(scored[claim.control_metric])
                walls[arm].append(float(record["wall_s"]))
                if claim.mechanism is not None:
                    diagnostics[arm].append(scored.get(claim.mechanism.diagnostic, math.nan))
    result = PilotResult(claim.id, scale, seeds, claim.metric, exp.effect, exp.margin, spec.seeds, values, walls)
    result.family_size = max(1, family_size)
    if exp.effect != "value" and claim.baseline in values:
        sign = 1 if metric.higher_is_better else -1
        t, b = np.asarray(values[claim.treatment]), np.asarray(values[claim.baseline])
        result.effects = (sign * stats.paired_effects(t, b, exp.effect)).tolist()
    else:
        result.effects = list(values[claim.treatment])
    if claim.mechanism is not None:
        m = claim.mechanism
        result.mechanism = {
            "diagnostic": m.diagnostic,
            "relation": m.relation,
            "threshold": m.threshold,
            "means": {arm: float(np.mean(v)) for arm, v in diagnostics.items()},
        }
    checked, on = (values, metric) if claim.control_metric is None else (control_values, None)
    if on is None:
        on = registry.get_metrics(claim.experiment).METRICS[claim.control_metric]
    for control in claim.negative_controls:
        gap = stats.control_gap(
            checked[claim.treatment],
            checked[control],
            exp.effect if exp.effect != "value" and claim.control_metric is None else "difference",
            on.resolution,
            on.higher_is_better,
        )
        result.control_gaps[control] = {"mean": gap.summary.mean, "lo": gap.summary.lo, "passes": gap.passed}
    write_json(out / f"pilot-{claim.id}-{scale}.json", result.as_dict())
    return result


def render(result: PilotResult) -> str:
    """A plain-text report of one pilot."""
    d = result.as_dict()
    lines = [
        f"pilot of {result.claim_id} at {result.scale}, seeds {', '.join(map(str, result.seeds))}",
        f"metric {result.metric}: per seed (mean ± sd)",
    ]
    for arm, v in result.values.items():
        sd = np.std(v, ddof=1) if len(v) > 1 else math.nan
        wall = np.mean(result.wall_s[arm])
        lines.append(
            f"  {arm:<28} {np.mean(v):10.4g} ± {sd:.3g}   [{', '.join(f'{x:.4g}' for x in v)}]  {wall:.1f} s/run"
        )
    sd = d["effect_sd"]
    lines.append(
        f"effect ({result.effect}, treatment vs baseline, better = positive): mean {d['effect_mean']:.4g}, sd {sd:.4g}"
        if sd is not None
        else "effect: fewer than two seeds"
    )
    mde = d["mde_at_declared_seeds"]
    if mde is not None:
        need = d["seeds_for_margin"]
        lines.append(
            f"power 0.8, one-sided α 0.05: MDE {mde:.4g} at the declared {result.declared_seeds} seeds "
            f"against margin {result.margin:g}; seeds to detect the margin: {need if need else 'more than 10,000'}"
        )
        if result.family_size > 1:
            at_family = d["seeds_for_margin_at_family_alpha"]
            lines.append(
                f"  at α/m = 0.05/{result.family_size} (Holm over the paper's {result.family_size} reproduction claims "
                f"at this scale asks no more of one claim): {at_family if at_family else 'more than 10,000'} seeds"
            )
        lines.append(
            f"  the claim's scale may record this pilot (repro claims check then holds its seeds to the margin): "
            f"power: {{sd: {sd:.4g}, pilot_seeds: [{', '.join(map(str, result.seeds))}]}}"
        )
    if result.mechanism:
        m = result.mechanism
        means = ", ".join(f"{arm} {v:.4g}" for arm, v in m["means"].items())
        lines.append(f"mechanism {m['diagnostic']} ({m['relation']} {m['threshold']:g}): {means}")
    for control, gap in result.control_gaps.items():
        lines.append(
            f"negative control {control}: gap {gap['mean']:.4g}, lower bound {gap['lo']:.4g} "
            f"({'clears' if gap['passes'] else 'does not clear'} the metric's resolution)"
        )
    lines.append(
        f"training cost at {result.declared_seeds} seeds: {d['core_seconds_at_declared_seeds']:.0f} core-seconds "
        "(prerequisite runs not counted)"
    )
    return "\n".join(lines)
