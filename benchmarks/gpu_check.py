"""The GPU check: one script that, on a machine with a CUDA GPU, within about 8 minutes,

1. times a GRPO training step of the full Qwen3-1.7B architecture (random init from its published config, no
   download) with repro's own pieces (``repro.methods.sampling`` rollouts with a KV cache, ``repro.methods.grpo``
   advantages and loss, reference log-probabilities, gradient clipping, AdamW): forward passes in bf16 under
   autocast over fp32 master weights, as the gdro_rlvr family's full scale runs (``policy.forward_precision``).
   It reports each phase's time (sampling, reference log-probs, policy forward and loss, backward, optimiser),
   rollout and training tokens per second, peak GPU memory, and model FLOPs utilisation against the bf16
   matrix-product rate measured in the same process (and against the datasheet's dense bf16 peak);
2. runs every family's ``reduced`` scale for one seed per arm (a pilot seed, 1000 by default: never a decisive
   seed), prerequisites first, as many runs at once as there are cores, each through ``python -m repro run-arm``
   as the workflow runs it, then scores each run with the workflow's harness (pandera-checked tables);
3. writes one JSON with both parts, the environment, and every failure's message (a part that fails is
   recorded as failed, never dropped: the JSON is rewritten after each part).

Nothing here decides a verdict and nothing is written under ``results/``: the runs live in ``--workdir``.

    python benchmarks/gpu_check.py --out gpu_check.json                       # on the GPU machine
    python benchmarks/gpu_check.py --tiny --scale ci --families mallows_bandit  # end to end on a CPU (tested)

``--tiny`` swaps the 1.7B architecture for a two-layer one and shortens the sequences; ``--scale`` and
``--families`` choose the runs of part 2. ``--budget-s`` bounds part 2's wall time: runs still going at the
deadline are stopped and reported as ``timed_out``, and runs waiting on them as ``skipped``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # decode_floor.py

DATASHEET_BF16_DENSE_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}
"""Dense (no sparsity) bf16 tensor-core peaks of the SXM parts, from the vendors' datasheets."""

QWEN3_1_7B = {
    # Qwen/Qwen3-1.7B-Base config.json: 1.72 B parameters, 1.41 B of them outside the (tied) embedding.
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}


class TeacherForcing(NamedTuple):
    micro_batch: int
    train_temperature: float


# ----------------------------------------------------------------------------------------------------------------
# Part 1: a GRPO step of the Qwen3-1.7B architecture


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_tflops(device, size: int) -> float:
    """bf16 matrix-product rate of this device (TFLOP/s): mean of 10 products of random ``size``² matrices after
    3 warm-ups. The ceiling MFU is reported against, measured rather than assumed."""
    import torch

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    _sync(device)
    return 10 * 2 * size**3 / (time.perf_counter() - start) / 1e12


def matmul_params(model) -> int:
    """Weights that enter a matrix product per token: every Linear of the decoder and the LM head (tied to the
    embedding here, so the embedding's lookup, which is no product, is not counted again)."""
    import torch

    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def forward_flops(n_matmul: int, cfg: dict, tokens: int, context: float) -> float:
    """Model FLOPs of a forward pass over ``tokens`` tokens that each attend to ``context`` positions:
    2·N per token for the products with weights, and 4·layers·heads·head_dim·context for QKᵀ and AV (the PaLM
    convention, Chowdhery et al. 2022, App. B; training is 3× this)."""
    attn = 4 * cfg["num_hidden_layers"] * cfg["num_attention_heads"] * cfg["head_dim"] * context
    return tokens * (2 * n_matmul + attn)


