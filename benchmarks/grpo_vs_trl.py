"""GRPO training step: repro's (repro.methods.grpo + repro.methods.sampling) against TRL's GRPOTrainer, in one process,
on the same tiny model (gdro_rlvr's Qwen3 stand-in for 4B, saved locally so TRL can load it and its β > 0 reference),
the same batch (prompts × generations), generation length and hyperparameters. Also rollout tokens per second.

Equal work per step, for both, and shown equal in the report: generate G completions for each of P prompts
(temperature 1) of exactly ``max_completion_length`` tokens (end-of-sequence is never sampled: ours gets no EOS id,
TRL's generation ``min_new_tokens`` = the maximum), so both generate P·G·T tokens a step; score them with the same
reward on token ids (the parity of a completion's token sum, ±1: spread inside every group, so the loss is never
zero, unlike exact match on an untrained model); group-normalised advantages; reference-model log-probabilities
(β_KL > 0); one forward/backward of the clipped-surrogate loss with the k3 KL term; gradient clipping at 1.0 and one
Adam step (TRL's default num_iterations = 1, steps_per_generation = 1). Each step logs, for both, the tokens
generated, the mean completion length, the reward's sd and the share of groups without spread.

    python benchmarks/grpo_vs_trl.py [--steps 10] [--prompts 32] [--generations 4] [--threads 1] [--repeats 3]

Timing is per training step (median over ``--steps`` after ``--warmup`` steps), split into phases: ours into
sampling, reward and advantages, reference log-probs, loss forward, backward, clipping and optimiser; TRL's (timed
around its own methods) into generation, the rest of ``_generate_and_score_completions`` (rewards, reference
log-probs), ``compute_loss``, the rest of ``training_step`` (backward) and the rest of the step (clipping,
optimiser, logging). The ratio is TRL's median over ours; ``--repeats`` repeats the whole comparison, alternating
ours / TRL / ours each time, and reports each repeat's ratio and their spread. The rollout throughput of our sampler
is reported beside its floor, bare greedy decoding through the same lean forward (repro.methods.lean_decoder) at the
same batch and length, and beside transformers' own forward doing the same decode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # decode_floor.py


def task_and_model(prompts: int, seed: int, model_dir: Path):
    """The chain-sums pool and the tiny Qwen3 (saved to ``model_dir`` with a word-level tokenizer)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from repro.families.gdro_rlvr.data import chain_sum_data
    from repro.families.gdro_rlvr.experiment import Params
    from repro.families.gdro_rlvr.policy import build_policy
    from repro.tasks import chain_sums as cs

    torch.manual_seed(seed)
    params = Params(method="grpo", model="qwen3-4b")
    policy, _ = build_policy(params)
    data = chain_sum_data(params, np.random.default_rng(seed))
    vocab = {cs.TOKEN_TEXT[i] or "<pad>": i for i in range(cs.VOCAB_SIZE)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="$", pad_token="<pad>")
    policy.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return params, data, tokenizer


NO_EOS = -1
"""An end-of-sequence id no token has: every completion runs to the maximum length (equal work)."""


def parity_rewards(completion_ids) -> list[float]:
    """The reward both trainers get: +1 when a completion's token ids sum to an even number, else −1."""
    return [1.0 if sum(int(t) for t in ids) % 2 == 0 else -1.0 for ids in completion_ids]


def sample_task(policy, ids, mask, data, generator, eos_id=NO_EOS):
    """repro.methods.sampling.sample at the task's length limit (temperature 1, no filter)."""
    from repro.methods.sampling import sample

    return sample(
        policy,
        ids,
        mask,
        max_new_tokens=data.max_new_tokens,
        eos_id=eos_id,
        pad_id=data.pad_id,
        generator=generator,
    )


