"""Claim-file problems, and the checks of a claim that need more than its own file.

A problem is a :class:`ClaimIssue` naming the file, the line, the field and the reason; pydantic's errors are
turned into issues here (with the valid keys where a key is unknown), and :func:`registry_issues` checks a
claim against the experiment and property registries: its experiment, metric and mechanism diagnostic, its
property check, which scales can run, and every arm's parameters resolved at every scale.
"""

from __future__ import annotations

import difflib
import math
import types
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from repro.claims_schema import KINDS, SCALES, DerivationClaim, PropertyClaim, ReproductionClaim
from repro.yamlio import line_of


@dataclass(frozen=True)
class ClaimIssue:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '<file>'}: {self.reason}"


class ClaimError(ValueError):
    """One or more claim files are invalid. ``issues`` lists every problem found."""

    def __init__(self, issues: list[ClaimIssue]):
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{len(issues)} problem(s) in claim files:\n{lines}")


@dataclass
class FileIssues:
    """The problems found in one claim file (``node``: its YAML root, for line numbers), in the order found."""

    file: str
    node: Any
    issues: list[ClaimIssue] = field(default_factory=list)

    def add(self, loc: tuple, reason: str) -> None:
        self.issues.append(ClaimIssue(self.file, line_of(self.node, loc), ".".join(map(str, loc)), reason))


def pydantic_issues(
    file: str, root, exc: ValidationError, model: type[BaseModel] | None, prefix: tuple = ()
) -> list[ClaimIssue]:
    """One issue per pydantic error; ``model``, the model validated at ``prefix`` (None: an unknown claim kind),
    gives the valid keys where a key is unknown."""
    issues = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # Drop the discriminator tag pydantic inserts for tagged unions.
        if loc and loc[0] in KINDS:
            loc = loc[1:]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = _unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
        elif "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        full = tuple(prefix) + loc
        issues.append(ClaimIssue(file, line_of(root, full), ".".join(str(p) for p in full), msg))
    return issues


def _unknown_key(key: str, known: list[str]) -> str:
    if not known:
        return "unknown key (not part of the schema)"
    close = difflib.get_close_matches(key, known, n=1)
    hint = f": did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (valid here: {', '.join(sorted(known))})"


def _keys_at(model: type[BaseModel] | None, path: tuple) -> list[str]:
    """The field names of the pydantic model found at ``path`` inside ``model`` (through optional fields, mappings
    and lists); empty when the path leads to no model."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = info.annotation if info is not None else None
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


# ---------------------------------------------------------------- checks against the registries


def registry_issues(claim, found: FileIssues) -> None:
    """Checks that need the experiment / property registries (and, for a derivation, the formula parser)."""
    if isinstance(claim, ReproductionClaim):
        _reproduction_issues(claim, found)
    elif isinstance(claim, PropertyClaim):
        _property_issues(claim, found)
    elif isinstance(claim, DerivationClaim):
        _formula_issues(claim, found)


def _reproduction_issues(claim: ReproductionClaim, found: FileIssues) -> None:
    """The experiment, its metric and mechanism diagnostic, which scales can run, and the arms' parameters."""
    from repro import registry

    family = _registered(registry.get_experiment, claim.experiment, found, ("experiment",))
    if family is None:
        return
    metrics = registry.get_metrics(claim.experiment).METRICS
    _mechanism_issues(claim, registry.mechanism_diagnostics(claim.experiment), found)
    if claim.metric not in metrics:
        found.add(("metric",), f"{claim.metric!r} is not a metric of {claim.experiment} (has: {', '.join(metrics)})")
    if claim.control_metric is not None and claim.control_metric not in metrics:
        found.add(
            ("control_metric",),
            f"{claim.control_metric!r} is not a metric of {claim.experiment} (has: {', '.join(metrics)})",
        )
    param_issues = []
    for scale in SCALES:
        spec = getattr(claim.scales, scale)
        if spec.not_run is None and not registry.is_runnable(family):
            found.add(
                ("scales", scale, "not_run"),
                f"experiment {claim.experiment} cannot run ({family.NOT_IMPLEMENTED}); "
                "mark this scale not_run with a reason",
            )
        param_issues += _arms_params_issues(family, claim.arms, scale, spec.params, ("arms",), found)
        problem = power_issue(spec)
        if problem is not None:
            found.add(("scales", scale, "seeds"), problem)
    found.issues.extend(_merge_scales(param_issues))


