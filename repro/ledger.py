"""Preregistration ledger: each claim's decision rule per scale, fingerprinted before its evidence is read.

The ledger is ``<claims>/ledger.jsonl``, committed beside the claims, append-only, one JSON event a line:

- ``registered``: a claim's rule at a scale (its fingerprint and the rule itself), written when the rule is first
  decided on — by ``repro preregister`` or by the workflow's start for claims not yet in the ledger; a rule edited
  before any evidence existed under it is registered again the same way (``supersedes`` names the old one);
- ``evidence``: a verdict was decided under a registered fingerprint (written once, when the workflow ends);
- ``reregistered``: an explicit ``repro preregister --claim ID --reason TEXT`` after evidence existed under the
  previous rule: the design changed after its data were seen, said so, with the reason and the previous rule.

A rule that differs from its registered rule while evidence under the registered one exists is *changed after
evidence*: the card, ``repro status``, the summary table and MLflow say so and show both rules, and
``repro status --fail-on rule_changed`` fails, until someone re-registers it explicitly (which leaves the trace
above). What counts as the rule: everything that decides the verdict (metric, arms and their parameters,
treatment, baseline, controls and the metric they are checked on, mechanism check, seeds, expectation, …), not
the prose (statement, hypothesis, notes).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER_NAME = "ledger.jsonl"
EVENTS = ("registered", "evidence", "reregistered")


class LedgerError(ValueError):
    """The ledger file cannot be read (names the file, the line and the reason)."""


def ledger_path(claims_dir: Path) -> Path:
    return Path(claims_dir) / LEDGER_NAME


def rule_of(claim, scale: str) -> dict[str, Any]:
    """The decision rule of ``claim`` at ``scale``: the fields that decide its verdict, as plain JSON data."""
    data = claim.model_dump(mode="json", exclude_none=False)
    common = {"kind": data["kind"]}
    if data["kind"] == "reproduction":
        spec = data["scales"][scale]
        spec = {k: spec[k] for k in ("seeds", "params", "expectation", "requires", "not_run")}
        keys = ("experiment", "metric", "arms", "treatment", "baseline", "negative_controls", "mechanism")
        rule = {**common, **{k: data[k] for k in keys}, "scale": spec}
        if data.get("control_metric") is not None:  # only when set: rules registered before the field keep theirs
            rule["control_metric"] = data["control_metric"]
        return rule
    if data["kind"] == "property":
        spec = data["scales"][scale]
        spec = {k: spec[k] for k in ("instances", "tolerance", "params", "seeds", "requires", "not_run")}
        return {**common, "check": data["check"], "runs": data["runs"], "scale": spec}
    if data["kind"] == "derivation":
        return {**common, "inputs": data["inputs"], "formula": data["formula"], "reported": data["reported"]}
    return {**common, "quote": data["quote"], "paper": data["paper"]["arxiv"], "testable": data["testable"]}


def fingerprint(rule: dict[str, Any]) -> str:
    canonical = json.dumps(rule, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """All events, in order; an empty list when the ledger does not exist yet."""
    path = Path(path)
    if not path.is_file():
        return []
    events = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LedgerError(f"{path}:{number}: not a JSON object ({exc.msg})") from None
        missing = {"event", "claim", "scale", "fingerprint"} - set(event) if isinstance(event, dict) else {"event"}
        if missing or event["event"] not in EVENTS:
            raise LedgerError(f"{path}:{number}: needs event ({'/'.join(EVENTS)}), claim, scale and fingerprint")
        events.append(event)
    return events


def append_events(path: Path, events: list[dict[str, Any]]) -> None:
    """Append events under an exclusive lock, each a whole line, flushed to disk (the ledger is append-only)."""
    if not events:
        return
    path = Path(path)
    payload = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RuleStatus:
    """Where a claim's current rule at one scale stands against the ledger.

    state: ``unregistered`` (no registration, or one superseded before any evidence: the workflow registers it),
    ``registered`` (the current rule is the registered one), ``changed_after_evidence`` (the current rule differs
    from a registered rule that evidence was produced under) or ``reregistered`` (explicitly re-registered after
    evidence; ``previous`` is the rule the earlier evidence was produced under).
    """

    state: str
    fingerprint: str
    registration: dict[str, Any] | None
    previous: dict[str, Any] | None

    @property
    def changed_after_evidence(self) -> bool:
        return self.state == "changed_after_evidence"

    def flag(self) -> str:
        """What, of this status, changes a verdict: '' unless the rule changed after evidence or was re-registered.
        (The workflow reruns a verdict when this changes: registering a new claim changes nothing.)"""
        if self.state == "changed_after_evidence":
            return f"changed:{self.previous['fingerprint']}->{self.fingerprint}"
        if self.state == "reregistered":
            return f"reregistered:{self.previous['fingerprint']}->{self.fingerprint}"
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "fingerprint": self.fingerprint,
            "registered_at": self.registration["at"] if self.registration else None,
            "reason": self.registration.get("reason") if self.registration else None,
            "previous": self.previous,
        }


def _has_evidence(events: list[dict], claim_id: str, scale: str, fp: str) -> bool:
    return any(
        e["event"] == "evidence" and e["claim"] == claim_id and e["scale"] == scale and e["fingerprint"] == fp
        for e in events
    )


def rule_status(events: list[dict], claim_id: str, scale: str, rule: dict[str, Any]) -> RuleStatus:
    fp = fingerprint(rule)
    mine = [e for e in events if e["claim"] == claim_id and e["scale"] == scale and e["event"] != "evidence"]
    if not mine:
        return RuleStatus("unregistered", fp, None, None)
    current = mine[-1]
    if current["fingerprint"] == fp:
        if current["event"] == "reregistered":
            return RuleStatus("reregistered", fp, current, current["previous"])
        return RuleStatus("registered", fp, current, None)
    if _has_evidence(events, claim_id, scale, current["fingerprint"]):
        previous = {k: current[k] for k in ("fingerprint", "rule", "at")}
        return RuleStatus("changed_after_evidence", fp, current, previous)
    return RuleStatus("unregistered", fp, None, None)


def register_missing(path: Path, claims: list, scales: tuple[str, ...], by: str) -> list[dict[str, Any]]:
    """Register every (claim, scale) whose rule is not in the ledger (or was edited before any evidence existed).
    Rules changed after evidence are left alone: re-registering those is explicit. Returns the events written."""
    events = read_ledger(path)
    new = []
    for claim in claims:
        for scale in scales:
            rule = rule_of(claim, scale)
            status = rule_status(events, claim.id, scale, rule)
            if status.state != "unregistered":
                continue
            mine = [e for e in events if e["claim"] == claim.id and e["scale"] == scale and e["event"] != "evidence"]
            event = {
                "event": "registered",
                "claim": claim.id,
                "scale": scale,
                "fingerprint": status.fingerprint,
                "rule": rule,
                "at": _now(),
                "by": by,
            }
            if mine:
                event["supersedes"] = mine[-1]["fingerprint"]
            new.append(event)
    append_events(path, new)
    return new


def reregister(path: Path, claim, scale: str, reason: str) -> dict[str, Any]:
    """Explicitly register a rule that changed after evidence existed under its previous one, with the reason."""
    if not reason.strip():
        raise LedgerError("re-registering a rule after its evidence was seen needs a reason")
    events = read_ledger(path)
    rule = rule_of(claim, scale)
    status = rule_status(events, claim.id, scale, rule)
    if status.state != "changed_after_evidence":
        raise LedgerError(f"{claim.id} [{scale}]: the rule is {status.state.replace('_', ' ')}; nothing to re-register")
    event = {
        "event": "reregistered",
        "claim": claim.id,
        "scale": scale,
        "fingerprint": status.fingerprint,
        "rule": rule,
        "previous": status.previous,
        "reason": reason.strip(),
        "at": _now(),
        "by": "repro preregister",
    }
    append_events(path, [event])
    return event


def record_evidence(path: Path, decided: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Record that verdicts were decided under these (claim, scale, fingerprint) rules, once each."""
    events = read_ledger(path)
    new, seen = [], set()
    for claim_id, scale, fp in decided:
        if (claim_id, scale, fp) in seen or _has_evidence(events, claim_id, scale, fp):
            continue
        seen.add((claim_id, scale, fp))
        new.append({"event": "evidence", "claim": claim_id, "scale": scale, "fingerprint": fp, "at": _now()})
    append_events(path, new)
    return new


def rule_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, registered value, current value) for every leaf that differs between two rules."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(rule_diff(a, b, name + "."))
        elif a != b:
            out.append((name, a, b))
    return out
