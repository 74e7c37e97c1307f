"""benchmarks/gpu_check.py runs end to end on a CPU with its tiny override, so that on a GPU it works the first
time: a GRPO step with every phase timed and its FLOPs counted, and one family's runs scored by the workflow's
harness, all in one JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "gpu_check.json"
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--scale", "ci", "--families", "mallows_bandit", "--jobs", "2"]
    cmd += ["--out", str(out), "--workdir", str(tmp_path / "work"), *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.is_file(), proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def test_tiny_check_runs_end_to_end_on_cpu(tmp_path):
    proc, report = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    grpo = report["grpo_step"]
    assert grpo["status"] == "ok"
    assert grpo["device"] != "" and grpo["parameters"] > grpo["matmul_parameters"] > 0
    timed = [s for s in grpo["steps"] if not s["warmup"]]
    assert len(timed) == 2
    batch = grpo["batch"]
    for step in timed:
        # the phases are the step, measured piecewise: together no more than the step and most of it (the slack
        # allows a preemption in the untimed lines, a tiny step being tens of milliseconds on a shared CPU)
        untimed = step["seconds"] - sum(step["phases_s"].values())
        assert 0 <= untimed < max(0.5 * step["seconds"], 0.25)
        assert 0 < step["generated_tokens"] <= batch["sequences"] * batch["max_new_tokens"]
        assert step["groups_with_reward_spread"] > 0  # the loss has a gradient to take
        assert step["grad_norm"] > 0
        assert step["phase_flops"]["backward"] == 2 * step["phase_flops"]["policy_forward_and_loss"]
    assert grpo["rollout_tokens_per_s"] > 0 and grpo["decode_floor_tokens_per_s"] > 0
    # the floor is the decoder the sampler runs on: the lean forward, which supports the tiny Qwen3 (bf16 autocast)
    assert grpo["decode_floor"] == "lean" and grpo["transformers_decode_tokens_per_s"] > 0
    # Utilisation is a ratio of timings: on a GPU the step's is below the training phase's (decoding is memory-bound),
    # on a shared CPU either may be higher, so only its range and its arithmetic are checked here.
    assert 0 < grpo["mfu_step_vs_measured"] < 1.5 and 0 < grpo["mfu_training_phase_vs_measured"] < 1.5
    assert grpo["mfu_step_vs_measured"] == pytest.approx(grpo["model_tflops_per_s"] / grpo["measured_matmul_tflops"])

    runs = report["runs"]
    assert runs["status"] == "ok" and runs["seed"] == 1000
    assert runs["by_status"] == {"completed": 4}
    for run in runs["runs"]:
        assert run["experiment"] == "mallows_bandit" and run["seed"] == 1000
        assert run["used_by"] and all(u.startswith("mallowspo-bandit-enhances-dpo:") for u in run["used_by"])
        assert "utility_at_kl_budget" in run["metrics"]  # the claim's metric, from the workflow's harness
    assert not (tmp_path / "results").exists()  # the runs stay in the work folder


def test_budget_exhausted_is_reported_not_dropped(tmp_path):
    proc, report = _run(tmp_path, "--parts", "runs", "--budget-s", "0")
    assert proc.returncode == 1
    statuses = {run["status"] for run in report["runs"]["runs"]}
    assert statuses <= {"timed_out", "skipped"} and statuses
    assert sum(report["runs"]["by_status"].values()) == 4
    assert "grpo_step" not in report


def test_runs_are_pilot_seeds_unless_decisive_is_asked():
    check = _load()
    pilot, _, _ = check.family_runs("ci", 1000, {"mallows_bandit"})
    assert {spec.seed for spec in pilot.values()} == {1000}
    decisive, users, not_run = check.family_runs("ci", None, {"mallows_bandit"})
    assert {spec.seed for spec in decisive.values()} == set(range(10))
    assert len(decisive) == 10 * len(pilot)
    assert "mallowspo-lc-winrate-llama3" in not_run
    assert all(all(":" in user for user in names) for names in users.values())