def power_issue(spec) -> str | None:
    """Why a reproduction scale's seeds cannot detect its margin at 80 % power given its pilot's sd (``power``), or
    None: the minimum detectable effect of a one-sided paired t-test at the expectation's α,
    (t(1 − α, n − 1) + t(0.8, n − 1))·sd/√n (what :func:`repro.stats.minimum_detectable_effect`, ``repro pilot``
    and the verdict's power gate compute), must not exceed the margin. Scales without a pilot, or not run, pass."""
    if spec.power is None or spec.not_run is not None or spec.seeds is None or spec.expectation is None:
        return None
    sd, margin, alpha = spec.power.sd, spec.expectation.margin, spec.expectation.alpha
    mde = _mde(sd, spec.seeds, alpha)
    if mde <= margin * (1 + 1e-9):
        return None
    from repro import stats  # scipy, on the error path only

    needed = stats.seeds_needed(sd, margin, alpha)
    fix = f"declare {needed} seeds" if needed is not None else "declare more seeds"
    return (
        f"{spec.seeds} seeds detect {mde:.4g} at 80% power given the pilot's sd {sd:g} (power.sd), more than the "
        f"margin {margin:g}: {fix}, or the margin {spec.seeds} seeds detect ({mde:.4g}) with the reason"
    )