class Clock:
    """Phase timer: ``with clock("name"):`` adds the block's seconds to the current step's phase."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}

    def __call__(self, name: str):
        clock = self

        class _Block:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                clock.phases[name] = clock.phases.get(name, 0.0) + time.perf_counter() - self.start

        return _Block()

    def take(self) -> dict[str, float]:
        phases, self.phases = self.phases, {}
        return phases


def ours(model_dir: Path, data, params, args) -> list[dict]:
    """One record per GRPO step with repro's pieces: seconds, phases and the work done."""
    import torch
    from transformers import AutoModelForCausalLM

    from repro.methods.grpo import group_advantages, grpo_loss
    from repro.methods.sampling import token_logprobs

    policy = AutoModelForCausalLM.from_pretrained(model_dir)
    reference = AutoModelForCausalLM.from_pretrained(model_dir).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    clock = Clock()
    steps = []
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        chosen = np.repeat(rng.choice(len(data.pool), size=args.prompts, replace=False), args.generations)
        ids, mask = data.pool.ids[chosen], data.pool.mask[chosen]
        with clock("sampling"):
            policy.eval()
            rollouts = sample_task(policy, ids, mask, data, generator)
        with clock("rewards_and_advantages"):
            rewards = torch.tensor(parity_rewards(rollouts.completion_ids.tolist())).view(
                args.prompts, args.generations
            )
            adv = group_advantages(rewards, std="sample", eps=1e-4).reshape(-1).float()
        with clock("reference_logprobs"), torch.no_grad():
            ref = token_logprobs(reference, ids, mask, rollouts.completion_ids, rollouts.completion_mask)
        with clock("loss_forward"):
            policy.train()
            logp = token_logprobs(policy, ids, mask, rollouts.completion_ids, rollouts.completion_mask)
            loss, _ = grpo_loss(
                logp,
                old_logp=rollouts.logprobs,
                ref_logp=ref,
                advantages=adv,
                mask=rollouts.completion_mask,
                eps_low=0.2,
                eps_high=0.28,
                beta_kl=args.beta,
            )
        with clock("backward"):
            optimizer.zero_grad()
            loss.backward()
        with clock("clip_and_optimiser"):
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            optimizer.step()
        lengths = rollouts.completion_mask.sum(dim=1).float()
        steps.append(
            {
                "seconds": time.perf_counter() - start,
                "phases": clock.take(),
                "generated_tokens": int(lengths.sum()),
                "mean_length": float(lengths.mean()),
                "reward_std": float(rewards.std()),
                "frac_reward_zero_std": float((rewards.std(dim=1) == 0).float().mean()),
            }
        )
    return steps[args.warmup :]