def grpo_step_check(args, log) -> dict[str, Any]:
    import torch
    from decode_floor import floor_decoders
    from transformers import AutoModelForCausalLM, Qwen3Config

    from repro.families.gdro_rlvr.policy import teacher_forced
    from repro.methods.grpo import group_advantages, grpo_loss
    from repro.methods.sampling import sample, token_logprobs

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = dict(TINY if args.tiny else QWEN3_1_7B)
    prompts, generations = args.prompts, args.generations
    prompt_len, new_tokens, micro = args.prompt_len, args.new_tokens, args.micro_batch
    batch = prompts * generations
    eos = cfg["vocab_size"] - 1
    torch.manual_seed(0)
    log(f"GRPO step: building the {'tiny' if args.tiny else 'Qwen3-1.7B'} architecture on {device}")
    config = Qwen3Config(**cfg, bos_token_id=eos, eos_token_id=eos, pad_token_id=0)
    with torch.device(device):
        policy = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        reference = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval().requires_grad_(False)
    reference.load_state_dict(policy.state_dict())
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-6, weight_decay=0.0, fused=fused)
    n_params = sum(p.numel() for p in policy.parameters())
    n_matmul = matmul_params(policy)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    generator = torch.Generator(device=device).manual_seed(0)
    # Prompts: random tokens, each left-padded by a random amount (as the sampler expects), never EOS.
    prompt_ids = torch.randint(1, eos, (prompts, prompt_len), generator=generator, device=device)
    pads = torch.randint(0, prompt_len // 4 + 1, (prompts,), generator=generator, device=device)
    prompt_mask = (torch.arange(prompt_len, device=device)[None, :] >= pads[:, None]).long()
    prompt_ids = torch.where(prompt_mask.bool(), prompt_ids, 0)
    ids = prompt_ids.repeat_interleave(generations, dim=0)
    mask = prompt_mask.repeat_interleave(generations, dim=0)

    steps = []
    for step in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        phase: dict[str, float] = {}
        _sync(device)
        t0 = time.perf_counter()
        policy.eval()
        with autocast:
            rollouts = sample(policy, ids, mask, max_new_tokens=new_tokens, eos_id=eos, pad_id=0, generator=generator)
        _sync(device)
        phase["sampling"] = time.perf_counter() - t0
        completion, cmask = rollouts.completion_ids, rollouts.completion_mask
        # A verifiable-looking reward with spread inside every group: the parity of the completion's token sum.
        rewards = torch.where((completion * cmask).sum(dim=1) % 2 == 0, 1.0, -1.0).view(prompts, generations)
        advantages = group_advantages(rewards.float(), std="population").reshape(-1)

        t = time.perf_counter()
        with torch.no_grad(), autocast:
            # the family's own micro-batched teacher forcing (its Params supply micro_batch and temperature)
            ref = teacher_forced(reference, ids, mask, completion, cmask, TeacherForcing(micro, 1.0))
        _sync(device)
        phase["reference_logprobs"] = time.perf_counter() - t

        policy.train()
        optimizer.zero_grad(set_to_none=True)
        forward_s = backward_s = 0.0
        loss_total = 0.0
        for s in range(0, batch, micro):
            sl = slice(s, s + micro)
            t = time.perf_counter()
            with autocast:
                logp = token_logprobs(policy, ids[sl], mask[sl], completion[sl], cmask[sl])
                loss, _ = grpo_loss(logp, rollouts.logprobs[sl], ref[sl], advantages[sl], cmask[sl], beta_kl=0.001)
                loss = loss * (min(micro, batch - s) / batch)
            _sync(device)
            forward_s += time.perf_counter() - t
            t = time.perf_counter()
            loss.backward()
            _sync(device)
            backward_s += time.perf_counter() - t
            loss_total += float(loss.detach())
        phase["policy_forward_and_loss"] = forward_s
        phase["backward"] = backward_s
        t = time.perf_counter()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0))
        optimizer.step()
        _sync(device)
        phase["clip_and_optimiser"] = time.perf_counter() - t
        total = time.perf_counter() - t0

        generated = int(cmask.sum())
        width = completion.shape[1]
        seq = prompt_len + width
        decode_context = prompt_len + (width + 1) / 2  # mean context of a decode step, padding counted as computed
        flops = {
            "sampling": forward_flops(n_matmul, cfg, batch * prompt_len, prompt_len)
            + forward_flops(n_matmul, cfg, batch * width, decode_context),
            "reference_logprobs": forward_flops(n_matmul, cfg, batch * seq, seq),
            "policy_forward_and_loss": forward_flops(n_matmul, cfg, batch * seq, seq),
            "backward": 2 * forward_flops(n_matmul, cfg, batch * seq, seq),
        }
        record = {
            "step": step,
            "warmup": step < args.warmup,
            "seconds": total,
            "phases_s": phase,
            "generated_tokens": generated,
            "completion_width": width,
            "sequences_ended_by_eos": int((completion == eos).any(dim=1).sum()),
            "reward_std": float(rewards.std()),
            "groups_with_reward_spread": int((rewards.std(dim=1) > 0).sum()),
            "loss": loss_total,
            "grad_norm": grad_norm,
            "model_flops": sum(flops.values()),
            "phase_flops": flops,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        }
        steps.append(record)
        log(f"  step {step}: {total:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in phase.items())})")

    # The floor of the sampling loop: the same decode steps as greedy decoding through sampling's own decoders
    # (benchmarks/decode_floor.py), at the same batch and length: the lean forward the sampler runs on (where it
    # supports the model), and transformers' own forward beside it. Each is warmed up once, then timed once.
    policy.eval()
    floor_s = {}
    with torch.no_grad(), autocast:
        for name, decode in floor_decoders(policy, new_tokens).items():
            decode(ids, mask)
            _sync(device)
            t = time.perf_counter()
            decode(ids, mask)
            _sync(device)
            floor_s[name] = time.perf_counter() - t
    floor = "lean" if "lean" in floor_s else "transformers"

    peak = matmul_peak_tflops(device, 8192 if device.type == "cuda" else 512)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    datasheet = next((v for k, v in DATASHEET_BF16_DENSE_TFLOPS.items() if k in name), None)
    timed = [s for s in steps if not s["warmup"]]

    def median(values):
        values = sorted(values)
        return (
            values[len(values) // 2]
            if len(values) % 2
            else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
        )

    step_s = median([s["seconds"] for s in timed])
    phase_s = {k: median([s["phases_s"][k] for s in timed]) for k in timed[0]["phases_s"]}
    model_flops = median([s["model_flops"] for s in timed])
    train_tokens = batch * (prompt_len + median([s["completion_width"] for s in timed]))
    train_s = phase_s["policy_forward_and_loss"] + phase_s["backward"]
    train_flops = timed[-1]["phase_flops"]["policy_forward_and_loss"] + timed[-1]["phase_flops"]["backward"]
    result = {
        "model": "tiny Qwen3 (2 layers, hidden 64)" if args.tiny else "Qwen3-1.7B architecture, random init",
        "config": cfg,
        "parameters": n_params,
        "matmul_parameters": n_matmul,
        "precision": "fp32 master weights and AdamW state; forward passes under bf16 autocast",
        "batch": {
            "prompts": prompts,
            "generations": generations,
            "sequences": batch,
            "prompt_len": prompt_len,
            "max_new_tokens": new_tokens,
            "micro_batch": micro,
        },
        "steps": steps,
        "step_s_median": step_s,
        "phases_s_median": phase_s,
        "rollout_tokens_per_s": median([s["generated_tokens"] / s["phases_s"]["sampling"] for s in timed]),
        "decode_floor": floor,
        "decode_floor_tokens_per_s": batch * new_tokens / floor_s[floor],
        "transformers_decode_tokens_per_s": batch * new_tokens / floor_s["transformers"],
        "sampler_over_floor": median([s["phases_s"]["sampling"] for s in timed]) / floor_s[floor],
        "train_tokens_per_s": train_tokens / train_s,
        "peak_memory_gib": max((s["peak_memory_gib"] or 0.0) for s in steps) if device.type == "cuda" else None,
        "device": name,
        "measured_matmul_tflops": peak,
        "datasheet_bf16_dense_tflops": datasheet,
        "model_tflops_per_s": model_flops / step_s / 1e12,
        "mfu_step_vs_measured": model_flops / step_s / 1e12 / peak,
        "mfu_training_phase_vs_measured": train_flops / train_s / 1e12 / peak,
        "mfu_step_vs_datasheet": model_flops / step_s / 1e12 / datasheet if datasheet else None,
        "mfu_training_phase_vs_datasheet": train_flops / train_s / 1e12 / datasheet if datasheet else None,
        "flops_convention": "PaLM App. B: 2N per token forward + 4·layers·heads·head_dim·context for attention, "
        "backward 2× forward; padding positions counted (they are computed)",
    }
    del policy, reference, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


# ----------------------------------------------------------------------------------------------------------------
# Part 2: every family's runs at one scale, one seed per arm


def family_runs(scale: str, seed: int | None, families: set[str] | None):
    """({run dir: RunSpec}, {run dir: ["claim:arm", ...]}, {claim: why not run}): every run the claims' arms need
    at ``scale`` for ``seed`` (None: the scale's decisive seeds), prerequisites included, and which claim arms use
    each."""
    from repro.claims import load_claims
    from repro.plan import plan_claim

    runs: dict[Path, Any] = {}
    users: dict[Path, list[str]] = {}
    skipped: dict[str, str] = {}
    for loaded in load_claims(ROOT / "claims", ROOT):
        plan = plan_claim(loaded, scale, seeds=None if seed is None else [seed])
        if plan.not_run is not None:
            skipped[plan.id] = plan.not_run
            continue
        for arm, arm_runs in plan.arms.items():
            for run in arm_runs:
                if families is not None and run.experiment not in families:
                    continue
                users.setdefault(run.dir, []).append(f"{plan.id}:{arm}")
                for needed in run.closure():
                    runs[needed.dir] = needed
    return runs, users, skipped


def run_all(runs: dict, workdir: Path, jobs: int, threads: int, budget_s: float, log) -> dict[Path, dict]:
    """Run every spec (prerequisites first), ``jobs`` at a time, each as ``python -m repro run-arm``; stop what is
    still running at the deadline. Returns {run dir: outcome}."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pending = dict(runs)
    running: dict[Path, tuple[subprocess.Popen, float, Any]] = {}
    outcome: dict[Path, dict] = {}
    deadline = time.monotonic() + budget_s
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    while pending or running:
        for key, (proc, start, log_file) in list(running.items()):
            if proc.poll() is None:
                continue
            log_file.close()
            wall = time.monotonic() - start
            record_path = workdir / runs[key].run_json
            record = json.loads(record_path.read_text()) if record_path.is_file() else {}
            status = "completed" if proc.returncode == 0 and record.get("status") == "completed" else "failed"
            outcome[key] = {"status": status, "wall_s": wall, "returncode": proc.returncode, "record": record}
            if status == "failed":
                outcome[key]["log_tail"] = Path(log_file.name).read_text(errors="replace")[-3000:]
            log(f"  {status} {runs[key].experiment} {runs[key].arm_key} seed {runs[key].seed}: {wall:.0f} s")
            del running[key]
        if time.monotonic() > deadline:
            for key, (proc, start, log_file) in running.items():
                proc.kill()
                proc.wait()
                log_file.close()
                outcome[key] = {"status": "timed_out", "wall_s": time.monotonic() - start}
            for key in pending:
                outcome[key] = {"status": "skipped", "reason": "the check's budget ran out first"}
            break
        for key, spec in list(pending.items()):
            deps = [req.dir for req in spec.requires.values()]
            failed = [d for d in deps if d in outcome and outcome[d]["status"] != "completed"]
            if failed:
                outcome[key] = {"status": "skipped", "reason": f"prerequisite {failed[0]} did not complete"}
                del pending[key]
                continue
            if len(running) >= jobs or not all(d in outcome for d in deps):
                continue
            log_path = workdir / "logs" / f"{spec.experiment}-{spec.arm_key}-seed{spec.seed}.log"
            log_file = log_path.open("w")
            cmd = [
                sys.executable,
                "-m",
                "repro",
                "run-arm",
                "--spec",
                spec.to_json(),
                "--out",
                str(spec.run_json),
                "--threads",
                str(threads),
            ]
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            running[key] = (proc, time.monotonic(), log_file)
            del pending[key]
        time.sleep(0.2)
    return outcome


def reduced_runs_check(args, log) -> dict[str, Any]:
    from repro.files import working_directory
    from repro.metrics.scoring import compute_run_metrics

    families = set(args.families.split(",")) if args.families else None
    runs, users, not_run = family_runs(args.scale, None if args.decisive else args.seed, families)
    workdir = Path(args.workdir).resolve()
    seeds = "decisive seeds" if args.decisive else f"seed {args.seed}"
    log(f"{args.scale} runs: {len(runs)} ({seeds}), {args.jobs} at a time, in {workdir}")
    start = time.monotonic()
    outcome = run_all(runs, workdir, args.jobs, args.threads, args.budget_s, log)
    wall = time.monotonic() - start
    out_runs = []
    with working_directory(workdir):
        for key, spec in runs.items():
            o = outcome.get(key, {"status": "skipped"})
            record = o.pop("record", {}) or {}
            entry = {
                "experiment": spec.experiment,
                "arm_key": spec.arm_key,
                "seed": spec.seed,
                "used_by": users.get(key, ["(prerequisite)"]),
                **o,
                "gpu_visible": (record.get("environment") or {}).get("cuda"),
                "train_wall_s": record.get("wall_s"),
            }
            if o["status"] == "completed":
                try:
                    table, _ = compute_run_metrics(spec.run_json)
                    entry["metrics"] = {m: float(v) for m, v in zip(table["metric"], table["value"], strict=True)}
                except Exception as exc:  # a scoring failure is a result of the check: reported
                    entry["status"] = "scoring_failed"
                    entry["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
            out_runs.append(entry)
    by_status: dict[str, int] = {}
    for entry in out_runs:
        by_status[entry["status"]] = by_status.get(entry["status"], 0) + 1
    per_family: dict[str, dict] = {}
    for entry in out_runs:
        fam = per_family.setdefault(entry["experiment"], {"runs": 0, "completed": 0, "run_core_s": 0.0})
        fam["runs"] += 1
        fam["completed"] += entry["status"] == "completed"
        fam["run_core_s"] += (entry.get("wall_s") or 0.0) * args.threads
    return {
        "scale": args.scale,
        "seed": "decisive" if args.decisive else args.seed,
        "jobs": args.jobs,
        "threads_per_run": args.threads,
        "wall_s": wall,
        "by_status": by_status,
        "per_family": per_family,
        "claims_not_run": not_run,
        "runs": out_runs,
    }


# ----------------------------------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import torch
    import transformers

    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpus": os.cpu_count(),
        "commit": git.stdout.strip() or None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "gpu_check.json"))
    parser.add_argument("--tiny", action="store_true", help="a two-layer model and short sequences (CPU test)")
    parser.add_argument("--scale", default="reduced", choices=["ci", "reduced", "full"])
    parser.add_argument("--families", default="", help="comma-separated experiments to run (default: all)")
    parser.add_argument("--seed", type=int, default=1000, help="one pilot seed per arm (default 1000)")
    parser.add_argument(
        "--decisive",
        action="store_true",
        help="run the scale's decisive seeds instead (the workflow's own runs, at its paths under --workdir, for a "
        "workflow to decide from; off by default: a check never spends the decisive seeds)",
    )
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--budget-s", type=float, default=330.0, help="wall-time bound of part 2")
    parser.add_argument("--workdir", default=None, help="where part 2's runs go (default: a temporary folder)")
    parser.add_argument("--parts", default="grpo,runs")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--prompt-len", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=None)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    args.prompts = args.prompts or (2 if args.tiny else 16)
    args.prompt_len = args.prompt_len or (16 if args.tiny else 128)
    args.new_tokens = args.new_tokens or (16 if args.tiny else 256)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"environment": environment(), "argv": sys.argv[1:] if argv is None else argv}

    def log(message: str) -> None:
        print(message, flush=True)

    def save() -> None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
        tmp.replace(out)

    parts = set(args.parts.split(","))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        args.workdir = args.workdir or scratch
        for name, part in (("grpo_step", grpo_step_check), ("runs", reduced_runs_check)):
            if name.split("_")[0] not in parts:
                continue
            t = time.monotonic()
            try:
                report[name] = {"status": "ok", **part(args, log)}
            except Exception as exc:  # the JSON says which part failed and why; the next part runs
                report[name] = {"status": "failed", "error": traceback.format_exc()[-4000:]}
                log(f"{name} failed: {type(exc).__name__}: {exc}")
            report[name]["part_wall_s"] = time.monotonic() - t
            report["wall_s"] = time.monotonic() - started
            save()
    ok = all(report[p]["status"] == "ok" for p in ("grpo_step", "runs") if p in report)
    runs = report.get("runs", {})
    ok = ok and all(r["status"] == "completed" for r in runs.get("runs", []))
    summary = {
        k: report["grpo_step"][k]
        for k in (
            "step_s_median",
            "rollout_tokens_per_s",
            "train_tokens_per_s",
            "peak_memory_gib",
            "mfu_step_vs_measured",
            "mfu_training_phase_vs_measured",
        )
        if report.get("grpo_step", {}).get("status") == "ok"
    }
    log(json.dumps({"summary": summary, "runs": runs.get("by_status"), "wall_s": report["wall_s"]}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