def _mde(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    return (t_quantile(1 - alpha, n - 1) + t_quantile(power, n - 1)) * sd / math.sqrt(n)


def t_quantile(q: float, df: int) -> float:
    """Student's t quantile for 0.5 ≤ q < 1 and an integer df ≥ 1, without scipy (planning loads every claim and
    would otherwise import scipy.stats, 0.5 s, for this check alone): bisection on the exact CDF of an integer df,
    1/2 + A(t | df)/2 with Abramowitz & Stegun 26.7.3–4. Equal to ``scipy.stats.t.ppf`` within 1e-12 relative
    (``tests/test_claims.py``)."""
    if not (0.5 <= q < 1) or df < 1:
        raise ValueError(f"t_quantile needs 0.5 <= q < 1 and df >= 1, got q={q}, df={df}")
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _t_cdf(mid, df) < q else (lo, mid)
    return hi


def _t_cdf(t: float, df: int) -> float:
    """P(T ≤ t) for t ≥ 0 and an integer df (Abramowitz & Stegun 26.7.3 for odd df, 26.7.4 for even)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    total, term = 0.0, (1.0 if df % 2 == 0 else math.cos(theta))
    for k in range(df % 2, df - 1, 2):  # the powers cos^k θ, k = 0 or 1, …, df − 2
        total += term
        term *= c2 * (k + 1) / (k + 2)
    a = s * total if df % 2 == 0 else 2 / math.pi * (theta + s * total)
    return 0.5 + a / 2


def _registered(get, name: str, found: FileIssues, loc: tuple):
    """``get(name)`` from the registry; None, with the registry's reason recorded at ``loc``, when it has no such
    entry."""
    from repro import registry

    try:
        return get(name)
    except registry.RegistryError as exc:
        found.add(loc, str(exc))
        return None


def _mechanism_issues(claim: ReproductionClaim, diagnostics, found: FileIssues) -> None:
    """A family with mechanism diagnostics needs a mechanism check, and the check must name one of them."""
    if claim.mechanism is None and diagnostics:
        found.add(
            ("mechanism",),
            f"experiment {claim.experiment} declares mechanism diagnostics ({', '.join(diagnostics)}): "
            "name the one that shows the treatment's mechanism engaged, with relation, threshold and source",
        )
    elif claim.mechanism is not None and claim.mechanism.diagnostic not in diagnostics:
        known = ", ".join(diagnostics) if diagnostics else "none"
        found.add(
            ("mechanism", "diagnostic"),
            f"{claim.mechanism.diagnostic!r} is not a mechanism diagnostic of {claim.experiment} (has: {known})",
        )


def _property_issues(claim: PropertyClaim, found: FileIssues) -> None:
    """The property check, whether it takes runs, its parameters and, for runs, their seeds and arms' parameters."""
    from repro import registry

    check = _registered(registry.get_property, claim.check, found, ("check",))
    if check is None:
        return
    if check.needs_runs and claim.runs is None:
        found.add(("runs",), f"property check {claim.check} is checked on real runs; declare runs:")
    if not check.needs_runs and claim.runs is not None:
        found.add(("runs",), f"property check {claim.check} does not take runs")
    if claim.runs is not None:
        family = _registered(registry.get_experiment, claim.runs.experiment, found, ("runs", "experiment"))
        if family is None:
            return
    param_issues = []
    for scale in SCALES:
        spec = getattr(claim.scales, scale)
        if spec.not_run is not None:
            continue
        param_issues += _params_issues(check.params, spec.params, found, ("scales", scale, "params"), scale)
        if claim.runs is not None:
            if spec.seeds is None:
                found.add(("scales", scale, "seeds"), "a property of runs needs seeds at every scale that runs")
            param_issues += _arms_params_issues(family, claim.runs.arms, scale, {}, ("runs", "arms"), found)
    found.issues.extend(_merge_scales(param_issues))


def _formula_issues(claim: DerivationClaim, found: FileIssues) -> None:
    """The formula parses and uses exactly the declared inputs."""
    from repro.formulas import FormulaError, parse_formula

    try:
        names = parse_formula(claim.formula)
    except FormulaError as exc:
        found.add(("formula",), str(exc))
        return
    unknown = sorted(names - set(claim.inputs))
    if unknown:
        found.add(("formula",), f"uses names not in inputs: {', '.join(unknown)}")
    unused = sorted(set(claim.inputs) - names)
    if unused:
        found.add(("inputs",), f"inputs not used by the formula: {', '.join(unused)}")


# ---------------------------------------------------------------- parameters


def _arms_params_issues(
    family, arms: dict[str, dict], scale: str, overrides: dict, at: tuple, found: FileIssues
) -> list[tuple[ClaimIssue, str]]:
    """Problems of each arm's parameters resolved at ``scale``: the family's defaults for the scale, then the arm's
    own, then ``overrides``, against the family's ``Params``."""
    issues = []
    for arm, arm_params in arms.items():
        resolved = {**family.SCALES[scale], **arm_params, **overrides}
        issues += _params_issues(family.Params, resolved, found, (*at, arm), scale)
    return issues


_VALID_PARAMS: set[tuple[type, str]] = set()
"""(model, repr of resolved params) that validated: claims sharing arms (a paper's claims, most of a large claim set)
validate each distinct arm once. Only successes are kept; a failure is validated again to name its file and line."""


def _params_issues(model, params: dict, found: FileIssues, loc: tuple, scale: str) -> list[tuple[ClaimIssue, str]]:
    """Problems of ``params`` resolved at ``scale`` against the family's ``Params`` (``model``), each with its scale."""
    key = (model, repr(params))  # repr keeps types apart (1, 1.0, True, "1") and nested order as parsed
    if key in _VALID_PARAMS:
        return []
    try:
        model.model_validate(params)
    except ValidationError as exc:
        return [(issue, scale) for issue in pydantic_issues(found.file, found.node, exc, model, prefix=loc)]
    if len(_VALID_PARAMS) < 100_000:
        _VALID_PARAMS.add(key)
    return []


def _merge_scales(found: list[tuple[ClaimIssue, str]]) -> list[ClaimIssue]:
    """One issue per problem, naming every scale it appears at (an arm's own mistake shows at all three)."""
    scales: dict[ClaimIssue, list[str]] = {}
    for issue, scale in found:
        scales.setdefault(issue, []).append(scale)
    return [
        replace(issue, reason=f"{issue.reason} [resolved at scale{'s' if len(at) > 1 else ''} {', '.join(at)}]")
        for issue, at in scales.items()
    ]