def trl(model_dir: Path, data, tokenizer, args) -> list[dict]:
    """One record per GRPOTrainer step: seconds (callback timestamps around each optimizer step, generation
    included), phases timed around its own methods, and the work its logs report."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from repro.tasks import chain_sums as cs

    prompts = [" ".join(t for t in text) for text in cs.to_text(data.pool.ids.numpy())]
    clock = Clock()

    def parity(completions, completion_ids, **kwargs):
        return parity_rewards(completion_ids)

    class TimedGRPO(GRPOTrainer):
        def _generate(self, *a, **kw):
            with clock("generation"):
                return super()._generate(*a, **kw)

        def _generate_and_score_completions(self, *a, **kw):
            with clock("generate_and_score"):
                return super()._generate_and_score_completions(*a, **kw)

        def compute_loss(self, *a, **kw):
            with clock("loss_forward"):
                return super().compute_loss(*a, **kw)

        def training_step(self, *a, **kw):
            with clock("training_step"):
                return super().training_step(*a, **kw)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.steps, self._start = [], None

        def on_step_begin(self, *a, **kw):
            self._start = time.perf_counter()

        def on_step_end(self, *a, **kw):
            phases = clock.take()
            gen, gas = phases.pop("generation", 0.0), phases.pop("generate_and_score", 0.0)
            loss, step = phases.pop("loss_forward", 0.0), phases.pop("training_step", 0.0)
            seconds = time.perf_counter() - self._start
            self.steps.append(
                {
                    "seconds": seconds,
                    "phases": {
                        "generation": gen,
                        "rewards_and_reference_logprobs": gas - gen,
                        "loss_forward": loss,
                        "backward_and_rest_of_training_step": step - gas - loss,
                        "clip_optimiser_and_rest": seconds - step,
                    },
                }
            )

        def on_log(self, args_, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs and self.steps:
                self.steps[-1].update(
                    mean_length=logs["completions/mean_length"],
                    reward_std=logs.get("reward_std"),
                    frac_reward_zero_std=logs.get("frac_reward_zero_std"),
                    clipped_ratio=logs.get("completions/clipped_ratio"),
                )

    timer = StepTimer()
    config = GRPOConfig(
        output_dir=str(model_dir / "trl"),
        beta=args.beta,
        epsilon=0.2,
        epsilon_high=0.28,
        num_generations=args.generations,
        per_device_train_batch_size=args.prompts * args.generations,
        max_completion_length=data.max_new_tokens,
        generation_kwargs={"min_new_tokens": data.max_new_tokens},  # no end-of-sequence: equal lengths
        temperature=1.0,
        learning_rate=args.lr,
        max_steps=args.warmup + args.steps,
        loss_type="grpo",
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = TimedGRPO(
        model=str(model_dir),
        reward_funcs=[parity],
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    for step in timer.steps:
        if "mean_length" in step:
            step["generated_tokens"] = round(step["mean_length"] * args.prompts * args.generations)
    return timer.steps[args.warmup :]


def rollout_throughput(model_dir: Path, data, batches: list[int]) -> dict[str, dict[str, float]]:
    """Generated tokens per second of repro.methods.sampling.sample at the given batch sizes, beside two decodes of
    the same number of steps without sampling (greedy): the floor, bare forward passes of the lean Qwen3 forward
    that ``sample`` runs on (cache allocated once, no filtering, no draws), and transformers' own forward with its
    growing cache (what ``sample`` ran on before the lean forward)."""
    import torch
    from decode_floor import floor_decoders
    from transformers import AutoModelForCausalLM

    policy = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    generator = torch.Generator().manual_seed(1)
    floors = floor_decoders(policy, data.max_new_tokens)

    out = {}
    for batch in batches:
        idx = np.resize(np.arange(len(data.pool)), batch)
        ids, mask = data.pool.ids[idx], data.pool.mask[idx]
        tokens, seconds = 0, {"sampler": 0.0, "lean": 0.0, "transformers": 0.0}
        for repeat in range(4):  # the first round warms up and is not counted
            for name, run in (
                ("sampler", lambda i, m: sample_task(policy, i, m, data, generator)),
                ("lean", floors["lean"]),
                ("transformers", floors["transformers"]),
            ):
                start = time.perf_counter()
                with torch.no_grad():
                    result = run(ids, mask)
                if repeat:
                    seconds[name] += time.perf_counter() - start
                if name == "sampler" and repeat:
                    tokens += int(result.completion_mask.sum())
        out[f"batch_{batch}"] = {
            "sampler_tokens_per_s": round(tokens / seconds["sampler"], 1),
            "floor_lean_decode_tokens_per_s": round(tokens / seconds["lean"], 1),
            "transformers_decode_tokens_per_s": round(tokens / seconds["transformers"], 1),
            "sampler_over_floor": round(seconds["sampler"] / seconds["lean"], 2),
        }
    return out


def summarize(steps: list[dict]) -> dict:
    median = statistics.median
    return {
        "step_s_median": round(median(s["seconds"] for s in steps), 4),
        "phases_s_median": {k: round(median(s["phases"][k] for s in steps), 4) for k in steps[0]["phases"]},
        "generated_tokens_per_step": sorted({s.get("generated_tokens") for s in steps}, key=str),
        "mean_length": round(median(s.get("mean_length", float("nan")) for s in steps), 3),
        "reward_std_median": round(median(s.get("reward_std") or 0.0 for s in steps), 3),
        "frac_reward_zero_std_max": max(s.get("frac_reward_zero_std") or 0.0 for s in steps),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--beta", type=float, default=0.001)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "grpo_vs_trl.json"))
    args = parser.parse_args()

    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    repeats = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "tiny-qwen3"
        params, data, tokenizer = task_and_model(args.prompts, 0, model_dir)
        for _ in range(args.repeats):
            ours_a = ours(model_dir, data, params, args)
            theirs = trl(model_dir, data, tokenizer, args)
            ours_b = ours(model_dir, data, params, args)
            mine, trls = summarize(ours_a + ours_b), summarize(theirs)
            repeats.append(
                {
                    "ratio_trl_over_ours": round(trls["step_s_median"] / mine["step_s_median"], 3),
                    "ours": mine,
                    "trl": trls,
                    "load_average": os.getloadavg(),
                }
            )
        throughput = rollout_throughput(model_dir, data, [args.prompts * args.generations, 1024])
    ratios = [r["ratio_trl_over_ours"] for r in repeats]
    work = {tuple(tuple(r[side]["generated_tokens_per_step"]) for side in ("ours", "trl")) for r in repeats}
    report = {
        "model": "gdro_rlvr tiny Qwen3 (qwen3-4b stand-in: hidden 48, 2 layers)",
        "batch": f"{args.prompts} prompts × {args.generations} generations",
        "max_completion_length": data.max_new_tokens,
        "threads": args.threads,
        "equal_work": all(a == b and len(a) == 1 for a, b in work),
        "generated_tokens_per_step": sorted(work),
        "ratio_trl_over_ours": statistics.median(ratios),
        "ratios_per_repeat": ratios,
        "ratio_spread": round((max(ratios) - min(ratios)) / statistics.median(ratios), 3),
        "repeats": repeats,
        "rollout_tokens_per_s": throughput,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    summary = {k: v for k, v in report.items() if k != "repeats"}
    summary["phases"] = {side: repeats[-1][side]["phases_s_median"] for side in ("ours", "trl")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
