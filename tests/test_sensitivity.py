"""The negative-control gate with ``sensitivity: any_arm`` (repro.verdict.sensitivity_gaps), by hand."""

import numpy as np

from repro.verdict import sensitivity_gaps

CONTROL = np.array([40.0, 41.0, 40.5, 39.5, 40.0])
VALUES = {
    "inert": CONTROL + np.array([0.2, -0.3, 0.1, 0.4, -0.1]),  # a treatment that stays at the control's level
    "learner": CONTROL + np.array([6.0, 5.5, 7.0, 6.5, 6.2]),  # a baseline that clearly beats it
    "noise": CONTROL + np.array([3.0, -3.0, 2.0, -2.0, 0.5]),
    "control": CONTROL,
}


def _gate(values, treatment, any_arm):
    return sensitivity_gaps(values, treatment, ["control"], "difference", 1.0, True, 0.05, any_arm=any_arm)[0]


def test_default_gate_reads_the_treatment_only():
    assert _gate(VALUES, "learner", any_arm=False)["passed"]
    assert not _gate(VALUES, "inert", any_arm=False)["passed"]


def test_any_arm_passes_when_another_arm_clears_the_control():
    gate = _gate(VALUES, "inert", any_arm=True)
    assert gate["passed"] and gate["passed_by"] == "learner"
    assert gate["mean"] < 1.0 and gate["reference"]["lo"] > 1.0  # the treatment's own gap is still reported
    # no arm clears the control: still insensitive
    alone = {k: VALUES[k] for k in ("inert", "noise", "control")}
    assert not _gate(alone, "inert", any_arm=True)["passed"]
